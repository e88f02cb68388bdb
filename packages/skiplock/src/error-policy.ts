import { toMs } from './duration.js';
import { ConfigError } from './errors.js';
import { retryDelayMs, type Backoff } from './retry-policy.js';

/** A class of errors, matched with `instanceof`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ErrorClass = abstract new (...args: any[]) => unknown;

/** `retryOn` entry: how to retry errors of these classes (Active Job's `retry_on`). */
export interface RetryRule {
  /** The error classes this rule covers. */
  on: readonly ErrorClass[];
  /**
   * The attempt from which an error of these classes discards the job instead of retrying it (5).
   * It counts every attempt of the job, the first run included, whatever failed the earlier ones
   * (Active Job counts only the runs that failed with these errors).
   */
  attempts?: number;
  /** Delay before each retry: a duration, `'polynomial'`, or a function of the attempt (3s). */
  wait?: Backoff;
  /** Random spread added to the wait, as a fraction of it (0.15: up to 15 % more). */
  jitter?: number;
}

/** What the error options of a definition decide about one failure. */
export type PolicyDecision = { kind: 'discard' } | { kind: 'retry'; delayMs: number } | { kind: 'default' };

/** The error options of a definition, checked once. */
export interface ErrorPolicy {
  readonly retryOn: readonly Required<RetryRule>[];
  readonly discardOn: readonly ErrorClass[];
}

function isInstance(thrown: unknown, classes: readonly ErrorClass[]): boolean {
  return classes.some((errorClass) => thrown instanceof errorClass);
}

/** Checks and fills in a definition's `retryOn` and `discardOn`. */
export function errorPolicy(
  jobName: string,
  retryOn: readonly RetryRule[] = [],
  discardOn: readonly ErrorClass[] = [],
): ErrorPolicy {
  const rules = retryOn.map((rule, index) => {
    const where = `defineJob "${jobName}": retryOn[${index}]`;
    if (!Array.isArray(rule.on) || rule.on.length === 0 || rule.on.some((c) => typeof c !== 'function')) {
      throw new ConfigError(`${where}.on must be a non-empty array of error classes`);
    }
    const attempts = rule.attempts ?? 5;
    if (!Number.isInteger(attempts) || attempts < 1) {
      throw new ConfigError(`${where}.attempts must be a positive integer, got ${rule.attempts}`);
    }
    const jitter = rule.jitter ?? 0.15;
    if (!(jitter >= 0 && jitter <= 1)) throw new ConfigError(`${where}.jitter must be from 0 to 1, got ${rule.jitter}`);
    const wait = rule.wait ?? '3s';
    if (typeof wait !== 'function' && wait !== 'polynomial') toMs(wait, `${where}.wait`);
    return { on: rule.on, attempts, wait, jitter };
  });
  if (discardOn.some((c) => typeof c !== 'function')) {
    throw new ConfigError(`defineJob "${jobName}": discardOn must be an array of error classes`);
  }
  return { retryOn: rules, discardOn };
}

/**
 * What `policy` says about `thrown` failing attempt `attempt`: discard (a `discardOn` class, or a
 * `retryOn` rule whose attempts are used up), retry after the rule's wait, or leave it to the
 * job's defaults (maxAttempts and backoff).
 */
export function decide(
  policy: ErrorPolicy,
  thrown: unknown,
  attempt: number,
  random: () => number = Math.random,
): PolicyDecision {
  if (isInstance(thrown, policy.discardOn)) return { kind: 'discard' };
  const rule = policy.retryOn.find((candidate) => isInstance(thrown, candidate.on));
  if (!rule) return { kind: 'default' };
  if (attempt >= rule.attempts) return { kind: 'discard' };
  const base = retryDelayMs(rule.wait, attempt);
  return { kind: 'retry', delayMs: Math.round(base * (1 + rule.jitter * random())) };
}
