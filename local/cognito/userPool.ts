/**
 * A stand-in for an Amazon Cognito user pool with its hosted sign-in page and
 * the dashboard's public app client: a real, certified OpenID Connect server
 * (oidc-provider), configured to issue what AuthMode=cognito's pool issues.
 *
 *   access token  JWT, RS256: iss, sub, client_id, token_use "access", scope, username, cognito:groups, exp
 *   ID token      JWT, RS256: iss, sub, aud (the client), token_use "id", cognito:username, cognito:groups, email, name
 *   refresh token opaque, rotated on use (Cognito can rotate too; the page keeps whichever it gets)
 *
 * The page signs in with authorization code + PKCE, exactly as against the
 * hosted UI, and the authorizer checks the access token against this JWKS with
 * the same code as on AWS. Mounted on the dashboard's HTTP server under /oidc.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';
import type { KoaContextWithOIDC, Provider as ProviderType } from 'oidc-provider';

export interface LocalUser {
  username: string;
  password: string;
  /** The pool's groups: devices:<id>, devices:*, publish. */
  groups: string[];
  name?: string;
  email?: string;
}

/** The development user `npm start` prints: every device, and the message route. */
export const DEV_USER: LocalUser = { username: 'dev', password: 'dev', groups: ['devices:*', 'publish', 'alarms'], name: 'Local developer', email: 'dev@localhost' };

export const LOCAL_CLIENT_ID = 'local-dashboard';
export const MOUNT_PATH = '/oidc';
const SCOPES = 'openid email profile';
// The access token's audience: oidc-provider issues JWT access tokens only for a resource server.
const RESOURCE = 'urn:serverless-iot-dashboard:websocket';

export interface LocalUserPoolOptions {
  /** The issuer people's browsers see, e.g. http://localhost:3000/oidc. */
  issuer: string;
  /** Where the page may ask to return after sign-in and sign-out (http://localhost:<PORT>/ and http://127.0.0.1:<PORT>/). */
  redirectUris: string[];
  users?: LocalUser[];
  /** Access and ID token lifetime (Cognito's default is 60 min). */
  accessTokenTtlSeconds?: number;
  refreshTokenTtlSeconds?: number;
  log?: (level: 'debug' | 'info' | 'warn', text: string) => void;
}

export interface LocalUserPool {
  issuer: string;
  clientId: string;
  /** Where the page sends people and where it fetches tokens: what config.json hands the dashboard. */
  endpoints: { authorization: string; token: string; revocation: string; endSession: string; jwks: string };
  users: readonly LocalUser[];
  accessTokenTtlSeconds: number;
  /** Answers a request whose path starts with /oidc; false for any other path. */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
}

const html = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const page = (title: string, body: string) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${html(title)}</title><link rel="icon" href="data:,">
<style>body{font-family:system-ui,sans-serif;max-width:22rem;margin:4rem auto;padding:0 1rem;line-height:1.5}
label{display:block;margin:.75rem 0 .25rem}input{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem}
button{margin-top:1rem;width:100%;padding:.6rem;font-size:1rem}.error{color:#c92a2a}.note{color:#666;font-size:.85rem}</style>
</head><body>${body}</body></html>`;

const loginPage = (uid: string, error?: string, username = '') =>
  page(
    'Sign in',
    `<h1>Sign in</h1>
<p class="note">Local stand-in for the Cognito hosted sign-in page (npm start prints the development user).</p>
${error ? `<p class="error" data-testid="login-error">${html(error)}</p>` : ''}
<form method="post" action="${MOUNT_PATH}/interaction/${html(uid)}/login" autocomplete="off">
<label for="username">Username</label><input id="username" name="username" value="${html(username)}" required autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" required>
<button type="submit">Sign in</button>
</form>`,
  );

const readForm = (req: IncomingMessage): Promise<URLSearchParams> =>
  new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
      // A login form is a few hundred bytes.
      if (body.length > 16_384) req.destroy(new Error('form too large'));
    });
    req.on('end', () => resolve(new URLSearchParams(body)));
    req.on('error', reject);
  });

/**
 * oidc-provider 9 asks for Node 22 and prints a development notice for its
 * in-memory store; on Node 20 (this project's minimum) it works. Its notices
 * go to the stack log at debug level rather than over the `ready` screen.
 */
const withNoticesTo = async <T>(log: LocalUserPoolOptions['log'], fn: () => Promise<T> | T): Promise<T> => {
  const { warn, info } = console;
  const divert = (original: typeof console.warn) => (...args: unknown[]) => {
    const text = args.map(String).join(' ');
    if (text.startsWith('oidc-provider ')) log?.('debug', text);
    else original(...args);
  };
  console.warn = divert(warn);
  console.info = divert(info);
  try {
    return await fn();
  } finally {
    console.warn = warn;
    console.info = info;
  }
};

export const createLocalUserPool = async ({
  issuer,
  redirectUris,
  users = [DEV_USER],
  accessTokenTtlSeconds = 3600,
  refreshTokenTtlSeconds = 24 * 3600,
  log,
}: LocalUserPoolOptions): Promise<LocalUserPool> => {
  const { default: Provider } = await withNoticesTo(log, () => import('oidc-provider'));
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const signingKey = { ...(await exportJWK(privateKey)), kid: `local-${randomBytes(4).toString('hex')}`, alg: 'RS256', use: 'sig' };
  const byName = new Map(users.map((u) => [u.username, u]));
  const subjectOf = (user: LocalUser) => `local-${user.username}`;
  const bySubject = new Map(users.map((u) => [subjectOf(u), u]));
  const redirects = [...new Set(redirectUris)];
  const allowedOrigins = new Set(redirects.map((uri) => new URL(uri).origin));

  const provider: ProviderType = await withNoticesTo(
    log,
    () =>
      new Provider(issuer, {
        clients: [
          {
            client_id: LOCAL_CLIENT_ID,
            client_name: 'serverless-iot-dashboard (local)',
            // Public, like the pool's app client: no secret, code + PKCE (required for public clients).
            token_endpoint_auth_method: 'none',
            grant_types: ['authorization_code', 'refresh_token'],
            response_types: ['code'],
            redirect_uris: redirects,
            post_logout_redirect_uris: redirects,
          },
        ],
        jwks: { keys: [signingKey] },
        cookies: { keys: [randomBytes(32).toString('base64url')] },
        scopes: ['openid', 'email', 'profile', 'offline_access'],
        claims: { openid: ['sub', 'token_use', 'cognito:username', 'cognito:groups'], email: ['email', 'email_verified'], profile: ['name'] },
        // Cognito puts the scopes' claims in the ID token itself.
        conformIdTokenClaims: false,
        findAccount: async (_ctx: unknown, sub: string) => {
          const user = bySubject.get(sub);
          if (!user) return undefined;
          return {
            accountId: sub,
            claims: async () => ({
              sub,
              token_use: 'id',
              'cognito:username': user.username,
              'cognito:groups': user.groups,
              email: user.email ?? `${user.username}@localhost`,
              email_verified: true,
              name: user.name ?? user.username,
            }),
          };
        },
        // A first-party client: no consent screen, as with the hosted UI.
        loadExistingGrant: async (ctx: KoaContextWithOIDC) => {
          const { oidc } = ctx;
          const existing = oidc.result?.consent?.grantId ?? oidc.session.grantIdFor(oidc.client.clientId);
          if (existing) {
            const found = await oidc.provider.Grant.find(existing);
            if (found) return found;
          }
          const grant = new oidc.provider.Grant({ clientId: oidc.client.clientId, accountId: oidc.session.accountId });
          grant.addOIDCScope(SCOPES);
          grant.addResourceScope(RESOURCE, SCOPES);
          await grant.save();
          return grant;
        },
        extraTokenClaims: async (_ctx: unknown, token: { accountId?: string; kind?: string }) => {
          const user = token.accountId ? bySubject.get(token.accountId) : undefined;
          return user ? { token_use: 'access', username: user.username, 'cognito:groups': user.groups } : undefined;
        },
        // Refresh tokens whenever the client may use them (Cognito: always), not only for offline_access.
        issueRefreshToken: async (_ctx: unknown, client: { grantTypeAllowed(type: string): boolean }) => client.grantTypeAllowed('refresh_token'),
        pkce: { required: () => true },
        ttl: {
          AccessToken: accessTokenTtlSeconds,
          IdToken: accessTokenTtlSeconds,
          RefreshToken: refreshTokenTtlSeconds,
          AuthorizationCode: 300,
          Interaction: 3600,
          Session: refreshTokenTtlSeconds,
          Grant: refreshTokenTtlSeconds,
        },
        clientBasedCORS: (_ctx: unknown, origin: string) => allowedOrigins.has(origin),
        interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `${MOUNT_PATH}/interaction/${interaction.uid}` },
        features: {
          devInteractions: { enabled: false },
          // A client revokes only its own tokens.
          revocation: { enabled: true, allowedPolicy: async (_ctx: unknown, client: { clientId: string }, token: { clientId?: string }) => token.clientId === client.clientId },
          resourceIndicators: {
            enabled: true,
            defaultResource: async () => RESOURCE,
            useGrantedResource: async () => true,
            getResourceServerInfo: async (_ctx: unknown, indicator: string) => {
              if (indicator !== RESOURCE) throw new Error(`unknown resource ${indicator}`);
              return { scope: SCOPES, accessTokenFormat: 'jwt', accessTokenTTL: accessTokenTtlSeconds, jwt: { sign: { alg: 'RS256' } } };
            },
          },
          rpInitiatedLogout: {
            enabled: true,
            // Cognito's /logout asks nothing: sign out at once, then back to the page.
            logoutSource: async (ctx: KoaContextWithOIDC, form: string) => {
              ctx.body = page(
                'Signing out',
                `${form.replace('</form>', '<input type="hidden" name="logout" value="yes"></form>')}<p>Signing out…</p><noscript><button form="op.logoutForm">Sign out</button></noscript>
<script>document.getElementById('op.logoutForm').submit()</script>`,
              );
            },
            postLogoutSuccessSource: async (ctx: KoaContextWithOIDC) => {
              ctx.body = page('Signed out', '<h1>Signed out</h1>');
            },
          },
        },
        renderError: async (ctx: KoaContextWithOIDC, out: Record<string, string>) => {
          ctx.type = 'html';
          ctx.body = page('Sign-in error', `<h1>Sign-in error</h1><p class="error">${html(out.error ?? 'error')}: ${html(out.error_description ?? '')}</p>`);
        },
      }),
  );
  provider.on('server_error', (_ctx: unknown, error: Error) => log?.('warn', `oidc: ${error.message}`));
  provider.on('grant.error', (_ctx: unknown, error: Error) => log?.('debug', `oidc: token request refused: ${error.message}`));

  const callback = provider.callback();

  const interaction = async (req: IncomingMessage, res: ServerResponse, rest: string): Promise<void> => {
    const send = (status: number, body: string) => {
      res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end(body);
    };
    const details = await provider.interactionDetails(req, res).catch(() => undefined);
    if (!details) return send(400, page('Sign in', '<p class="error">This sign-in has expired: go back to the dashboard and click Sign in again.</p>'));
    if (req.method === 'POST' && rest.endsWith('/login')) {
      const form = await readForm(req);
      const username = form.get('username') ?? '';
      const user = byName.get(username);
      if (!user || user.password !== (form.get('password') ?? '')) {
        log?.('info', `oidc: sign-in refused for "${username.slice(0, 64)}"`);
        return send(200, loginPage(details.uid, 'Incorrect username or password.', username));
      }
      log?.('info', `oidc: ${user.username} signed in`);
      await provider.interactionFinished(req, res, { login: { accountId: subjectOf(user) } }, { mergeWithLastSubmission: false });
      return;
    }
    if (details.prompt.name === 'login') return send(200, loginPage(details.uid));
    // loadExistingGrant grants the first-party client: any other prompt has nothing to ask.
    await provider.interactionFinished(req, res, {}, { mergeWithLastSubmission: true });
  };

  const base = new URL(issuer);
  const url = (path: string) => `${base.origin}${base.pathname.replace(/\/$/, '')}${path}`;
  return {
    issuer,
    clientId: LOCAL_CLIENT_ID,
    users,
    accessTokenTtlSeconds,
    endpoints: { authorization: url('/auth'), token: url('/token'), revocation: url('/token/revocation'), endSession: url('/session/end'), jwks: url('/jwks') },
    handle(req, res) {
      const path = (req.url ?? '/').split('?')[0] as string;
      if (path !== MOUNT_PATH && !path.startsWith(`${MOUNT_PATH}/`)) return false;
      const rest = (req.url ?? '').slice(MOUNT_PATH.length) || '/';
      if (rest.startsWith('/interaction/')) {
        interaction(req, res, rest.split('?')[0] as string).catch((error: Error) => {
          log?.('warn', `oidc: interaction failed: ${error.message}`);
          if (!res.headersSent) {
            res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
            res.end('sign-in failed\n');
          } else res.destroy();
        });
        return true;
      }
      // Mounted: oidc-provider reads the mount path from originalUrl.
      (req as IncomingMessage & { originalUrl?: string }).originalUrl = req.url;
      req.url = rest;
      callback(req, res);
      return true;
    },
  };
};
