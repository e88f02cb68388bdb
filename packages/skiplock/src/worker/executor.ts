import type { Logger } from 'pino';
import type { AnyJobDefinition, JobContext } from '../definition.js';
import { validateArgs } from '../enqueue.js';
import { JobTimeoutError } from '../errors.js';
import type { ClaimedRow } from '../sql/claim.js';
import type { Telemetry } from '../telemetry.js';
import { failureOutcome, type Outcome } from './outcome.js';

/** A job being run: its row, its abort controller, and the promise of its outcome. */
export interface Execution {
  readonly row: ClaimedRow;
  readonly controller: AbortController;
  readonly outcome: Promise<Outcome>;
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
}

/** A promise that an interrupt rejects, and the interrupt itself (which also aborts the signal). */
function interruption(controller: AbortController): { interrupted: Promise<never>; interrupt: (error: Error) => void } {
  let reject: (error: Error) => void = () => undefined;
  const interrupted = new Promise<never>((_, rejectWith) => {
    reject = rejectWith;
  });
  // Unobserved until the handler is running; never an unhandled rejection.
  interrupted.catch(() => undefined);
  return {
    interrupted,
    interrupt: (error) => {
      if (controller.signal.aborted) return;
      reject(error);
      controller.abort(error);
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
  completed: ['info', 'job completed'],
  available: ['info', 'job released'],
};

/**
 * Starts one claimed job: validates its arguments again, runs the handler with a context and the
 * timeout inside its perform span, and resolves to the attempt's outcome. Never rejects: whatever
 * the handler throws (including non-Errors) becomes a failed attempt.
 */
export function execute(definition: AnyJobDefinition, row: ClaimedRow, context: ExecutorContext): Execution {
  const controller = new AbortController();
  const bindings = { jobId: row.id, name: row.name, queue: row.queue, attempt: row.attempt };
  const logger = context.logger.child(definition.logArgs ? { ...bindings, args: row.args } : bindings);
  const ctx: JobContext = {
    id: row.id,
    name: row.name,
    queue: row.queue,
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    signal: controller.signal,
    logger,
    metadata: row.metadata,
  };
  const { telemetry } = context;
  const span = telemetry.startPerform(row);
  const started = performance.now();
  const { interrupted, interrupt } = interruption(controller);
  const timeoutMs = definition.timeoutMs ?? context.defaultTimeoutMs;
  const run = async (): Promise<Outcome> => {
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(() => interrupt(new JobTimeoutError(row.name, timeoutMs)), timeoutMs);
    let outcome: Outcome;
    try {
      const args = await validateArgs({ job: definition, args: row.args });
      await Promise.race([definition.perform(args, ctx), interrupted]);
      logger.debug({ ms: Math.round(performance.now() - started) }, 'job completed');
      outcome = { state: 'completed' };
    } catch (thrown) {
      outcome = safeFailureOutcome(thrown, row, definition, context.workerId);
      const [level, message] = FAILURE_LOG[outcome.state];
      logger[level]({ err: thrown, outcome: outcome.state }, message);
    } finally {
      clearTimeout(timer);
    }
    telemetry.endPerform(span, row, outcome, performance.now() - started);
    return outcome;
  };
  return { row, controller, outcome: telemetry.inSpan(span, run), interrupt };
}
