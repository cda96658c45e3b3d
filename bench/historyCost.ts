/**
 * What storing history costs per reading (docs/decisions/008-rollups.md): the reading, its rollup buckets and
 * the reads that recompute them, direct and coalesced, from `npm run bench`'s historyReads section when it has run
 * (bench/results/latest.json), else from the figures it measured last (ADR 008).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PRICES } from './costModel.js';

export interface HistoryWriteCost {
  mode: string;
  writeUnitsPerReading: number;
  rollupWriteUnitsPerReading: number;
  readUnitsPerReading: number;
  /** The latest-reading conditional PutItem (ADR 002), one write unit per reading in direct mode, one per device per batch coalesced. */
  latestWriteUnitsPerReading: number;
  dollarsPerMillionReadings: number;
  measured: boolean;
}

const DEFAULTS = [
  { mode: 'direct (1 reading per invocation)', writeUnitsPerReading: 4, rollupWriteUnitsPerReading: 3, readUnitsPerReading: 3.9, latestWriteUnitsPerReading: 1 },
  { mode: 'coalesced (10 readings per batch)', writeUnitsPerReading: 1.3, rollupWriteUnitsPerReading: 0.3, readUnitsPerReading: 0.4, latestWriteUnitsPerReading: 0.1 },
];

export const historyWriteCosts = (file = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, 'results', 'latest.json')): HistoryWriteCost[] => {
  let rows: Omit<HistoryWriteCost, 'dollarsPerMillionReadings' | 'measured' | 'latestWriteUnitsPerReading'>[] | undefined;
  if (existsSync(file)) {
    const results = JSON.parse(readFileSync(file, 'utf8')) as { historyWrites?: unknown };
    if (Array.isArray(results.historyWrites) && results.historyWrites.length > 0) rows = results.historyWrites as typeof rows;
  }
  return (rows ?? DEFAULTS).map((row, i) => {
    const latest = DEFAULTS[i]?.latestWriteUnitsPerReading ?? 1;
    const dollars = ((row.writeUnitsPerReading + latest) * PRICES.dynamoPerMillionWriteUnits + row.readUnitsPerReading * PRICES.dynamoPerMillionReadUnits);
    return { ...row, latestWriteUnitsPerReading: latest, dollarsPerMillionReadings: Math.round(dollars * 100) / 100, measured: rows !== undefined };
  });
};
