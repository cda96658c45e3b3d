/**
 * config.json's `auth` for a stack deployed with AuthMode=cognito, from its
 * outputs: the pool's issuer, the dashboard's app client and the hosted
 * domain's OAuth endpoints (https://docs.aws.amazon.com/cognito/latest/developerguide/federation-endpoints.html).
 * Undefined for the other auth modes: the page then takes ?token=.
 */
import type { Output } from '@aws-sdk/client-cloudformation';
import type { SignInConfig } from './src/signIn.js';

export const cognitoSignIn = (outputs: readonly Output[] | undefined): SignInConfig | undefined => {
  const byKey = new Map((outputs ?? []).map((o) => [o.OutputKey, o.OutputValue]));
  const issuer = byKey.get('CognitoIssuer');
  const clientId = byKey.get('UserPoolClientId');
  const domain = byKey.get('SignInUrl')?.replace(/\/$/, '');
  if (!issuer || !clientId || !domain) return undefined;
  return {
    issuer,
    clientId,
    authorizationEndpoint: `${domain}/oauth2/authorize`,
    tokenEndpoint: `${domain}/oauth2/token`,
    revocationEndpoint: `${domain}/oauth2/revoke`,
    logoutEndpoint: `${domain}/logout`,
    logout: 'cognito',
    scope: 'openid email profile',
  };
};
