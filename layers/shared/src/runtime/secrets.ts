/** Reads a secret once per container; the authorizer caches the promise. */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

export const fetchSecretString = async (secretId: string, client = new SecretsManagerClient({})): Promise<string> => {
  const out = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
  if (!out.SecretString) throw new Error(`secret ${secretId} has no SecretString`);
  return out.SecretString;
};
