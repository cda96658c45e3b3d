/** groupHistoryWrites: calls that start in one turn of the event loop share one write (docs/decisions/019-local-fleet-capacity-coalesced.md). */
import { expect } from 'chai';
import { type HistoryWriteOutcome, type TelemetryFrame, groupHistoryWrites } from '@serverless-iot-dashboard/shared';

const frame = (deviceId: string, seq: number): TelemetryFrame => ({ type: 'telemetry', id: `${deviceId}-${seq}`, deviceId, ts: 1_764_057_600_000 + seq, receivedAt: 1_764_057_600_050 + seq, data: { seq } });
const turn = () => new Promise((resolve) => setImmediate(resolve));

/** A writer that records each call and answers when told. */
const fakeWriter = () => {
  const calls: { readings: TelemetryFrame[]; settle: (error?: Error) => void }[] = [];
  return {
    calls,
    record: (readings: readonly TelemetryFrame[]) =>
      new Promise<HistoryWriteOutcome>((resolve, reject) => {
        calls.push({ readings: [...readings], settle: (error) => (error ? reject(error) : resolve({ readings: readings.length, buckets: readings.length * 3, superseded: 0 })) });
      }),
  };
};

describe('grouped history writes', () => {
  it('sends the readings of calls made in one turn as one call, and answers each caller with that call', async () => {
    const writer = fakeWriter();
    const grouped = groupHistoryWrites(writer);

    const outcomes = Promise.all([grouped.record([frame('dev-1', 1)]), grouped.record([frame('dev-2', 1)]), grouped.record([frame('dev-1', 2), frame('dev-3', 1)])]);
    await turn();
    expect(writer.calls).to.have.length(1);
    writer.calls[0]!.settle();

    expect(writer.calls[0]!.readings.map((r) => r.id)).to.deep.equal(['dev-1-1', 'dev-2-1', 'dev-1-2', 'dev-3-1']);
    expect(await outcomes).to.deep.equal(Array(3).fill({ readings: 4, buckets: 12, superseded: 0 }));
  });

  it('starts a new group for a call made once the previous group was sent, before that write is done', async () => {
    const writer = fakeWriter();
    const grouped = groupHistoryWrites(writer);

    const first = grouped.record([frame('dev-1', 1)]);
    await turn();
    const second = grouped.record([frame('dev-1', 2)]);
    await turn();

    expect(writer.calls.map((c) => c.readings.map((r) => r.id))).to.deep.equal([['dev-1-1'], ['dev-1-2']]);
    writer.calls[1]!.settle();
    writer.calls[0]!.settle();
    expect((await first).readings).to.equal(1);
    expect((await second).readings).to.equal(1);
  });

  it("fails every caller of a failed group (each dead-letters its own readings) and no caller of the next group", async () => {
    const writer = fakeWriter();
    const grouped = groupHistoryWrites(writer);

    const failing = [grouped.record([frame('dev-1', 1)]), grouped.record([frame('dev-2', 1)])].map((p) => p.then(() => 'written', (error: Error) => error.message));
    await turn();
    const next = grouped.record([frame('dev-1', 2)]);
    writer.calls[0]!.settle(new Error('ProvisionedThroughputExceededException'));
    await turn();
    writer.calls[1]!.settle();

    expect(await Promise.all(failing)).to.deep.equal(['ProvisionedThroughputExceededException', 'ProvisionedThroughputExceededException']);
    expect((await next).readings).to.equal(1);
  });
});
