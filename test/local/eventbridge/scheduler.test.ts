/** The local stand-in for EventBridge scheduled rules: the template's Schedule events, run on a timer. */
import { waitFor } from '../../helpers/waitFor.js';
import { expect } from 'chai';
import { startScheduler } from '../../../local/eventbridge/scheduler.js';
import { buildStackModel, ratePeriodMs } from '../../../local/template/stackModel.js';

describe('local EventBridge schedules', () => {
  it('reads rate() expressions, and nothing else, as periods', () => {
    expect(ratePeriodMs('rate(1 minute)')).to.equal(60_000);
    expect(ratePeriodMs('rate(5 minutes)')).to.equal(300_000);
    expect(ratePeriodMs('rate(2 hours)')).to.equal(7_200_000);
    expect(ratePeriodMs('rate(0 minutes)')).to.equal(undefined);
    expect(ratePeriodMs('cron(0 12 * * ? *)')).to.equal(undefined);
  });

  it("finds the expiry sweeper's one-minute schedule in template.yaml", () => {
    const model = buildStackModel();

    expect(model.schedules).to.deep.include({ functionId: 'ConnectionExpiryFunction', eventName: 'Sweep', expression: 'rate(1 minute)', periodMs: 60_000, enabled: true });
  });

  it('invokes the function every period with a Scheduled Event, and stops on close', async () => {
    // Arrange
    const events: Record<string, unknown>[] = [];
    const scheduler = startScheduler({
      schedules: [{ functionId: 'Sweeper', eventName: 'Tick', expression: 'rate(1 minute)', periodMs: 60_000, enabled: true }],
      region: 'us-east-1',
      accountId: '000000000000',
      periodMs: 50,
      invoke: async (_id, event) => void events.push(event as Record<string, unknown>),
      log: () => undefined,
    });

    // Act: two ticks, however long a loaded machine takes to fire them; then a quiet spell of a few periods after
    // close (an absence check: a slow machine can only make it pass, never fail).
    await waitFor(() => events.length >= 2, { timeoutMs: 10_000, message: 'two scheduled events' });
    await scheduler.close();
    const count = events.length;
    await new Promise((resolve) => setTimeout(resolve, 120));

    // Assert
    expect(count).to.be.at.least(2);
    expect(events.length).to.equal(count);
    expect(events[0]).to.include({ 'detail-type': 'Scheduled Event', source: 'aws.events', account: '000000000000', region: 'us-east-1' });
  });
});
