import { ConfigError } from './errors.js';

/** A duration: milliseconds as a number, or a string such as `'250ms'`, `'30s'`, `'10m'`, `'2h'`, `'1d'`. */
export type Duration = number | `${number}${'ms' | 's' | 'm' | 'h' | 'd'}`;

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/**
 * Converts a {@link Duration} to milliseconds.
 *
 * @throws ConfigError when the value is negative, not finite, or not in the accepted format.
 */
export function toMs(value: number | string, what = 'duration'): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) {
      throw new ConfigError(`${what} must be a non-negative number of milliseconds, got ${value}`);
    }
    return value;
  }
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(value);
  if (!match) {
    throw new ConfigError(`${what} must look like 500ms, 30s, 10m, 2h or 1d, got "${value}"`);
  }
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
}

/** The shortest lease (a worker's or a job's): heartbeats beat every third of it. */
const MIN_LEASE_MS = 100;

/** The shortest poll, rescue or prune interval: shorter ones keep the database busy for nothing. */
const MIN_INTERVAL_MS = 10;

/** The longest delay Node's timers keep: beyond it they fire after 1 ms. ~24.8 days. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * {@link toMs} for a duration that a timer waits out (a timeout, an interval).
 *
 * @throws ConfigError also when it is longer than {@link MAX_TIMER_MS}, which Node would turn into 1 ms.
 */
export function toTimerMs(value: number | string, what: string): number {
  const ms = toMs(value, what);
  if (ms > MAX_TIMER_MS) {
    throw new ConfigError(`${what} must be at most ${MAX_TIMER_MS} ms (about 24.8 days), got ${ms} ms`);
  }
  return ms;
}

/** `ms` (the value of option `what`); a ConfigError when under `minMs`. */
function atLeast(ms: number, minMs: number, what: string): number {
  if (ms < minMs) throw new ConfigError(`${what} must be at least ${minMs} ms, got ${ms} ms`);
  return ms;
}

/**
 * {@link toMs} for a lease (a worker's or a job's): at least 100 ms. A lease of nothing would have
 * the worker rescue its own running jobs in a loop. No upper bound: it is an interval in SQL.
 */
export function toLeaseMs(value: number | string, what: string): number {
  return atLeast(toMs(value, what), MIN_LEASE_MS, what);
}

/** {@link toTimerMs} for a poll, rescue or prune interval: at least 10 ms (none would loop). */
export function toIntervalMs(value: number | string, what: string): number {
  return atLeast(toTimerMs(value, what), MIN_INTERVAL_MS, what);
}
