/**
 * Realistic device telemetry: each reading is a smooth random walk that pulls
 * back towards its device's own mean (an Ornstein–Uhlenbeck process), so a
 * chart looks like a room, not like noise. Seedable, so tests are repeatable.
 */

/** mulberry32: a small, fast, seedable PRNG. */
export const seededRandom = (seed: number): (() => number) => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

const gaussian = (random: () => number): number => {
  const u = Math.max(random(), Number.EPSILON);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
};

const round = (value: number, digits: number) => Math.round(value * 10 ** digits) / 10 ** digits;
const clamp = (value: number, low: number, high: number) => Math.min(high, Math.max(low, value));

export interface TelemetryReading {
  ts: number;
  seq: number;
  temperature: number;
  humidity: number;
  battery: number;
  rssi: number;
}

interface Walk {
  value: number;
  mean: number;
  /** How fast it returns to the mean, per second. */
  theta: number;
  /** Noise, per √second. */
  sigma: number;
}

const step = (walk: Walk, dtSeconds: number, random: () => number) => {
  walk.value += walk.theta * (walk.mean - walk.value) * dtSeconds + walk.sigma * Math.sqrt(dtSeconds) * gaussian(random);
  return walk.value;
};

/** One device's reading generator. `next(now)` returns the reading for that instant. */
export const createDeviceModel = (seed: number) => {
  const random = seededRandom(seed);
  const temperatureMean = 18 + random() * 8;
  const humidityMean = 35 + random() * 20;
  const temperature: Walk = { value: temperatureMean + gaussian(random), mean: temperatureMean, theta: 0.02, sigma: 0.15 };
  const humidity: Walk = { value: humidityMean + 2 * gaussian(random), mean: humidityMean, theta: 0.02, sigma: 0.4 };
  const rssi: Walk = { value: -60 - random() * 20, mean: -65 - random() * 10, theta: 0.1, sigma: 1.5 };
  let battery = 70 + random() * 30;
  let seq = 0;
  let last: number | undefined;

  return {
    next(now: number): TelemetryReading {
      const dt = last === undefined ? 1 : clamp((now - last) / 1000, 0.001, 60);
      last = now;
      // A slow drain with a little measurement jitter, never below zero.
      battery = Math.max(0, battery - dt * (0.002 + random() * 0.002));
      return {
        ts: now,
        seq: ++seq,
        temperature: round(step(temperature, dt, random), 2),
        humidity: round(clamp(step(humidity, dt, random), 0, 100), 1),
        battery: round(clamp(battery + 0.05 * gaussian(random), 0, 100), 1),
        rssi: Math.round(clamp(step(rssi, dt, random), -120, -30)),
      };
    },
  };
};
