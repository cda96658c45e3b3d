/**
 * Stands in for @aws-sdk/credential-provider-node inside the layer bundle
 * (an esbuild alias in scripts/build.ts). Lambda always hands the execution
 * role's credentials to the function as environment variables, so the full
 * chain (SSO, INI files, process, web identity, IMDS…) is dead weight that
 * every cold start would parse: 4-15 ms measured (bench/README.md).
 * Local runs and tests use the source, with the SDK's full chain.
 */
import { fromEnv } from '@aws-sdk/credential-provider-env';

export const defaultProvider = (init?: Parameters<typeof fromEnv>[0]) => fromEnv(init);
