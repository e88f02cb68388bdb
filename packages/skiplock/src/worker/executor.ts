import type { Span } from '@opentelemetry/api';
import type { Logger } from 'pino';
import type { JobContext, JobDatabase } from '../context.js';
import type { AnyJobDefinition } from '../definition.js';
import { validateArgs } from '../enqueue.js';
import { JobTimeoutError, SnoozeJob } from '../errors.js';
import type { PerformMiddleware } from '../middleware.js';
import type { JsonValue } from '../payload.js';
import { invokeHandler } from '../perform.js';
import type { ClaimedRow } from '../sql/claim.js';
import { finishValues } from '../sql/finish.js';
import type { TransactionRunner } from '../transaction.js';
import type { Telemetry } from '../telemetry.js';
import { decideFailure, logThrown, type Outcome } from './outcome.js';

/** Told of an attempt's outcome, once: one function for all of a worker's jobs. */
export type OutcomeListener = (execution: Execution, outcome: Outcome) => void;

/** A job to run: its row, how to start it, its outcome, and how to stop it. */
export interface Execution {
  readonly row: ClaimedRow;
  /**
   * Runs the attempt; `listener` is called once with its outcome, before `start` returns when the
   * handler is synchronous and returns (or throws) at once.
   */
  readonly start: (listener?: OutcomeListener) => void;
  /** The attempt's outcome (for callers that wait on a few jobs, not for every job). */
  readonly outcome: Promise<Outcome>;
  /** The outcome once decided, possibly before it settles (while `afterDiscard` runs). */
  readonly decided: Outcome | undefined;
  /**
   * Gives the attempt up (a stop past its timeout, a lost lease): aborts the handler's signal and,
   * unless an outcome was decided already, ends a transactional job's transaction (rolled back, its
   * connection closed) and settles the outcome as released at once, whatever the handler does next.
   * The listener is told of it like any end: a caller that writes something else (what was
   * decided, or nothing) makes its listener ignore this attempt first.
   */
  readonly abandon: (reason: Error) => void;
  /**
   * Ends the attempt now with `error` (a timeout, a cancel): aborts the handler's signal and settles
   * the outcome without waiting for a handler that ignores it (or, once a failure was decided, for
   * its `afterDiscard`).
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

/** How long a job enqueued with a version newer than the worker's waits before it is claimed again. */
const NEWER_VERSION_WAIT = '30s';

/**
 * The arguments a handler gets: the stored ones, upgraded from an older version, then validated.
 * Those that need neither are returned as they are, without a promise (most jobs); otherwise a
 * promise of them.
 */
function handlerArgs(definition: AnyJobDefinition, row: ClaimedRow): unknown {
  const stored = row.version ?? 1;
  if (stored > definition.version) {
    // Written by newer code (a rolling deploy): left for a worker that knows this version, without
    // using an attempt, so that old workers cannot use them all up meanwhile.
    throw new SnoozeJob(
      NEWER_VERSION_WAIT,
      `job "${row.name}" was enqueued with version ${stored}; this worker's definition is version ${definition.version}`,
    );
  }
  const raw = row.args as Record<string, JsonValue>;
  const { upgrade } = definition;
  if (stored < definition.version && upgrade) {
    return Promise.resolve(upgrade(raw, stored)).then((input: unknown) =>
      validateArgs({ job: definition, args: input }),
    );
  }
  return definition.schema ? validateArgs({ job: definition, args: raw }) : raw;
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

/**
 * The context a handler receives. `signal` and `logger` are own enumerable accessors (a spread
 * `{ ...ctx }` copies their values) that read the job's {@link JobParts}, defined with the same two
 * descriptors for every job. Accessors written in an object literal are new functions per object
 * (each context ~0.7 KB more in a drain of no-op jobs), and `Object.defineProperties` on a literal
 * left it a dictionary: ~0.6 µs per context against ~0.2–0.3 µs this way (measured in isolation).
 */
class HandlerContext implements JobContext {
  readonly id: string;
  readonly name: string;
  readonly queue: string;
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly metadata: ClaimedRow['metadata'];
  readonly db: JobDatabase;
  declare readonly signal: AbortSignal;
  declare readonly logger: Logger;
  readonly #parts: JobParts;

  static readonly #signal: PropertyDescriptor & ThisType<HandlerContext> = {
    enumerable: true,
    get(this: HandlerContext) {
      return this.#parts.signal;
    },
  };

  static readonly #logger: PropertyDescriptor & ThisType<HandlerContext> = {
    enumerable: true,
    get(this: HandlerContext) {
      return this.#parts.logger;
    },
  };

  constructor(definition: AnyJobDefinition, row: JobIdentity, parts: JobParts, db: JobDatabase) {
    this.id = row.id;
    this.name = definition.name;
    this.queue = row.queue;
    this.attempt = row.attempt;
    this.maxAttempts = row.max_attempts;
    this.metadata = row.metadata;
    this.db = db;
    this.#parts = parts;
    Object.defineProperty(this, 'signal', HandlerContext.#signal);
    Object.defineProperty(this, 'logger', HandlerContext.#logger);
  }
}

/**
 * A running job's logger and abort signal, each made on first use: most jobs never log or read
 * `ctx.signal`, and a child logger and an AbortController cost microseconds each, which a worker
 * running tens of thousands of jobs a second feels.
 */
class JobParts {
  readonly #parent: Logger;
  readonly #definition: AnyJobDefinition;
  readonly #row: JobIdentity & Pick<ClaimedRow, 'args'>;
  #logger: Logger | undefined;
  #controller: AbortController | undefined;
  #aborted = false;
  #reason: unknown;

  constructor(parent: Logger, definition: AnyJobDefinition, row: JobIdentity & Pick<ClaimedRow, 'args'>) {
    this.#parent = parent;
    this.#definition = definition;
    this.#row = row;
  }

  get logger(): Logger {
    this.#logger ??= this.#parent.child(logBindings(this.#definition, this.#row));
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

  /** Why the signal was aborted, once it was. */
  get reason(): unknown {
    return this.#reason;
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
  const parts = new JobParts(logger, definition, row);
  parts.abort(error);
  return runAfterDiscard(definition, row.args, error, new HandlerContext(definition, row, parts, db));
}

/** Calls the definition's `afterDiscard`; its failure is logged, never thrown. */
export async function runAfterDiscard(
  definition: AnyJobDefinition,
  args: unknown,
  error: unknown,
  ctx: JobContext,
): Promise<void> {
  try {
    await definition.hooks.afterDiscard?.(args, error, ctx);
  } catch (hookError) {
    logThrown(ctx.logger, 'error', hookError, {}, 'afterDiscard failed');
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

/** The outcome of every handler that returns (shared: outcomes are never changed). */
const COMPLETED: Outcome = { state: 'completed' };
/** A transactional job's: its "done" was written in its own transaction. */
const COMPLETED_RECORDED: Outcome = { state: 'completed', recorded: true };
/** An abandoned attempt's: the job goes back unrun, the attempt given back. */
const RELEASED: Outcome = { state: 'available' };

/**
 * One claimed job, to be started: it validates its arguments again, runs the handler with a context
 * and the timeout inside its perform span, and settles the attempt's outcome. Never fails: whatever
 * the handler throws (including non-Errors) becomes a failed attempt.
 */
export function execute(definition: AnyJobDefinition, row: ClaimedRow, context: ExecutorContext): Execution {
  return new Attempt(definition, row, context);
}

/**
 * One attempt at a job. Its state is this one object: a worker runs tens of thousands of jobs a
 * second, and every promise and closure made per job is garbage to collect, more so while the job
 * is still in flight when the collector runs. The outcome is settled once, by whichever comes
 * first: the handler returning or throwing, or an interrupt (which does not wait for a handler
 * that ignores its signal).
 */
class Attempt implements Execution {
  readonly row: ClaimedRow;
  readonly #definition: AnyJobDefinition;
  readonly #context: ExecutorContext;
  readonly #parts: JobParts;
  readonly #ctx: JobContext;
  readonly #span: Span;
  /** When `start` was called (performance.now()), for the run time. */
  #started = 0;
  #listener: OutcomeListener | undefined;
  /** Set once settled. */
  #outcome: Outcome | undefined;
  /** Made only when asked for (see {@link outcome}), with what settles it. */
  #promise: Promise<Outcome> | undefined;
  #settle: ((outcome: Outcome) => void) | undefined;
  /** The outcome once decided (a failure's may still wait for `afterDiscard`): later ends are ignored. */
  #decision: Outcome | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** The arguments the handler got (the stored ones until validated), for `afterDiscard`. */
  #args: unknown;
  /** A transactional job's interrupt: ends the transaction's wait for its handler (it rolls back). */
  #interruptTransaction: ((error: Error) => void) | undefined;

  constructor(definition: AnyJobDefinition, row: ClaimedRow, context: ExecutorContext) {
    this.row = row;
    this.#definition = definition;
    this.#context = context;
    this.#args = row.args;
    this.#parts = new JobParts(context.logger, definition, row);
    this.#ctx = new HandlerContext(definition, row, this.#parts, context.db);
    this.#span = context.telemetry.startPerform(row);
  }

  start(listener?: OutcomeListener): void {
    this.#listener = listener;
    this.#started = performance.now();
    this.#context.telemetry.inSpan(this.#span, () => this.#start());
  }

  get outcome(): Promise<Outcome> {
    this.#promise ??= this.#outcome
      ? Promise.resolve(this.#outcome)
      : new Promise<Outcome>((resolve) => (this.#settle = resolve));
    return this.#promise;
  }

  get decided(): Outcome | undefined {
    return this.#decision;
  }

  abandon(reason: Error): void {
    this.#parts.abort(reason);
    if (this.#decision) return;
    this.#interruptTransaction?.(reason);
    this.#end(RELEASED);
  }

  /**
   * Ends the attempt now with `error`, without waiting for the handler; aborts its signal. Once a
   * failure was decided, while its `afterDiscard` still runs, the decision stands and the hook is not
   * waited for any longer.
   */
  interrupt(error: Error): void {
    if (this.#outcome) return;
    if (this.#decision) {
      this.#parts.abort(error);
      this.#end(this.#decision);
      return;
    }
    if (this.#parts.aborted) return;
    this.#parts.abort(error);
    if (this.#interruptTransaction) this.#interruptTransaction(error);
    else void this.#failed(error);
  }

  /** (Re)starts the attempt's timeout, when it has one. */
  #armTimeout(): void {
    const timeoutMs = this.#definition.timeoutMs ?? this.#context.defaultTimeoutMs;
    if (timeoutMs === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.interrupt(new JobTimeoutError(this.row.name, timeoutMs)), timeoutMs);
  }

  #start(): void {
    this.#armTimeout();
    let running: Promise<void> | void;
    try {
      running = this.#perform();
    } catch (thrown) {
      // Thrown synchronously: by a synchronous handler, or before it (a version this worker does not know).
      void this.#failed(thrown);
      return;
    }
    // A synchronous handler that returned has completed: no promise to wait for.
    if (running === undefined) this.#succeeded();
    else
      Promise.resolve(running).then(
        () => this.#succeeded(),
        (thrown: unknown) => this.#failed(thrown),
      );
  }

  /** Validates the arguments (when they need it), then calls the handler: see {@link invokeHandler}. */
  #perform(): Promise<void> | void {
    // Validated arguments: as they are, or a promise of them (see handlerArgs).
    const args = handlerArgs(this.#definition, this.row);
    return args instanceof Promise ? args.then((valid: unknown) => this.#invoke(valid)) : this.#invoke(args);
  }

  #invoke(args: unknown): Promise<void> | void {
    // Interrupted while its arguments were validated: the attempt is over, the handler never starts.
    if (this.#decision) return;
    this.#args = args;
    const { middleware } = this.#context;
    if (!this.#definition.transactional) return invokeHandler(this.#definition, args, this.#ctx, middleware);
    const interrupted = new Promise<never>((_, reject) => (this.#interruptTransaction = reject));
    // Unobserved until the handler is running; never an unhandled rejection.
    interrupted.catch(() => undefined);
    return this.#context.transaction(async (db, queryable) => {
      // Interrupted while waiting for a connection: the attempt is over, the handler never starts.
      if (this.#parts.aborted) throw this.#parts.reason;
      await Promise.race([invokeHandler(this.#definition, args, { ...this.#ctx, db }, middleware), interrupted]);
      // "Done" is written in the handler's own transaction: both commit, or neither does.
      const { row } = this;
      const completed = { id: row.id, attempt: row.attempt, outcome: COMPLETED };
      const written = await queryable.query(this.#context.finishSql, finishValues([completed], this.#context.workerId));
      if (written.length === 0) throw new Error('the job was taken back (lease expired) before it could commit');
    }, interrupted);
  }

  #succeeded(): void {
    if (this.#decision) return;
    if (this.#context.logger.isLevelEnabled('debug')) {
      this.#parts.logger.debug({ ms: Math.round(performance.now() - this.#started) }, 'job completed');
    }
    this.#end(this.#definition.transactional ? COMPLETED_RECORDED : COMPLETED);
  }

  async #failed(thrown: unknown): Promise<void> {
    if (this.#decision) return;
    const { attempt, max_attempts: maxAttempts } = this.row;
    const run = { attempt, maxAttempts, worker: this.#context.workerId };
    const outcome = decideFailure(thrown, this.#definition, run, this.#parts.logger);
    this.#decision = outcome;
    const [level, message] = FAILURE_LOG[outcome.state];
    logThrown(this.#parts.logger, level, thrown, { outcome: outcome.state }, message);
    if (outcome.state === 'discarded') {
      // The hook gets the attempt's timeout afresh (the attempt's may be what ran out).
      this.#armTimeout();
      await runAfterDiscard(this.#definition, this.#args, thrown, this.#ctx);
    }
    this.#end(outcome);
  }

  #end(outcome: Outcome): void {
    // Once: an afterDiscard that settles after an interrupt ended its wait finds the attempt over.
    if (this.#outcome) return;
    this.#decision = outcome;
    clearTimeout(this.#timer);
    this.#context.telemetry.endPerform(this.#span, this.row, outcome, performance.now() - this.#started);
    this.#outcome = outcome;
    this.#settle?.(outcome);
    this.#listener?.(this, outcome);
  }
}
