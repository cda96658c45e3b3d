/**
 * Keeps one item of a multi-frame reply (a history point, a snapshot entry) small enough for a
 * frame of its own: 32 KB is API Gateway's WebSocket frame quota
 * (https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html#apigateway-execution-service-websocket-limits-table),
 * and a reading may be up to IoT Core's 128 KB. An item over `maxBytes` is reduced to its numeric and
 * boolean fields (`reduced: true`); if that is still too large, it keeps only its time and id and
 * says so (`oversize: true`). Either way the reply goes on: one reading never fails it.
 */
import { FRAME_BUDGET_BYTES } from '../protocol/replyFrames.js';
import { byteLength } from '../protocol/frames.js';

// Room for the reply frame's own fields (type, requestId, deviceId, done, ...) around one item.
export const ITEM_BUDGET_BYTES = FRAME_BUDGET_BYTES - 1024;

export const fitItem = <T extends { data: Record<string, unknown> }>(item: T, maxBytes = ITEM_BUDGET_BYTES): T & { reduced?: true; oversize?: true } => {
  if (byteLength(JSON.stringify(item)) <= maxBytes) return item;
  const data: Record<string, unknown> = Object.create(null);
  for (const [field, value] of Object.entries(item.data)) {
    if ((typeof value === 'number' && Number.isFinite(value)) || typeof value === 'boolean') data[field] = value;
  }
  const reduced = { ...item, data, reduced: true as const };
  if (byteLength(JSON.stringify(reduced)) <= maxBytes) return reduced;
  // Only the item's own small fields: time, id, device, and a snapshot entry's presence (a few small fields).
  const bare: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(item) as [string, unknown][]) {
    if (typeof value === 'number' || (typeof value === 'string' && value.length <= 256)) bare[key] = value;
  }
  const presence = (item as { presence?: unknown }).presence;
  if (presence !== undefined && byteLength(JSON.stringify(presence)) <= 1024) bare.presence = presence;
  return { ...(bare as T), data: {}, oversize: true as const };
};
