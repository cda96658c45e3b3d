/** The $connect REQUEST authorizer: a JWT from ?token=, HS256 (Secrets Manager) or OIDC (JWKS). */
import {
  type AuthorizerEvent,
  type AuthorizerResult,
  DEFAULT_AUDIENCE,
  DEFAULT_ISSUER,
  createAuthorizer,
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
  jwksUrl: mode === 'oidc' ? requireEnv('JWKS_URL') : undefined,
  // AUTH_SECRET is the local stack's development secret; on AWS the secret stays in Secrets Manager.
  secretSource: mode === 'oidc' ? undefined : process.env.AUTH_SECRET ? 'env' : requireEnv('AUTH_SECRET_ARN'),
};

const verify = createTokenVerifier({
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
