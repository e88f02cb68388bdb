import { toMs, type Duration } from './duration.js';

/**
 * Stable error codes. Match on `error.code` rather than `instanceof`: two copies of the package in
 * one process would otherwise disagree about classes.
 */
export type SkiplockErrorCode =
  | 'CONFIG'
  | 'JOB_PAYLOAD'
  | 'ENQUEUE'
  | 'SCHEMA_VERSION'
  | 'JOB_TIMEOUT'
  | 'JOB_CANCELLED'
  | 'JOB_LEASE_LOST'
  | 'DISCARD_JOB'
  | 'RETRY_JOB'
  | 'SNOOZE_JOB'
  | 'INVALID_ARGUMENT'
  | 'JOB_NOT_FOUND'
  | 'JOB_STATE';

/**
 * A value as an error message shows it: as JSON where JSON can show it (`"a"`, `null`, `[1]`), else
 * by its kind (`5n`, `Symbol(x)`, `undefined`, a function). Never throws.
 */
export function shownValue(value: unknown): string {
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'number') return String(value);
  if (typeof value === 'symbol') return value.toString();
  if (typeof value === 'function') return 'a function';
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** Base class of every error Skiplock throws on purpose. */
export class SkiplockError extends Error {
  /** A stable, machine-readable code. */
  readonly code: SkiplockErrorCode;

  constructor(code: SkiplockErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Invalid configuration: a bad schema name, a pool too small, an unparsable duration. */
export class ConfigError extends SkiplockError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CONFIG', message, options);
  }
}

/**
 * A job's arguments cannot be stored: they fail the job's schema, are not plain JSON (BigInt, NaN,
 * functions, class instances, cycles) or exceed the size limit. Nothing is enqueued.
 */
export class JobPayloadError extends SkiplockError {
  /** The job's name. */
  readonly jobName: string;
  /** Where in the arguments the problem is, e.g. `args.user.createdAt`. */
  readonly path: string;

  constructor(jobName: string, path: string, problem: string, options?: { cause?: unknown }) {
    super('JOB_PAYLOAD', `job "${jobName}": ${path} ${problem}`, options);
    this.jobName = jobName;
    this.path = path;
  }
}

/** Enqueue options that make no sense (bad queue name, runAt with wait, bad priority …). */
export class EnqueueError extends SkiplockError {
  /** The job's name. */
  readonly jobName: string;

  constructor(jobName: string, problem: string, options?: { cause?: unknown }) {
    super('ENQUEUE', `cannot enqueue job "${jobName}": ${problem}`, options);
    this.jobName = jobName;
  }
}

/** The database holds a Skiplock schema that is newer than this code. */
export class SchemaVersionError extends SkiplockError {
  constructor(message: string) {
    super('SCHEMA_VERSION', message);
  }
}

/** A job ran past its `timeout`; its `ctx.signal` was aborted and the attempt failed. */
export class JobTimeoutError extends SkiplockError {
  constructor(jobName: string, timeoutMs: number) {
    super('JOB_TIMEOUT', `job "${jobName}" timed out after ${timeoutMs} ms`);
  }
}

/** An operator cancelled the running job; its `ctx.signal` was aborted and it is recorded `cancelled`. */
export class JobCancelledError extends SkiplockError {
  constructor(jobName: string) {
    super('JOB_CANCELLED', `job "${jobName}" was cancelled`);
  }
}

/**
 * The job was taken back from the worker running it (its lease expired while the worker stalled and
 * another rescued it, or an operator changed its row): `ctx.signal` is aborted with it, so that the
 * handler stops rather than run beside the job's next attempt.
 */
export class JobLeaseLostError extends SkiplockError {
  constructor(jobName: string) {
    super('JOB_LEASE_LOST', `job "${jobName}" lost its lease: it was taken back while it ran`);
  }
}

/** An admin call got an argument it cannot use: a bad state filter, job id or queue name. */
export class InvalidArgumentError extends SkiplockError {
  constructor(message: string) {
    super('INVALID_ARGUMENT', message);
  }
}

/** No job has this id (it never existed, or was pruned or deleted). */
export class JobNotFoundError extends SkiplockError {
  /** The id asked for. */
  readonly jobId: string;

  constructor(jobId: string) {
    super('JOB_NOT_FOUND', `no job with id ${jobId}`);
    this.jobId = jobId;
  }
}

/** The job exists but its state does not allow the action (retry a completed job, delete a running one). */
export class JobStateError extends SkiplockError {
  /** The job's id. */
  readonly jobId: string;

  constructor(jobId: string, problem: string) {
    super('JOB_STATE', `job ${jobId} ${problem}`);
    this.jobId = jobId;
  }
}

/** Throw from a handler to give the job up at once (state `discarded`), whatever attempts remain. */
export class DiscardJob extends SkiplockError {
  constructor(message = 'discarded by handler', options?: { cause?: unknown }) {
    super('DISCARD_JOB', message, options);
  }
}

/**
 * Throw from a handler to fail this attempt and retry after `wait` instead of the backoff:
 * `new RetryJob({ wait: '5m' })`, or `new RetryJob('why', { wait: '5m' })`.
 */
export class RetryJob extends SkiplockError {
  /** Delay before the next attempt, in milliseconds; the job's backoff when absent. */
  readonly waitMs: number | undefined;

  constructor(
    messageOrOptions: string | RetryJobOptions = 'retry requested by handler',
    options: RetryJobOptions = typeof messageOrOptions === 'string' ? {} : messageOrOptions,
  ) {
    super('RETRY_JOB', typeof messageOrOptions === 'string' ? messageOrOptions : 'retry requested by handler', options);
    this.waitMs = options.wait === undefined ? requestedWaitMs(options.waitMs) : toMs(options.wait, 'RetryJob wait');
  }
}

/**
 * `RetryJob`'s `waitMs`: a moment already past (a `Retry-After` time minus now) is no wait; what is
 * no finite number (NaN from a header that did not parse) is a ConfigError where it is written.
 */
function requestedWaitMs(waitMs: number | undefined): number | undefined {
  if (waitMs === undefined) return undefined;
  if (typeof waitMs !== 'number' || !Number.isFinite(waitMs)) {
    throw new ConfigError(`RetryJob waitMs must be a finite number of milliseconds, got ${String(waitMs)}`);
  }
  return Math.max(0, waitMs);
}

/** Options of {@link RetryJob}. */
export interface RetryJobOptions {
  /** Delay before the next attempt ('5m', or ms). */
  wait?: Duration;
  /** The same in milliseconds. */
  waitMs?: number;
  cause?: unknown;
}

/**
 * Throw from a handler to run the job again after `wait` without using an attempt (the job is not
 * ready yet: a rate limit, a resource still being prepared). No error is recorded.
 */
export class SnoozeJob extends SkiplockError {
  /** Delay before the job runs again, in milliseconds. */
  readonly waitMs: number;

  /** @param reason Why, for the log line of the snooze (no error is recorded on the job). */
  constructor(wait: Duration, reason?: string) {
    const waitMs = toMs(wait, 'SnoozeJob wait');
    super('SNOOZE_JOB', `${reason === undefined ? '' : `${reason}: `}snoozed for ${waitMs} ms`);
    this.waitMs = waitMs;
  }
}

/**
 * True when `error` is a Skiplock error with `code`, whichever copy of the package threw it. False,
 * not a throw, for a value that throws when read (a getter, a revoked proxy).
 */
export function hasCode(error: unknown, code: SkiplockErrorCode): boolean {
  try {
    return (
      typeof error === 'object' &&
      error !== null &&
      (error as { code?: unknown }).code === code &&
      error instanceof Error
    );
  } catch {
    return false;
  }
}
