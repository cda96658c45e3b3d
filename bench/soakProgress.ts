/** Reading `npm run soak`'s output when it ends before its result line (bench/fleet.ts, the capacity section). */

/**
 * The soak's last progress line, `[  30 s] published P  delivered D/E (…)  latency p50 X ms p99 Y ms …`, as its
 * result line's fields: rates over the line's elapsed seconds (warm-up included), the latency of its interval.
 */
export const fromProgress = (out: string): Record<string, number> => {
  const last = out.split('\n').filter((l) => / s\] published \d+/.test(l)).at(-1);
  const m = last?.match(/\[\s*(\d+) s\] published (\d+)\s+delivered (\d+)\/\d+.*?p50 ([\d.]+|-)(?: ms)? p99 ([\d.]+|-)/);
  if (!m) throw new Error('npm run soak printed neither a result line nor a progress line');
  const figure = (text: string) => (text === '-' ? Number.NaN : Number(text));
  const seconds = Math.max(1, Number(m[1]));
  return { offeredPerS: Math.round(Number(m[2]) / seconds), sustainedPerS: Math.round(Number(m[3]) / seconds), p50Ms: figure(m[4]!), p99Ms: figure(m[5]!), stackCpuUsPerDelivery: Number.NaN };
};
