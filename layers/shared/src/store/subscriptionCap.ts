/**
 * The subscriptions cap as a condition on the update that adds them, so that
 * concurrent `subscribe` frames cannot each pass a read-then-check and together
 * exceed it (twelve frames of 50 once left 601 devices on one connection).
 *
 * DynamoDB cannot count a union in a condition, so the condition pins what the
 * check assumed: the set holds at most `max - fresh` devices, and still holds
 * each device that the frame names and the read found. Then the ADD grows the
 * set by at most `fresh`, and the result is at most `max`, whatever ran in
 * between. When the condition fails, the caller reads again and decides again.
 */
export interface CapCondition {
  expression: string;
  values: Record<string, unknown>;
}

/** The condition for adding `adding` to `held`, or undefined when the union is over `max` already. */
export const subscriptionCapCondition = (held: readonly string[], adding: readonly string[], max: number): CapCondition | undefined => {
  const heldSet = new Set(held);
  const fresh = adding.filter((d) => !heldSet.has(d));
  if (heldSet.size + fresh.length > max) return undefined;
  const values: Record<string, unknown> = { ':capRoom': max - fresh.length };
  const kept = adding.filter((d) => heldSet.has(d));
  kept.forEach((d, i) => (values[`:capKept${i}`] = d));
  const stillHeld = kept.map((_, i) => ` AND contains(devices, :capKept${i})`).join('');
  return { expression: `(attribute_not_exists(devices) OR size(devices) <= :capRoom)${stillHeld}`, values };
};
