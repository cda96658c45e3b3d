/**
 * Signs in against the local stack's OpenID Connect provider without a
 * browser: authorization code + PKCE through oauth4webapi (the dashboard's
 * library), the login form posted as a browser would, cookies carried by hand.
 */
import * as oauth from 'oauth4webapi';

export interface SignInResult {
  accessToken: string;
  idToken: string;
  refreshToken?: string;
  expiresIn?: number;
  claims: Record<string, unknown>;
}

export interface ProviderInfo {
  issuer: string;
  clientId: string;
  endpoints: { authorization: string; token: string; revocation: string; endSession: string };
}

const authServer = (p: ProviderInfo): oauth.AuthorizationServer => ({
  issuer: p.issuer,
  authorization_endpoint: p.endpoints.authorization,
  token_endpoint: p.endpoints.token,
  revocation_endpoint: p.endpoints.revocation,
});

const insecure = { [oauth.allowInsecureRequests]: true };

class CookieJar {
  private readonly cookies = new Map<string, string>();
  take(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      this.cookies.set(pair!.slice(0, eq).trim(), pair!.slice(eq + 1));
    }
  }
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

/** Follows redirects by hand (keeping cookies) until one leaves the provider for `redirectUri`. */
const follow = async (jar: CookieJar, first: Response, redirectUri: string): Promise<{ landed?: URL; page?: { url: string; html: string } }> => {
  let response = first;
  let base = response.url;
  for (let hop = 0; hop < 10; hop++) {
    jar.take(response);
    const location = response.headers.get('location');
    if (!location) return { page: { url: base, html: await response.text() } };
    const next = new URL(location, base);
    if (`${next.origin}${next.pathname}` === redirectUri) return { landed: next };
    base = next.href;
    response = await fetch(next, { redirect: 'manual', headers: { cookie: jar.header() } });
  }
  throw new Error('too many redirects');
};

/** Opens the provider's authorization URL, fills its login form as a person would, and returns where it sends the browser back. */
export const submitLoginForm = async (authorizationUrl: string, { username, password, redirectUri }: { username: string; password: string; redirectUri: string }): Promise<URL> => {
  const jar = new CookieJar();
  const login = await follow(jar, await fetch(authorizationUrl, { redirect: 'manual' }), redirectUri);
  if (!login.page) throw new Error(`the provider did not show a login form (landed on ${login.landed})`);
  const action = /<form method="post" action="([^"]+)"/.exec(login.page.html)?.[1];
  if (!action) throw new Error(`no login form in ${login.page.html.slice(0, 300)}`);
  const posted = await fetch(new URL(action, login.page.url), {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ username, password }).toString(),
  });
  const done = await follow(jar, posted, redirectUri);
  if (!done.landed) throw new Error(/class="error"[^>]*>([^<]*)/.exec(done.page?.html ?? '')?.[1] ?? 'sign-in did not return to the page');
  return done.landed;
};

export const signIn = async (provider: ProviderInfo, { username, password, redirectUri }: { username: string; password: string; redirectUri: string }): Promise<SignInResult> => {
  const as = authServer(provider);
  const client: oauth.Client = { client_id: provider.clientId };
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const url = new URL(provider.endpoints.authorization);
  url.search = new URLSearchParams({
    client_id: provider.clientId,
    redirect_uri: redirectUri,
    response_type: 'code',
    scope: 'openid email profile',
    state,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  }).toString();

  const landed = await submitLoginForm(url.toString(), { username, password, redirectUri });

  const params = oauth.validateAuthResponse(as, client, landed, state);
  const response = await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, redirectUri, verifier, insecure);
  const tokens = await oauth.processAuthorizationCodeResponse(as, client, response);
  return {
    accessToken: tokens.access_token,
    idToken: tokens.id_token as string,
    refreshToken: tokens.refresh_token,
    expiresIn: tokens.expires_in,
    claims: oauth.getValidatedIdTokenClaims(tokens) as unknown as Record<string, unknown>,
  };
};

export const refresh = async (provider: ProviderInfo, refreshToken: string) => {
  const as = authServer(provider);
  const client: oauth.Client = { client_id: provider.clientId };
  const response = await oauth.refreshTokenGrantRequest(as, client, oauth.None(), refreshToken, insecure);
  return oauth.processRefreshTokenResponse(as, client, response);
};

/** The claims of a JWT, unverified (the server verifies). */
export const claimsOf = (jwt: string): Record<string, unknown> => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8'));
