import type { JobWithInput } from '../definition.js';
import { validateArgs } from '../enqueue.js';
import { JobTimeoutError } from '../errors.js';
import { invokeHandler, prepareInline, type InlineOptions, type InlineRun } from '../perform.js';
import { runAfterDiscard } from '../worker/executor.js';
import { decideFailure, type Outcome } from '../worker/outcome.js';
import { defaultLogger } from '../logger.js';

/** What one run of a handler ended in, as a worker would record it. */
export type RunJobResult = Exclude<Outcome, { state: 'available' }>;

/**
 * Runs a job's handler once, in this process, as a worker would (JSON round trip, schema, hooks,
 * `afterDiscard` when the run discards, the definition's `timeout`), and returns what the attempt
 * ended in instead of throwing: `completed`, `retryable` (with the delay its error policy gives),
 * `discarded`, `snoozed` or `cancelled`. For unit tests of handlers.
 *
 * @example
 * expect(await runJob(sendWelcome, { userId: 'u1' })).toEqual({ state: 'completed' });
 */
export async function runJob<Input>(
  job: JobWithInput<Input>,
  args: Input,
  options: InlineOptions = {},
): Promise<RunJobResult> {
  const timeout = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, timeout.signal]) : timeout.signal;
  let run: InlineRun | undefined;
  let handlerArgs: unknown;
  let timer: NodeJS.Timeout | undefined;
  try {
    run = prepareInline(job, args, undefined, { ...options, signal });
    handlerArgs = run.stored;
    handlerArgs = await validateArgs({ job, args: run.stored });
    const running = Promise.resolve(invokeHandler(job, handlerArgs, run.ctx, []));
    const { timeoutMs } = job;
    if (timeoutMs === undefined) await running;
    else {
      // As on a worker: at the deadline the signal aborts and the attempt fails, the handler or not.
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const error = new JobTimeoutError(job.name, timeoutMs);
          timeout.abort(error);
          reject(error);
        }, timeoutMs);
      });
      await Promise.race([running, deadline]);
    }
    return { state: 'completed' };
  } catch (thrown) {
    const attempt = {
      attempt: options.attempt ?? 1,
      maxAttempts: options.maxAttempts ?? job.maxAttempts,
      worker: 'runJob',
    };
    const outcome = decideFailure(thrown, job, attempt, run?.ctx.logger ?? defaultLogger()) as RunJobResult;
    if (outcome.state === 'discarded' && run) await runAfterDiscard(job, handlerArgs, thrown, run.ctx);
    return outcome;
  } finally {
    clearTimeout(timer);
  }
}
