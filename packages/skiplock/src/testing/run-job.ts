import type { JobWithInput } from '../definition.js';
import { performInline, type InlineOptions } from '../perform.js';
import { failureOutcome, type Outcome } from '../worker/outcome.js';

/** What one run of a handler ended in, as a worker would record it. */
export type RunJobResult = Exclude<Outcome, { state: 'available' }>;

/**
 * Runs a job's handler once, in this process, as a worker would (JSON round trip, schema,
 * hooks), and returns what the attempt ended in instead of throwing: `completed`, `retryable`
 * (with the delay its error policy gives), `discarded`, `snoozed` or `cancelled`. For unit tests of
 * handlers.
 *
 * @example
 * expect(await runJob(sendWelcome, { userId: 'u1' })).toEqual({ state: 'completed' });
 */
export async function runJob<Input>(
  job: JobWithInput<Input>,
  args: Input,
  options: InlineOptions = {},
): Promise<RunJobResult> {
  const attempt = options.attempt ?? 1;
  try {
    await performInline(job, args, undefined, options);
    return { state: 'completed' };
  } catch (thrown) {
    return failureOutcome(thrown, {
      attempt,
      maxAttempts: job.maxAttempts,
      backoff: job.backoff,
      policy: job.errorPolicy,
      worker: 'runJob',
    }) as RunJobResult;
  }
}
