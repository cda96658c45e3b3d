/**
 * Sign-in for people: authorization code with PKCE through oauth4webapi, the
 * same flow against a Cognito user pool's hosted page and the local stack's
 * OpenID Connect provider. DOM-free: the storage and the page URL are passed
 * in, so tests drive it against the real local provider.
 *
 * Where the tokens live: the access and ID tokens in memory only; the refresh
 * token in sessionStorage (this tab, until it closes), so a reload does not
 * sign out; the PKCE verifier and state in sessionStorage for the one round
 * trip to the provider. No token is ever put in a URL, except the access
 * token in the WebSocket URL, which is the API's only way to take one.
 */
import * as oauth from 'oauth4webapi';

export interface SignInConfig {
  issuer: string;
  clientId: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  revocationEndpoint?: string;
  logoutEndpoint?: string;
  /** How the provider ends its session: OpenID Connect RP-initiated logout, or Cognito's /logout. */
  logout?: 'oidc' | 'cognito';
  scope?: string;
}

export interface Session {
  accessToken: string;
  idToken?: string;
  refreshToken?: string;
  /** When the access token expires (ms since the epoch), and how long it was issued for. */
  expiresAt: number;
  lifetimeMs: number;
  /** The ID token's claims (validated by oauth4webapi: iss, aud, exp). */
  claims: Record<string, unknown>;
}

export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export class SignInError extends Error {
  override name = 'SignInError';
}

const PENDING_KEY = 'iot-dashboard.sign-in';
const REFRESH_KEY = 'iot-dashboard.refresh-token';
const CALLBACK_PARAMS = ['code', 'state', 'iss', 'session_state', 'error', 'error_description', 'error_uri'];

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const text = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined);

/** config.json's `auth`, read leniently: undefined unless every required field is a string. */
export const parseSignInConfig = (json: unknown): SignInConfig | undefined => {
  if (!isObject(json)) return undefined;
  const issuer = text(json.issuer);
  const clientId = text(json.clientId);
  const authorizationEndpoint = text(json.authorizationEndpoint);
  const tokenEndpoint = text(json.tokenEndpoint);
  if (!issuer || !clientId || !authorizationEndpoint || !tokenEndpoint) return undefined;
  const optional = (key: string) => (text(json[key]) ? { [key]: text(json[key]) } : {});
  return {
    issuer,
    clientId,
    authorizationEndpoint,
    tokenEndpoint,
    ...optional('revocationEndpoint'),
    ...optional('logoutEndpoint'),
    ...optional('scope'),
    ...(json.logout === 'cognito' || json.logout === 'oidc' ? { logout: json.logout } : {}),
  };
};

/** The page's own address, without query or fragment: the redirect and sign-out URI registered with the provider. */
export const redirectUriOf = (pageUrl: string): string => {
  const url = new URL(pageUrl);
  return `${url.origin}${url.pathname}`;
};

/** Whether the provider has just sent the browser back here with a code (or an error). */
export const isCallback = (pageUrl: string): boolean => {
  const params = new URL(pageUrl).searchParams;
  return params.has('state') && (params.has('code') || params.has('error'));
};

/** The page URL with the callback's parameters removed, for history.replaceState. */
export const withoutCallbackParams = (pageUrl: string): string => {
  const url = new URL(pageUrl);
  for (const name of CALLBACK_PARAMS) url.searchParams.delete(name);
  return url.toString();
};

/** The user's name to show: the ID token's name, e-mail or username. */
export const displayName = (claims: Record<string, unknown>): string =>
  text(claims.name) ?? text(claims.email) ?? text(claims['cognito:username']) ?? text(claims.sub) ?? 'signed in';

/**
 * When to renew: a minute before expiry, or at three quarters of a short
 * lifetime (a 20 s token renews at 15 s), never sooner than a second from now.
 */
export const renewalDelayMs = (session: Pick<Session, 'expiresAt' | 'lifetimeMs'>, now: number): number => {
  const margin = Math.min(60_000, session.lifetimeMs / 4);
  return Math.max(1000, session.expiresAt - margin - now);
};

/** Why a refresh failed, in words for the page. */
export const describeRefreshError = (error: unknown): string => {
  if (error instanceof oauth.ResponseBodyError) {
    return error.error === 'invalid_grant' ? 'your session has ended or was revoked' : `the sign-in service refused to renew it (${error.error})`;
  }
  if (error instanceof TypeError) return 'the sign-in service could not be reached';
  return `it could not be renewed (${(error as Error).message})`;
};

export class SignIn {
  private readonly as: oauth.AuthorizationServer;
  private readonly client: oauth.Client;
  private readonly requestOptions: { [oauth.allowInsecureRequests]?: boolean };

  constructor(
    readonly config: SignInConfig,
    private readonly storage: StorageLike,
    private readonly now: () => number = Date.now,
  ) {
    this.as = {
      issuer: config.issuer,
      authorization_endpoint: config.authorizationEndpoint,
      token_endpoint: config.tokenEndpoint,
      ...(config.revocationEndpoint ? { revocation_endpoint: config.revocationEndpoint } : {}),
    };
    this.client = { client_id: config.clientId };
    // The local stack's provider speaks plain http on loopback; anything deployed is https.
    this.requestOptions = new URL(config.tokenEndpoint).protocol === 'http:' ? { [oauth.allowInsecureRequests]: true } : {};
  }

  /** The provider's sign-in URL for this page; remembers the PKCE verifier and state for the way back. */
  async begin(pageUrl: string): Promise<string> {
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    this.storage.setItem(PENDING_KEY, JSON.stringify({ verifier, state, returnTo: withoutCallbackParams(pageUrl) }));
    const url = new URL(this.config.authorizationEndpoint);
    url.searchParams.set('client_id', this.config.clientId);
    url.searchParams.set('redirect_uri', redirectUriOf(pageUrl));
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('scope', this.config.scope ?? 'openid email profile');
    url.searchParams.set('state', state);
    url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(verifier));
    url.searchParams.set('code_challenge_method', 'S256');
    return url.toString();
  }

  /** Exchanges the callback's code for tokens. `returnTo` is the page as it was before sign-in (its query kept). */
  async complete(pageUrl: string): Promise<{ session: Session; returnTo: string }> {
    const raw = this.storage.getItem(PENDING_KEY);
    this.storage.removeItem(PENDING_KEY);
    const pending = raw ? (JSON.parse(raw) as { verifier: string; state: string; returnTo: string }) : undefined;
    if (!pending) throw new SignInError('this sign-in was started in another tab or has expired: sign in again');
    let params: URLSearchParams;
    try {
      params = oauth.validateAuthResponse(this.as, this.client, new URL(pageUrl), pending.state);
    } catch (error) {
      if (error instanceof oauth.AuthorizationResponseError) throw new SignInError(`sign-in failed: ${error.error_description ?? error.error}`);
      throw new SignInError(`sign-in failed: ${(error as Error).message}`);
    }
    const response = await oauth.authorizationCodeGrantRequest(this.as, this.client, oauth.None(), params, redirectUriOf(pageUrl), pending.verifier, this.requestOptions);
    const tokens = await oauth.processAuthorizationCodeResponse(this.as, this.client, response);
    return { session: this.keep(tokens), returnTo: pending.returnTo };
  }

  /** After a reload: a session from the refresh token this tab kept, if any. */
  async resume(): Promise<Session | undefined> {
    const refreshToken = this.storage.getItem(REFRESH_KEY);
    if (!refreshToken) return undefined;
    try {
      return await this.refresh({ refreshToken });
    } catch {
      this.storage.removeItem(REFRESH_KEY);
      return undefined;
    }
  }

  /** New tokens from the refresh token (a rotated one replaces it; Cognito keeps the old one unless rotation is on). */
  async refresh(session: Pick<Session, 'refreshToken' | 'claims'> | { refreshToken: string }): Promise<Session> {
    if (!session.refreshToken) throw new SignInError('no refresh token: sign in again');
    const response = await oauth.refreshTokenGrantRequest(this.as, this.client, oauth.None(), session.refreshToken, this.requestOptions);
    const tokens = await oauth.processRefreshTokenResponse(this.as, this.client, response);
    return this.keep(tokens, session.refreshToken, 'claims' in session ? session.claims : undefined);
  }

  /**
   * Ends the session: revokes the refresh token at the provider (so no tab can
   * renew from it), forgets it, and returns where to send the browser so the
   * provider ends its own sign-in session too, then comes back to this page.
   */
  async signOut(session: Session | undefined, pageUrl: string): Promise<string | undefined> {
    this.storage.removeItem(REFRESH_KEY);
    this.storage.removeItem(PENDING_KEY);
    if (session?.refreshToken && this.as.revocation_endpoint) {
      try {
        await oauth.processRevocationResponse(await oauth.revocationRequest(this.as, this.client, oauth.None(), session.refreshToken, this.requestOptions));
      } catch {
        // The provider's logout below ends the session too; a failed revoke must not keep anyone signed in here.
      }
    }
    if (!this.config.logoutEndpoint) return undefined;
    const back = redirectUriOf(pageUrl);
    const url = new URL(this.config.logoutEndpoint);
    url.searchParams.set('client_id', this.config.clientId);
    if (this.config.logout === 'cognito') {
      url.searchParams.set('logout_uri', back);
    } else {
      url.searchParams.set('post_logout_redirect_uri', back);
      if (session?.idToken) url.searchParams.set('id_token_hint', session.idToken);
    }
    return url.toString();
  }

  private keep(tokens: oauth.TokenEndpointResponse, previousRefreshToken?: string, previousClaims?: Record<string, unknown>): Session {
    const refreshToken = tokens.refresh_token ?? previousRefreshToken;
    if (refreshToken) this.storage.setItem(REFRESH_KEY, refreshToken);
    const claims = (oauth.getValidatedIdTokenClaims(tokens) as Record<string, unknown> | undefined) ?? previousClaims ?? {};
    // Cognito's default (60 min) when a provider does not say.
    const lifetimeMs = (tokens.expires_in ?? 3600) * 1000;
    return {
      accessToken: tokens.access_token,
      ...(tokens.id_token ? { idToken: tokens.id_token } : {}),
      ...(refreshToken ? { refreshToken } : {}),
      expiresAt: this.now() + lifetimeMs,
      lifetimeMs,
      claims,
    };
  }
}
