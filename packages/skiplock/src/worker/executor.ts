import type { Logger } from 'pino';
import type { JobContext, JobDatabase } from '../context.js';
import type { AnyJobDefinition } from '../definition.js';
import { validateArgs } from '../enqueue.js';
import { JobTimeoutError, SkiplockError } from '../errors.js';
import type { PerformMiddleware } from '../middleware.js';
import type { JsonValue } from '../payload.js';
import { invokeHandler } from '../perform.js';
import type { ClaimedRow } from '../sql/claim.js';
import { finishValues } from '../sql/finish.js';
import type { TransactionRunner } from '../transaction.js';
import type { Telemetry } from '../telemetry.js';
import { failureOutcome, type Outcome } from './outcome.js';

/** A job being run: its row, the promise of its outcome, and how to stop it. */
export interface Execution {
  readonly row: ClaimedRow;
  readonly outcome: Promise<Outcome>;
  /** Aborts the handler's signal (the handler decides what to do about it). */
  readonly abort: (reason: Error) => void;
  /**
   * Ends the attempt now with `error` (a timeout, a cancel): aborts the handler's signal and settles
   * the outcome without waiting for a handler that ignores it.
   */
  readonly interrupt: (error: Error) => void;
}

/** What the executor needs from its worker. */
export interface ExecutorContext {
  workerId: string;
  logger: Logger;
  /** Used when the definition sets no timeout; undefined means none. */
  defaultTimeoutMs: number | undefined;
  /** Where the perform span, run time and latency go. */
  telemetry: Telemetry;
  /** Perform middleware of the instance. */
  middleware: readonly PerformMiddleware[];
  /** `ctx.db` of jobs that are not transactional. */
  db: JobDatabase;
  /** Opens the transaction of a transactional job. */
  transaction: TransactionRunner;
  /** The outcome statement (`finishSql` of the schema), for the in-transaction completion. */
  finishSql: string;
}

/** The arguments a handler gets: the stored ones, upgraded from an older version, then validated. */
async function handlerArgs(definition: AnyJobDefinition, row: ClaimedRow): Promise<unknown> {
  const stored = row.version ?? 1;
  if (stored > definition.version) {
    // Written by newer code: leave it for a worker that knows this version (the attempt is retried).
    throw new SkiplockError(
      'JOB_STATE',
      `job "${row.name}" was enqueued with version ${stored}; this worker's definition is version ${definition.version}`,
    );
  }
  const raw = row.args as Record<string, JsonValue>;
  const input: unknown =
    stored < definition.version && definition.upgrade ? await definition.upgrade(raw, stored) : raw;
  return validateArgs({ job: definition, args: input });
}

/** What a job's context and log lines are made of. */
type JobIdentity = Pick<ClaimedRow, 'id' | 'name' | 'queue' | 'attempt' | 'max_attempts' | 'metadata'>;

/** The fields every log line about the job carries (its arguments too, if its definition says so). */
function logBindings(
  definition: AnyJobDefinition,
  row: JobIdentity & Pick<ClaimedRow, 'args'>,
): Record<string, unknown> {
  const bindings = { jobId: row.id, name: row.name, queue: row.queue, attempt: row.attempt };
  return definition.logArgs ? { ...bindings, args: row.args } : bindings;
}

/** The context a handler of `row` receives. */
function jobContext(
  definition: AnyJobDefinition,
  row: JobIdentity,
  parts: { readonly logger: Logger; readonly signal: AbortSignal },
  db: JobDatabase,
): JobContext {
  return {
    id: row.id,
    name: definition.name,
    queue: row.queue,
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    get signal() {
      return parts.signal;
    },
    get logger() {
      return parts.logger;
    },
    metadata: row.metadata,
    db,
  };
}

/**
 * A running job's logger and abort signal, each made on first use: most jobs never log or read
 * `ctx.signal`, and a child logger and an AbortController cost microseconds each, which a worker
 * running tens of thousands of jobs a second feels.
 */
class JobParts {
  readonly #parent: Logger;
  readonly #bindings: Record<string, unknown>;
  #logger: Logger | undefined;
  #controller: AbortController | undefined;
  #aborted = false;
  #reason: unknown;

  constructor(parent: Logger, bindings: Record<string, unknown>) {
    this.#parent = parent;
    this.#bindings = bindings;
  }

  get logger(): Logger {
    this.#logger ??= this.#parent.child(this.#bindings);
    return this.#logger;
  }

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  get aborted(): boolean {
    return this.#aborted;
  }

  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
  }
}

/**
 * Runs `afterDiscard` for a job given up outside an attempt (its last one lost its lease), with the
 * context its handler had, its signal aborted by `error`.
 */
export function afterDiscardOutsideAttempt(
  definition: AnyJobDefinition,
  row: JobIdentity & Pick<ClaimedRow, 'args'>,
  error: Error,
  logger: Logger,
  db: JobDatabase,
): Promise<void> {
  const parts = new JobParts(logger, logBindings(definition, row));
  parts.abort(error);
  return runAfterDiscard(definition, row.args, error, jobContext(definition, row, parts, db));
}

/** Calls the definition's `afterDiscard`; its failure is logged, never thrown. */
async function runAfterDiscard(
  definition: AnyJobDefinition,
  args: unknown,
  error: unknown,
  ctx: JobContext,
): Promise<void> {
  try {
    await definition.hooks.afterDiscard?.(args, error, ctx);
  } catch (hookError) {
    ctx.logger.error({ err: hookError }, 'afterDiscard failed');
  }
}

/** A promise that an interrupt rejects, and the interrupt itself (which also aborts the signal). */
function interruption(parts: JobParts): { interrupted: Promise<never>; interrupt: (error: Error) => void } {
  let reject: (error: Error) => void = () => undefined;
  const interrupted = new Promise<never>((_, rejectWith) => {
    reject = rejectWith;
  });
  // Unobserved until the handler is running; never an unhandled rejection.
  interrupted.catch(() => undefined);
  return {
    interrupted,
    interrupt: (error) => {
      if (parts.aborted) return;
      reject(error);
      parts.abort(error);
    },
  };
}

/**
 * The failed attempt's outcome. A user's backoff function may itself throw: the attempt is then
 * retried after the default backoff rather than left without an outcome.
 */
function safeFailureOutcome(thrown: unknown, row: ClaimedRow, definition: AnyJobDefinition, workerId: string): Outcome {
  const attempt = {
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    backoff: definition.backoff,
    policy: definition.errorPolicy,
    worker: workerId,
  };
  try {
    return failureOutcome(thrown, attempt);
  } catch {
    return failureOutcome(thrown, { ...attempt, backoff: 'polynomial' });
  }
}

/** How each way of failing is logged. */
const FAILURE_LOG: Record<Outcome['state'], ['error' | 'warn' | 'info', string]> = {
  discarded: ['error', 'job discarded'],
  retryable: ['warn', 'job failed, will retry'],
  cancelled: ['info', 'job cancelled'],
  snoozed: ['info', 'job snoozed'],
  completed: ['info', 'job completed'],
  available: ['info', 'job released'],
};

/**
 * Starts one claimed job: validates its arguments again, runs the handler with a context and the
 * timeout inside its perform span, and resolves to the attempt's outcome. Never rejects: whatever
 * the handler throws (including non-Errors) becomes a failed attempt.
 */
export function execute(definition: AnyJobDefinition, row: ClaimedRow, context: ExecutorContext): Execution {
  const parts = new JobParts(context.logger, logBindings(definition, row));
  const ctx = jobContext(definition, row, parts, context.db);
  const { telemetry } = context;
  const span = telemetry.startPerform(row);
  const started = performance.now();
  const { interrupted, interrupt } = interruption(parts);
  const timeoutMs = definition.timeoutMs ?? context.defaultTimeoutMs;
  const run = async (): Promise<Outcome> => {
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(() => interrupt(new JobTimeoutError(row.name, timeoutMs)), timeoutMs);
    let outcome: Outcome;
    let args: unknown = row.args;
    try {
      args = await handlerArgs(definition, row);
      if (definition.transactional) {
        await context.transaction(async (db, queryable) => {
          await Promise.race([invokeHandler(definition, args, { ...ctx, db }, context.middleware), interrupted]);
          // "Done" is written in the handler's own transaction: both commit, or neither does.
          const completed = { id: row.id, attempt: row.attempt, outcome: { state: 'completed' } as const };
          const written = await queryable.query(context.finishSql, finishValues([completed], context.workerId));
          if (written.length === 0) throw new Error('the job was taken back (lease expired) before it could commit');
        });
        outcome = { state: 'completed', recorded: true };
      } else {
        await Promise.race([invokeHandler(definition, args, ctx, context.middleware), interrupted]);
        outcome = { state: 'completed' };
      }
      if (context.logger.isLevelEnabled('debug')) {
        parts.logger.debug({ ms: Math.round(performance.now() - started) }, 'job completed');
      }
    } catch (thrown) {
      outcome = safeFailureOutcome(thrown, row, definition, context.workerId);
      const [level, message] = FAILURE_LOG[outcome.state];
      parts.logger[level]({ err: thrown, outcome: outcome.state }, message);
      if (outcome.state === 'discarded') await runAfterDiscard(definition, args, thrown, ctx);
    } finally {
      clearTimeout(timer);
    }
    telemetry.endPerform(span, row, outcome, performance.now() - started);
    return outcome;
  };
  return { row, outcome: telemetry.inSpan(span, run), interrupt, abort: (reason) => parts.abort(reason) };
}
