/** $default: frames that route selection could not place get an error frame listing the valid actions. */
import { createDefaultRoute, wsRoute } from '@serverless-iot-dashboard/shared/routes';

export const handler = wsRoute(createDefaultRoute());
