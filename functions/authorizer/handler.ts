/** The $connect REQUEST authorizer: a JWT from ?token=, HS256 (Secrets Manager), OIDC (JWKS) or a Cognito access token. */
import {
  type AuthorizerEvent,
  type AuthorizerResult,
  DEFAULT_AUDIENCE,
  DEFAULT_ISSUER,
  createAuthorizer,
  createCognitoVerifier,
  createTokenVerifier,
  eventHandler,
  fetchSecretString,
  listEnv,
  logger,
  optionalEnv,
  requireEnv,
} from '@serverless-iot-dashboard/shared/authorizer';

const mode = optionalEnv('AUTH_MODE', 'secret');
const config = {
  issuer: optionalEnv('TOKEN_ISSUER', DEFAULT_ISSUER),
  audience: optionalEnv('TOKEN_AUDIENCE', DEFAULT_AUDIENCE),
  allowedOrigins: listEnv('ALLOWED_ORIGINS'),
  jwksUrl: mode === 'oidc' || mode === 'cognito' ? requireEnv('JWKS_URL') : undefined,
  // AUTH_SECRET is the local stack's development secret; on AWS the secret stays in Secrets Manager.
  secretSource: mode === 'oidc' || mode === 'cognito' ? undefined : process.env.AUTH_SECRET ? 'env' : requireEnv('AUTH_SECRET_ARN'),
};

// cognito: TOKEN_AUDIENCE carries the app client's id (an access token's client_id).
const verify =
  mode === 'cognito'
    ? createCognitoVerifier({ issuer: config.issuer, jwksUrl: config.jwksUrl as string, clientId: config.audience, log: logger })
    : createTokenVerifier({
        issuer: config.issuer,
        audience: config.audience,
        jwksUrl: config.jwksUrl,
        secret:
          config.secretSource === undefined
            ? undefined
            : config.secretSource === 'env'
              ? async () => process.env.AUTH_SECRET as string
              : () => fetchSecretString(config.secretSource as string),
      });

export const handler = eventHandler<AuthorizerEvent, AuthorizerResult>(
  createAuthorizer({ verify, allowedOrigins: config.allowedOrigins, log: logger }),
);
