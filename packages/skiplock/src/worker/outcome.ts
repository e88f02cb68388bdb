import { inspect } from 'node:util';
import type { Logger } from 'pino';
import type { AnyJobDefinition } from '../definition.js';
import { decide, type ErrorPolicy } from '../error-policy.js';
import { hasCode, type RetryJob, type SnoozeJob } from '../errors.js';
import { LONE_SURROGATE } from '../payload.js';
import { polynomialBackoff, retryDelayMs, type Backoff } from '../retry-policy.js';

/** One entry of a job's `errors` array (`at` is added by Postgres when it is written). */
export interface ErrorEntry {
  attempt: number;
  name: string;
  message: string;
  stack: string | null;
  worker: string;
}

/** What an attempt ended in, as the completer writes it. */
export type Outcome =
  /** `recorded`: already written, in a transactional job's own transaction. */
  | { state: 'completed'; recorded?: boolean }
  | { state: 'retryable'; delayMs: number; error: ErrorEntry }
  | { state: 'discarded'; error: ErrorEntry }
  /** An operator cancelled the running job. */
  | { state: 'cancelled'; error: ErrorEntry }
  /** `SnoozeJob`: run again after the delay, the attempt given back, no error recorded. */
  | { state: 'snoozed'; delayMs: number }
  /** Released unrun at shutdown: back to available, the attempt given back. */
  | { state: 'available' };

/** Longest message or stack kept in an error entry. */
const MAX_TEXT = 8192;

/**
 * Makes any value a string Postgres jsonb accepts: no U+0000, no lone surrogates, bounded length.
 * An error text must never make its own record fail: it is cut first, then cleaned, so that a cut
 * through a surrogate pair leaves no half of it behind.
 */
function storable(value: unknown): string {
  const text = String(value);
  const kept =
    text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT)}… (${text.length - MAX_TEXT} more characters)` : text;
  return kept.replace(LONE_SURROGATE, '\uFFFD').replaceAll('\u0000', '\\u0000');
}

/** Longest retry delay: a year (Postgres intervals and timers stay far from overflow). */
const MAX_DELAY_MS = 365 * 86_400_000;

/** A usable delay: finite, 0 … a year. */
function clampDelay(ms: number): number {
  return Number.isFinite(ms) ? Math.min(Math.max(0, ms), MAX_DELAY_MS) : MAX_DELAY_MS;
}

/** What is recorded of a thrown value that throws when read (a getter, a revoked proxy, a custom inspect). */
const UNREADABLE = {
  name: 'NonError',
  message: 'a value was thrown that could not be read (reading or rendering it threw)',
  stack: null,
} as const;

/**
 * Renders anything a handler threw as a name, a never-empty message and a stack when there is one;
 * never throws itself.
 */
export function describeThrown(thrown: unknown): { name: string; message: string; stack: string | null } {
  try {
    return render(thrown);
  } catch {
    return UNREADABLE;
  }
}

function render(thrown: unknown): { name: string; message: string; stack: string | null } {
  if (thrown instanceof Error) {
    const name = storable(thrown.name || 'Error');
    return {
      name,
      message: storable(thrown.message || `${name} with no message`),
      stack: thrown.stack === undefined ? null : storable(thrown.stack),
    };
  }
  const rendered =
    typeof thrown === 'string'
      ? thrown === ''
        ? 'an empty string was thrown'
        : thrown
      : `${inspect(thrown, { depth: 3, breakLength: Infinity })} was thrown`;
  return { name: 'NonError', message: storable(rendered), stack: null };
}

/** The facts about an attempt that decide what happens after it failed. */
export interface FailedAttempt {
  attempt: number;
  maxAttempts: number;
  backoff: Backoff;
  policy: ErrorPolicy;
  worker: string;
}

/**
 * Decides a failed attempt's fate: a cancel by an operator cancels; `SnoozeJob` snoozes;
 * `DiscardJob`, an invalid payload, a `discardOn` class, a `retryOn` rule used up or the row's
 * attempts used up discard; `RetryJob` retries after its own wait, a `retryOn` match after the
 * rule's, anything else after the job's backoff.
 */
function failureOutcome(thrown: unknown, attempt: FailedAttempt): Outcome {
  if (hasCode(thrown, 'SNOOZE_JOB')) return { state: 'snoozed', delayMs: clampDelay((thrown as SnoozeJob).waitMs) };
  const error: ErrorEntry = { attempt: attempt.attempt, worker: attempt.worker, ...describeThrown(thrown) };
  const forced = forcedOutcome(thrown, attempt, error);
  if (forced) return forced;
  const decision = decide(attempt.policy, thrown, attempt.attempt);
  if (decision.kind === 'discard') return { state: 'discarded', error };
  const requested = hasCode(thrown, 'RETRY_JOB') ? (thrown as RetryJob).waitMs : undefined;
  const ruled = decision.kind === 'retry' ? decision.delayMs : undefined;
  return {
    state: 'retryable',
    delayMs: clampDelay(requested ?? ruled ?? retryDelayMs(attempt.backoff, attempt.attempt)),
    error,
  };
}

/**
 * The outcomes no error policy changes: an operator's cancel cancels; `DiscardJob`, an invalid
 * payload or the row's attempts used up discard.
 */
function forcedOutcome(thrown: unknown, attempt: FailedAttempt, error: ErrorEntry): Outcome | undefined {
  if (hasCode(thrown, 'JOB_CANCELLED')) return { state: 'cancelled', error };
  if (hasCode(thrown, 'DISCARD_JOB') || hasCode(thrown, 'JOB_PAYLOAD') || attempt.attempt >= attempt.maxAttempts) {
    return { state: 'discarded', error };
  }
  return undefined;
}

/**
 * {@link failureOutcome}, never throwing. The user's code it runs may itself throw (a backoff
 * function, or one that returns no number of ms, a `retryOn` rule's `wait`, an error class's
 * `instanceof`), and so may reading the thrown value (a getter): the attempt is then decided
 * without them, by the thrown value's Skiplock code, maxAttempts and the default backoff, and a
 * warning on `logger` says why, rather than left without an outcome (its slot and lease held for
 * good) or thrown out of the worker as an unhandled rejection.
 */
export function decideFailure(
  thrown: unknown,
  job: Pick<AnyJobDefinition, 'backoff' | 'errorPolicy'>,
  run: Pick<FailedAttempt, 'attempt' | 'maxAttempts' | 'worker'>,
  logger: Logger,
): Outcome {
  const attempt: FailedAttempt = { ...run, backoff: job.backoff, policy: job.errorPolicy };
  try {
    return failureOutcome(thrown, attempt);
  } catch (policyError) {
    logThrown(logger, 'warn', policyError, {}, "the job's backoff or error policy failed: the default backoff decides");
    const error: ErrorEntry = { attempt: attempt.attempt, worker: attempt.worker, ...describeThrown(thrown) };
    return (
      forcedOutcome(thrown, attempt, error) ?? {
        state: 'retryable',
        delayMs: polynomialBackoff(attempt.attempt),
        error,
      }
    );
  }
}

/**
 * Logs a value a user's code threw as `err`; one that cannot be serialized (it throws when read: a
 * getter, a revoked proxy) as its record renders it, rather than throwing from the log call.
 */
export function logThrown(
  logger: Logger,
  level: 'error' | 'warn' | 'info',
  thrown: unknown,
  fields: Record<string, unknown>,
  message: string,
): void {
  try {
    logger[level]({ ...fields, err: thrown }, message);
  } catch {
    logger[level]({ ...fields, err: describeThrown(thrown) }, message);
  }
}
