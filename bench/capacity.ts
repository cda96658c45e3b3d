/**
 * `npm run soak -- --find-capacity`: the highest message rate the local stack
 * holds, found by stepping the rate up. A step holds when every delivery
 * arrived (0 lost) and latency p99 stayed under a second (a stack that falls
 * behind over a step of several seconds fails that too). The rate grows by `factor` until a step fails,
 * then the gap between the last step held and the first failed is halved a
 * few times. The steps run on one stack and one set of clients, each on its
 * own range of `seq`s, so one step's backlog cannot pass for another's loss.
 */
import { round } from './stats.js';

export interface StepResult {
  /** Messages per second offered, all devices together. */
  rate: number;
  clients: number;
  published: number;
  expected: number;
  lost: number;
  duplicates: number;
  p50Ms: number;
  p99Ms: number;
  /** Deliveries per second the schedule offered: rate x clients. */
  offeredPerS: number;
  /** From the last publish to the last delivery counted (100 ms resolution). */
  drainMs: number;
}

export interface CapacitySearch {
  start: number;
  factor: number;
  /** Halvings of the gap between the last rate held and the first failed. */
  refine: number;
  maxSteps: number;
  /** The most the search tries. */
  maxRate: number;
  p99LimitMs: number;
}

export const DEFAULT_SEARCH: CapacitySearch = { start: 1, factor: 1.5, refine: 2, maxSteps: 14, maxRate: 1000, p99LimitMs: 1000 };

/** Why a step did not hold; undefined when it held. */
export const stepVerdict = (step: StepResult, p99LimitMs = DEFAULT_SEARCH.p99LimitMs): string | undefined => {
  if (step.lost > 0) return `${step.lost} lost`;
  if (!(step.p99Ms < p99LimitMs)) return `p99 ${round(step.p99Ms, 0)} ms`;
  return undefined;
};

export const findCapacity = async (
  runStep: (rate: number) => Promise<StepResult>,
  search: CapacitySearch = DEFAULT_SEARCH,
): Promise<{ held?: StepResult; failed?: StepResult; steps: { step: StepResult; verdict?: string }[] }> => {
  const steps: { step: StepResult; verdict?: string }[] = [];
  let held: StepResult | undefined;
  let failed: StepResult | undefined;
  const run = async (rate: number) => {
    const step = await runStep(round(rate, 2));
    const verdict = stepVerdict(step, search.p99LimitMs);
    steps.push({ step, verdict });
    if (verdict === undefined) held = step;
    else failed = step;
    return verdict === undefined;
  };
  let rate = search.start;
  while (steps.length < search.maxSteps && rate <= search.maxRate) {
    if (!(await run(rate))) break;
    rate *= search.factor;
  }
  for (let i = 0; i < search.refine && held && failed && steps.length < search.maxSteps; i++) {
    const mid = (held.rate + failed.rate) / 2;
    if (round(mid, 2) === held.rate || round(mid, 2) === failed.rate) break;
    // A refinement that holds raises `held`; one that fails lowers `failed`.
    await run(mid);
  }
  return { held, failed, steps };
};

/** The line printed first: the answer, and whether the default soak is past it. */
export const capacityLine = (result: { held?: StepResult; failed?: StepResult }, clients: number, defaultRate: number): string => {
  const { held, failed } = result;
  if (!held) return `capacity: below ${failed?.rate ?? '?'} msg/s for ${clients} clients (the first step did not hold: ${failed ? stepVerdict(failed) : 'no step ran'})`;
  const deliveries = Math.round(held.rate * clients);
  const verdict = defaultRate > held.rate ? `the default --rate ${defaultRate} is past this machine` : `the default --rate ${defaultRate} is within it`;
  return (
    `capacity: ${held.rate} msg/s for ${clients} clients = ${deliveries.toLocaleString('en-US')} deliveries/s held with 0 lost, p99 ${round(held.p99Ms, 0)} ms` +
    `${failed ? ` (${failed.rate} msg/s did not: ${stepVerdict(failed)})` : ''}; ${verdict}`
  );
};
