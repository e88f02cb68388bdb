import { toMs, type Duration } from './duration.js';
import { ConfigError } from './errors.js';

/**
 * How long to wait before the next attempt: `'polynomial'` (attempt⁴ seconds plus jitter, the
 * default), a fixed {@link Duration}, or a function of the attempt that just failed returning ms.
 */
export type Backoff = 'polynomial' | Duration | ((attempt: number) => number);

/**
 * The default backoff: attempt⁴ seconds plus up to 10 % (at least 1 s) of random jitter, so that jobs
 * that failed together do not all come back together. Attempt 1 → ~1 s, 5 → ~10 min, 10 → ~2.8 h.
 */
export function polynomialBackoff(attempt: number, random: () => number = Math.random): number {
  const base = attempt ** 4 * 1000;
  return Math.round(base + random() * Math.max(1000, base * 0.1));
}

/**
 * The delay in ms before the attempt after `attempt`, under `backoff`. A ConfigError when a backoff
 * function returns no finite number (NaN from a header that did not parse, undefined).
 */
export function retryDelayMs(backoff: Backoff, attempt: number): number {
  if (backoff === 'polynomial') return polynomialBackoff(attempt);
  if (typeof backoff !== 'function') return toMs(backoff, 'backoff');
  const ms: unknown = backoff(attempt);
  if (typeof ms !== 'number' || !Number.isFinite(ms)) {
    throw new ConfigError(`backoff must return a finite number of ms, returned ${String(ms)} for attempt ${attempt}`);
  }
  return ms; // a negative one is clamped to 0 with every delay (see clampDelay)
}
