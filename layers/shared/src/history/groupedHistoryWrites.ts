/**
 * A history writer whose calls that start in one turn of the event loop go to the table as one call: one
 * BatchWriteItem for their raw readings (up to 25 a request) instead of one each, and one minute update for
 * readings of the same device-minute. Each caller awaits the write that holds its readings, so nothing outlives
 * the invocation that asked for it (docs/decisions/019-local-fleet-capacity-coalesced.md).
 *
 * On AWS a container runs one invocation at a time, so every group holds one call and this changes nothing.
 * Locally one worker thread serves every invocation of a function, and invocations that arrive together
 * write together. A call of many readings is what the coalesced batch function already makes, so rollups of
 * late, duplicate and interleaved readings are kept exactly as there (historyWriter.ts).
 */
import type { TelemetryFrame } from '../protocol/frames.js';
import type { HistoryWriteOutcome, HistoryWriter } from './historyWriter.js';

/** The readings of one group, and the write they share once the turn is over. */
interface Group {
  readings: TelemetryFrame[];
  done: Promise<HistoryWriteOutcome>;
}

/** `record` as the writer's, grouped by turn; each caller gets its group's outcome (the readings and buckets of every call in it). */
export const groupHistoryWrites = (writer: Pick<HistoryWriter, 'record'>): Pick<HistoryWriter, 'record'> => {
  let unsent: Group | undefined;
  return {
    record(readings) {
      if (!unsent) {
        const group: Group = { readings: [], done: undefined as never };
        group.done = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
          // Calls from here on start the next group: this one is being written.
          unsent = undefined;
          return writer.record(group.readings);
        });
        unsent = group;
      }
      unsent.readings.push(...readings);
      return unsent.done;
    },
  };
};
