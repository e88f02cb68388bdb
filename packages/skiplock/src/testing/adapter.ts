import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import { currentDefaultEnqueuer, setDefaultEnqueuer, type Enqueuer } from '../default-instance.js';
import type { AnyJobDefinition, EnqueueResult, JobRequest } from '../definition.js';
import { DEFAULT_ENQUEUE_CONFIG, toInputRows, type InputRow } from '../enqueue.js';
import { defaultLogger } from '../logger.js';
import type { PerformMiddleware } from '../middleware.js';
import type { JsonValue } from '../payload.js';
import { performInline, type InlineEnvironment } from '../perform.js';

/** A job the test adapter holds instead of a row. */
export interface EnqueuedJob {
  id: string;
  /** The definition that enqueued it. */
  job: AnyJobDefinition;
  name: string;
  /** The arguments after a JSON round trip, as a worker would read them. */
  args: Record<string, JsonValue>;
  queue: string;
  priority: number;
  /** Attempts it may use (the enqueue's option, else the definition's). */
  maxAttempts: number;
  runAt: Date;
  uniqueKey: string | null;
  metadata: Record<string, JsonValue>;
}

/** Which enqueued jobs {@link TestAdapter.performEnqueued} runs. */
export interface PerformEnqueuedOptions {
  /** Only jobs of these definitions. */
  only?: readonly AnyJobDefinition[];
  /** Not jobs of these definitions. */
  except?: readonly AnyJobDefinition[];
  /** Only jobs of this queue. */
  queue?: string;
  /** Run jobs due by this time (default: now, so scheduled jobs wait). */
  at?: Date;
}

/** Options of {@link TestAdapter}. */
export interface TestAdapterOptions {
  /** Perform middleware to run jobs through, as a Skiplock instance would. */
  middleware?: readonly PerformMiddleware[];
  logger?: Logger;
}

/**
 * An in-memory stand-in for the database in unit tests (Active Job's test adapter). Once installed,
 * `performLater` validates and JSON-round-trips the job exactly as it would for Postgres, runs its
 * enqueue hooks, and keeps it here; `performEnqueued` runs the held jobs through the same
 * validation, hooks and middleware as a worker.
 *
 * @example
 * const jobs = new TestAdapter().install();
 * await signup('ada@example.com');
 * expect(jobs.enqueued(sendWelcome)).toHaveLength(1);
 * await jobs.performEnqueued();
 * jobs.uninstall();
 */
export class TestAdapter implements Enqueuer {
  readonly inline: InlineEnvironment;
  #jobs: EnqueuedJob[] = [];
  #nextId = 1;
  #previous: Enqueuer | undefined;

  constructor(options: TestAdapterOptions = {}) {
    this.inline = {
      middleware: options.middleware ?? [],
      logger: options.logger ?? defaultLogger(),
      db: undefined,
      maxPayloadBytes: DEFAULT_ENQUEUE_CONFIG.maxPayloadBytes,
    };
  }

  /** Makes `performLater` (and `performNow`) go through this adapter until {@link uninstall}. */
  install(): this {
    this.#previous = currentDefaultEnqueuer();
    setDefaultEnqueuer(this);
    return this;
  }

  /** Puts back the instance that was the default before {@link install}. */
  uninstall(): void {
    if (currentDefaultEnqueuer() === this) setDefaultEnqueuer(this.#previous);
  }

  /** @internal The path `performLater` takes (its `db` is ignored: nothing touches a database). */
  async enqueueOne(request: JobRequest): Promise<EnqueueResult> {
    const [result] = await this.performAllLater([request]);
    return result as EnqueueResult;
  }

  /** Enqueues many jobs at once, like `skiplock.performAllLater`. */
  async performAllLater(requests: readonly JobRequest[]): Promise<EnqueueResult[]> {
    const results: EnqueueResult[] = [];
    for (const request of requests) {
      const { job } = request;
      if ((await job.hooks.beforeEnqueue?.(request.args, request.options)) === false) {
        results.push({
          status: 'skipped',
          id: null,
          name: job.name,
          queue: request.options.queue ?? job.queueFor(request.args),
        });
        continue;
      }
      const [row] = (await toInputRows([request], DEFAULT_ENQUEUE_CONFIG)) as [InputRow];
      const holder = row.unique_key === null ? undefined : this.#jobs.find((held) => held.uniqueKey === row.unique_key);
      let result: EnqueueResult;
      if (holder) {
        result = { status: 'duplicate', id: holder.id, name: job.name, queue: holder.queue };
      } else {
        const runAt = new Date(row.run_at?.getTime() ?? Date.now() + (row.wait_ms ?? 0));
        const held: EnqueuedJob = {
          id: String(this.#nextId++),
          job,
          name: job.name,
          args: JSON.parse(row.args) as Record<string, JsonValue>,
          queue: row.queue,
          priority: row.priority,
          maxAttempts: row.max_attempts,
          runAt,
          uniqueKey: row.unique_key,
          metadata: JSON.parse(row.metadata) as Record<string, JsonValue>,
        };
        this.#jobs.push(held);
        const state = runAt.getTime() > Date.now() ? 'scheduled' : 'available';
        result = { status: 'enqueued', id: held.id, name: job.name, queue: held.queue, state };
      }
      await job.hooks.afterEnqueue?.(request.args, result);
      results.push(result);
    }
    return results;
  }

  /** The jobs held (of one definition, when given), oldest first. */
  enqueued(job?: AnyJobDefinition): EnqueuedJob[] {
    return this.#jobs.filter((held) => job === undefined || held.job === job);
  }

  /**
   * Runs the held jobs that match and are due, oldest first, and removes them; jobs they enqueue
   * run too when they match. Rejects with the first handler error (that job is removed as well).
   * Returns how many jobs ran.
   */
  async performEnqueued(options: PerformEnqueuedOptions = {}): Promise<number> {
    const matches = (held: EnqueuedJob) =>
      (options.only === undefined || options.only.includes(held.job)) &&
      !(options.except ?? []).includes(held.job) &&
      (options.queue === undefined || held.queue === options.queue) &&
      held.runAt.getTime() <= (options.at ?? new Date()).getTime();
    let ran = 0;
    for (let next = this.#jobs.find(matches); next; next = this.#jobs.find(matches)) {
      const held = next;
      this.#jobs = this.#jobs.filter((other) => other !== held);
      ran += 1;
      const { id, queue, maxAttempts, metadata } = held;
      await performInline(held.job, held.args, this.inline, { id, queue, maxAttempts, metadata });
    }
    return ran;
  }

  /** Forgets every held job. */
  clear(): void {
    this.#jobs = [];
  }
}

/** True when `actual` has every field of `expected` with an equal value (deeply; extra fields are fine). */
export function partialMatch(actual: unknown, expected: unknown): boolean {
  if (typeof expected !== 'object' || expected === null || Array.isArray(expected)) {
    return isDeepStrictEqual(actual, expected);
  }
  if (typeof actual !== 'object' || actual === null) return false;
  return Object.entries(expected).every(([key, value]) =>
    partialMatch((actual as Record<string, unknown>)[key], value),
  );
}
