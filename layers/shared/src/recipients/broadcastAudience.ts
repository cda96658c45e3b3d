/**
 * Who hears a `message` broadcast: the other connections whose subscriptions
 * overlap the publisher's scope.
 *   - a publisher scoped to "*" reaches the connections subscribed to "*";
 *   - a publisher scoped to a list of devices reaches the connections that
 *     subscribe to at least one of them by name. A "*" subscription does not
 *     count here: otherwise a token scoped to one made-up device ("zzz")
 *     would reach every all-devices dashboard.
 * A list-scoped broadcast costs one Query per device in the scope; the
 * message rate limit (rateLimit.ts) bounds how often that is paid.
 */
import type { ConnectionStore, RecipientOptions } from '../store/connectionStore.js';
import { ALL_DEVICES, type DeviceSelection } from '../protocol/frames.js';

export async function* broadcastRecipientPages(
  store: Pick<ConnectionStore, 'recipientPages'>,
  scope: DeviceSelection,
  options: Omit<RecipientOptions, 'wildcard'> = {},
): AsyncGenerator<string[]> {
  if (scope === ALL_DEVICES) {
    yield* store.recipientPages(ALL_DEVICES, options);
    return;
  }
  const seen = new Set<string>();
  for (const deviceId of scope) {
    for await (const page of store.recipientPages(deviceId, { ...options, wildcard: false })) {
      const fresh = page.filter((id) => !seen.has(id));
      fresh.forEach((id) => seen.add(id));
      if (fresh.length > 0) yield fresh;
    }
  }
}
