/**
 * Replies that span several frames (history, snapshot): items are packed into
 * frames that each stay under API Gateway's 32 KB frame size, and the last
 * frame says `"done": true`. Streaming: items are added one by one and a frame
 * is sent as soon as the next item would not fit.
 */
import { MAX_FRAME_BYTES, byteLength } from './frames.js';

// 32 KB: API Gateway WebSocket frame size quota; a little room is left under it.
// https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html#apigateway-execution-service-websocket-limits-table
export const FRAME_BUDGET_BYTES = MAX_FRAME_BYTES - 512;

export interface ReplyFrameWriter {
  add(item: unknown): Promise<void>;
  /** Sends what is left as the last frame (`done: true`), even with no items; `trailer`'s fields (a few bytes) go on it. */
  end(trailer?: Record<string, unknown>): Promise<void>;
  readonly frames: number;
}

/**
 * `header` holds every field but `done` and the items; `itemsKey` names the items' array.
 * An item that alone exceeds the budget goes in a frame of its own (it is under the 128 KB message quota).
 */
export const createReplyFrameWriter = (
  header: Record<string, unknown>,
  itemsKey: string,
  send: (frame: string) => Promise<void>,
  budget = FRAME_BUDGET_BYTES,
): ReplyFrameWriter => {
  const head = JSON.stringify(header).slice(0, -1); // without its closing brace
  const open = (done: boolean, trailer = '') => `${head}${head.length > 1 ? ',' : ''}${trailer}"done":${done},${JSON.stringify(itemsKey)}:[`;
  const fixed = byteLength(open(false)) + 2; // "]}"; "true" is one byte shorter than "false"
  let items: string[] = [];
  let bytes = fixed;
  let frames = 0;
  const flush = async (done: boolean, trailer?: Record<string, unknown>) => {
    const extra = trailer && Object.keys(trailer).length > 0 ? `${JSON.stringify(trailer).slice(1, -1)},` : '';
    const text = `${open(done, extra)}${items.join(',')}]}`;
    items = [];
    bytes = fixed;
    frames++;
    await send(text);
  };
  return {
    async add(item) {
      const text = JSON.stringify(item);
      const size = byteLength(text) + (items.length > 0 ? 1 : 0);
      if (items.length > 0 && bytes + size > budget) await flush(false);
      items.push(text);
      bytes += byteLength(text) + (items.length > 1 ? 1 : 0);
    },
    end: (trailer) => flush(true, trailer),
    get frames() {
      return frames;
    },
  };
};
