/**
 * A function's environment in the local stack: the Lambda runtime's own
 * variables, the template's (Globals merged with the function's, intrinsics
 * resolved, the API's AWS endpoint pointed at the local gateway), and the
 * local services. The developer's shell contributes only what node needs: no
 * AWS profile or credentials reach a local handler.
 */
import { type FunctionSpec, type StackModel, localizeApiEndpoints } from './stackModel.js';

export interface LocalEndpoints {
  dynamodb: string;
  /** `http://127.0.0.1:<wsPort>`: the gateway's base URL (no stage). */
  gatewayHttp: string;
  /** `ws://127.0.0.1:<wsPort>`. */
  gatewayWs: string;
  /** The local Lambda Invoke API, if one runs. */
  lambda?: string;
  /** The local SQS API (a function's own sends: history dead letters), if one runs. */
  sqs?: string;
}

export interface FunctionEnvOptions {
  spec: FunctionSpec;
  model: StackModel;
  endpoints: LocalEndpoints;
  /** Whether the stack checks tokens. Off: functions behind a CUSTOM-authorized route get REQUIRE_AUTH=false. */
  auth: boolean;
  /** The development secret, given to authorizer functions as AUTH_SECRET. */
  authSecret?: string;
  /** Over the template's, for authorizer functions only (LOCAL_AUTH=oidc: the local provider's issuer, JWKS and client). */
  authorizerEnv?: Record<string, string>;
  extra?: Record<string, string>;
}

const PASSED_THROUGH = ['PATH', 'HOME', 'TMPDIR', 'TMP', 'TEMP', 'LANG', 'LC_ALL', 'NO_COLOR', 'FORCE_COLOR'];

export const passThroughEnv = (env: NodeJS.ProcessEnv = process.env): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined && (PASSED_THROUGH.includes(key) || key.startsWith('TSX_'))) out[key] = value;
  }
  return out;
};

/** Functions that run as a route's authorizer. */
export const authorizerFunctionIds = (model: StackModel): Set<string> =>
  new Set([...(model.api?.routes.values() ?? [])].flatMap((r) => (r.authorizer ? [r.authorizer.functionId] : [])));

/** Functions behind a route that has an authorizer. */
export const protectedFunctionIds = (model: StackModel): Set<string> =>
  new Set([...(model.api?.routes.values() ?? [])].flatMap((r) => (r.authorizer && r.functionId ? [r.functionId] : [])));

export const functionEnvironment = ({ spec, model, endpoints, auth, authSecret, authorizerEnv, extra = {} }: FunctionEnvOptions): Record<string, string> => {
  const api = model.api;
  const templateEnv = Object.fromEntries(
    Object.entries(spec.environment).map(([key, value]) => [
      key,
      api ? localizeApiEndpoints(value, api.apiId, model.region, { http: endpoints.gatewayHttp, ws: endpoints.gatewayWs }) : value,
    ]),
  );
  return {
    ...passThroughEnv(),
    TZ: 'UTC',
    AWS_REGION: model.region,
    AWS_DEFAULT_REGION: model.region,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_SAM_LOCAL: 'true',
    AWS_LAMBDA_FUNCTION_NAME: spec.name,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(spec.memoryMb),
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${spec.name}`,
    AWS_LAMBDA_LOG_STREAM_NAME: `local/[$LATEST]${spec.logicalId}`,
    ...templateEnv,
    DYNAMODB_ENDPOINT: endpoints.dynamodb,
    ...(endpoints.lambda ? { LAMBDA_ENDPOINT: endpoints.lambda } : {}),
    ...(endpoints.sqs ? { SQS_ENDPOINT: endpoints.sqs } : {}),
    POWERTOOLS_TRACE_ENABLED: 'false',
    POWERTOOLS_METRICS_DISABLED: 'true',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    ...(authSecret && authorizerFunctionIds(model).has(spec.logicalId) ? { AUTH_SECRET: authSecret } : {}),
    ...(authorizerEnv && authorizerFunctionIds(model).has(spec.logicalId) ? authorizerEnv : {}),
    ...(!auth && protectedFunctionIds(model).has(spec.logicalId) ? { REQUIRE_AUTH: 'false' } : {}),
    ...extra,
  };
};
