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

/** Runs `fn`, rejecting with JobTimeoutError after `timeoutMs` (and aborting the job's signal). */
async function withTimeout(
  fn: () => Promise<void> | void,
  timeoutMs: number | undefined,
  controller: AbortController,
  jobName: string,
): Promise<void> {
  if (timeoutMs === undefined) return fn();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new JobTimeoutError(jobName, timeoutMs);
      controller.abort(error);
      reject(error);
    }, timeoutMs);
  });
  try {
    await Promise.race([Promise.resolve().then(fn), deadline]);
  } finally {
    clearTimeout(timer);
  }
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

/**
 * Starts one claimed job: validates its arguments again, runs the handler with a context and the
 * timeout inside its perform span, and resolves to the attempt's outcome. Never rejects: whatever
 * the handler throws (including non-Errors) becomes a failed attempt.
 */
export function execute(definition: AnyJobDefinition, row: ClaimedRow, context: ExecutorContext): Execution {
  const controller = new AbortController();
  const logger = context.logger.child({ jobId: row.id, name: row.name, queue: row.queue, attempt: row.attempt });
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
  const run = async (): Promise<Outcome> => {
    let outcome: Outcome;
    try {
      const args = await validateArgs({ job: definition, args: row.args });
      await withTimeout(
        () => definition.perform(args, ctx),
        definition.timeoutMs ?? context.defaultTimeoutMs,
        controller,
        row.name,
      );
      logger.debug({ ms: Math.round(performance.now() - started) }, 'job completed');
      outcome = { state: 'completed' };
    } catch (thrown) {
      outcome = safeFailureOutcome(thrown, row, definition, context.workerId);
      const level = outcome.state === 'discarded' ? 'error' : 'warn';
      logger[level](
        { err: thrown, outcome: outcome.state },
        outcome.state === 'discarded' ? 'job discarded' : 'job failed, will retry',
      );
    }
    telemetry.endPerform(span, row, outcome, performance.now() - started);
    return outcome;
  };
  return { row, controller, outcome: telemetry.inSpan(span, run) };
}
