/**
 * A token's device list on its way through the authorizer's context.
 *
 * API Gateway caps a WebSocket Lambda authorizer's result at 8 KB
 * (https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-execution-service-websocket-limits-table.html),
 * and context values are strings. A scope of MAX_SCOPE_DEVICES short ids
 * ("dev-1" … "dev-1000") joined by commas is about 7.9 KB: too close. Long
 * lists travel deflated and base64url-encoded behind a "~", a character no
 * device id may contain (DEVICE_ID_PATTERN), so a plain list never reads as an
 * encoded one. A list that does not fit even so is refused at the authorizer,
 * with a reason, rather than failing every $connect with API Gateway's 500.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { ALL_DEVICES, type DeviceSelection } from '../protocol/frames.js';

/** Bytes the encoded device list may take: the 8 KB result less the policy, the principal id and the other claims. */
export const MAX_SCOPE_CONTEXT_BYTES = 6 * 1024;
/** Lists shorter than this travel as plain text: the common case costs nothing. */
const PLAIN_UP_TO_BYTES = 1024;
const DEFLATED = '~';

export const encodeScope = (devices: DeviceSelection): string => {
  if (devices === ALL_DEVICES) return ALL_DEVICES;
  const joined = devices.join(',');
  if (joined.length <= PLAIN_UP_TO_BYTES) return joined;
  return DEFLATED + deflateRawSync(joined, { level: 9 }).toString('base64url');
};

export const decodeScope = (value: string): DeviceSelection => {
  if (value === ALL_DEVICES) return ALL_DEVICES;
  const joined = value.startsWith(DEFLATED) ? inflateRawSync(Buffer.from(value.slice(1), 'base64url')).toString('utf8') : value;
  return joined.split(',').filter(Boolean);
};
