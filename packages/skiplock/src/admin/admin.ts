import type pg from 'pg';
import { InvalidArgumentError, JobNotFoundError, JobStateError } from '../errors.js';
import { isTransientError } from '../infra-retry.js';
import type { JsonValue } from '../payload.js';
import { prune, type PruneOptions, type PruneResult, type RetentionMs } from '../prune.js';
import {
  batchActionSql,
  CANCEL,
  DELETE,
  getJobSql,
  listJobsSql,
  listWorkersSql,
  RETRY,
  setQueuePausedSql,
  statsSql,
  type BatchAction,
} from '../sql/admin.js';
import { NOTIFY_QUEUES_SQL } from '../sql/lease.js';
import { filterConditions, jobId, MAX_JOB_ID, queueName, type JobFilter, type JobState } from './filter.js';

/** A job as listings show it. */
export interface JobSummary {
  id: string;
  name: string;
  queue: string;
  state: JobState;
  priority: number;
  attempt: number;
  maxAttempts: number;
  runAt: Date;
  createdAt: Date;
  attemptedAt: Date | null;
  finishedAt: Date | null;
  /** The worker running it (running jobs only). */
  lockedBy: string | null;
  uniqueKey: string | null;
  /** When an operator cancelled it (a running job stops soon after). */
  cancelRequestedAt: Date | null;
  /** The message of its latest error, if any. */
  lastError: string | null;
}

/** One entry of a job's error history. */
export interface StoredError {
  attempt: number;
  /** When the attempt failed (Postgres clock, ISO 8601). */
  at: string;
  name: string;
  message: string;
  stack: string | null;
  worker: string | null;
}

/** A job with everything stored about it. */
export interface JobDetails extends JobSummary {
  args: Record<string, JsonValue>;
  metadata: Record<string, JsonValue>;
  /** One entry per failed attempt, oldest first. */
  errors: StoredError[];
  leaseExpiresAt: Date | null;
}

/** A page of {@link Admin.listJobs}. */
export interface JobPage {
  jobs: JobSummary[];
  /** Pass as `after` for the next (older) page; null on the last page. */
  nextCursor: string | null;
}

/** Options of {@link Admin.listJobs}. */
export interface ListJobsOptions extends JobFilter {
  /** Jobs per page (50, at most 1000). */
  limit?: number;
  /** The `nextCursor` of the previous page. */
  after?: string;
}

/** Per-queue counts, as the `queue_stats` view has them. */
export interface QueueStats {
  queue: string;
  paused: boolean;
  available: number;
  scheduled: number;
  running: number;
  retryable: number;
  discarded: number;
  cancelled: number;
  /** Jobs whose run_at has come (available, or scheduled/retryable and due). */
  due: number;
  oldestDueAt: Date | null;
  /** How long the oldest due job has waited, in seconds (null when none is due). */
  oldestWaitSeconds: number | null;
  /** Jobs completed in the last minute, and in the last five. */
  completed1m: number;
  completed5m: number;
}

/** A registered worker. */
export interface WorkerInfo {
  id: string;
  queues: string[];
  host: string;
  pid: number;
  startedAt: Date;
  lastHeartbeatAt: Date;
  heartbeatAgeSeconds: number;
  /** Jobs it is running now. */
  running: number;
}

/** What a cancel did. */
export interface CancelResult {
  /** Queued jobs now `cancelled`. */
  cancelled: number;
  /** Running jobs whose worker was told to abort them (they become `cancelled` within a second). */
  requested: number;
}

/** What {@link Admin} needs from its Skiplock instance. */
export interface AdminEnvironment {
  pool: pg.Pool;
  schema: string;
  quotedSchema: string;
  jobsChannel: string;
  cancelChannel: string;
  retention: RetentionMs;
}

const BATCH_SIZE = 1000;
/** SQLSTATE of a unique index refusing a row. */
const UNIQUE_VIOLATION = '23505';

/**
 * Inspects and repairs jobs: the one place the CLI, SQL-minded tools and a dashboard go through.
 * Reach it as `skiplock.admin`. Every listing and count reads through partial indexes, so it stays
 * fast with millions of finished rows; bulk actions work in batches of 1,000 rows, each its own
 * short transaction.
 */
export class Admin {
  readonly #env: AdminEnvironment;

  constructor(env: AdminEnvironment) {
    this.#env = env;
  }

  /**
   * Lists jobs newest first, a page at a time (keyset pagination: pass `nextCursor` as `after`).
   *
   * @example
   * const { jobs, nextCursor } = await skiplock.admin.listJobs({ state: 'discarded', queue: 'mailers' });
   */
  async listJobs(options: ListJobsOptions = {}): Promise<JobPage> {
    const limit = options.limit ?? 50;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
      throw new InvalidArgumentError(`limit must be an integer from 1 to 1000, got ${options.limit}`);
    }
    const params: unknown[] = [
      options.after === undefined ? String(MAX_JOB_ID) : jobId(options.after, 'after (a nextCursor)'),
      limit + 1,
    ];
    const where = filterConditions(options, params);
    const result = await this.#env.pool.query<JobSummary>(listJobsSql(this.#env.quotedSchema, where), params);
    const jobs = result.rows.slice(0, limit);
    return { jobs, nextCursor: result.rows.length > limit ? (jobs.at(-1)?.id ?? null) : null };
  }

  /**
   * One job with its arguments, metadata and full error history.
   *
   * @throws JobNotFoundError when no job has this id.
   */
  async getJob(id: string | number): Promise<JobDetails> {
    const checked = jobId(id);
    const result = await this.#env.pool.query<JobDetails>(getJobSql(this.#env.quotedSchema), [checked]);
    const job = result.rows[0];
    if (!job) throw new JobNotFoundError(checked);
    return job;
  }

  /**
   * Makes a retryable, discarded or cancelled job available now (giving it one more attempt if it
   * used them all).
   *
   * @throws JobNotFoundError, or JobStateError when its state or unique key does not allow it.
   */
  async retryJob(id: string | number): Promise<JobDetails> {
    return this.getJob((await this.#one(id, RETRY, 'retried')).id);
  }

  /**
   * Cancels a job: a queued one becomes `cancelled` (`{ cancelled: 1 }`); a running one is aborted
   * by its worker within about a second (its `ctx.signal` fires) and then recorded `cancelled`
   * (`{ requested: 1 }`).
   *
   * @throws JobNotFoundError, or JobStateError for a job that already finished.
   */
  async cancelJob(id: string | number): Promise<CancelResult> {
    const { running } = await this.#one(id, CANCEL, 'cancelled');
    return { cancelled: 1 - running, requested: running };
  }

  /**
   * Deletes a job that is not running.
   *
   * @throws JobNotFoundError, or JobStateError for a running job (cancel it first).
   */
  async deleteJob(id: string | number): Promise<void> {
    await this.#one(id, DELETE, 'deleted');
  }

  /** Retries every retryable, discarded or cancelled job matching `filter`; returns how many. */
  async retryJobs(filter: JobFilter): Promise<number> {
    return (await this.#batched(filter, RETRY)).changed;
  }

  /** Cancels every queued or running job matching `filter`. */
  async cancelJobs(filter: JobFilter): Promise<CancelResult> {
    const { changed, running } = await this.#batched(filter, CANCEL);
    return { cancelled: changed - running, requested: running };
  }

  /** Deletes every job matching `filter` that is not running; returns how many. */
  async deleteJobs(filter: JobFilter): Promise<number> {
    return (await this.#batched(filter, DELETE)).changed;
  }

  /** Per-queue counts, oldest waiting job and recent throughput (the `queue_stats` view). */
  async stats(): Promise<QueueStats[]> {
    return (await this.#env.pool.query<QueueStats>(statsSql(this.#env.quotedSchema))).rows;
  }

  /** Pauses a queue: no replica claims its jobs until it is resumed (running jobs finish). */
  async pauseQueue(queue: string): Promise<void> {
    await this.#env.pool.query(setQueuePausedSql(this.#env.quotedSchema), [queueName(queue), true]);
  }

  /** Resumes a paused queue and wakes the workers serving it. */
  async resumeQueue(queue: string): Promise<void> {
    await this.#env.pool.query(setQueuePausedSql(this.#env.quotedSchema), [queueName(queue), false]);
    await this.#env.pool.query(NOTIFY_QUEUES_SQL, [this.#env.jobsChannel, [queue]]);
  }

  /** Registered workers, from their heartbeats (a worker that died disappears after ten minutes). */
  async listWorkers(): Promise<WorkerInfo[]> {
    return (await this.#env.pool.query<WorkerInfo>(listWorkersSql(this.#env.quotedSchema))).rows;
  }

  /**
   * Deletes finished jobs past the instance's retention now, in small batches (workers do this
   * every minute on their own). Does nothing while another pruner is at work.
   */
  async prune(options?: PruneOptions): Promise<PruneResult> {
    return prune(
      this.#env.pool,
      { name: this.#env.schema, quoted: this.#env.quotedSchema },
      this.#env.retention,
      options,
    );
  }

  /** Applies `action` to one job, or explains why it could not. */
  async #one(id: string | number, action: BatchAction, done: string): Promise<{ id: string; running: number }> {
    const checked = jobId(id);
    const { changed, running } = await this.#batched({ ids: [checked] }, action);
    if (changed === 1) return { id: checked, running };
    const job = await this.getJob(checked);
    const heldKey = action === RETRY && action.states.includes(job.state) && job.uniqueKey !== null;
    throw new JobStateError(
      checked,
      heldKey
        ? `cannot be retried while another unfinished job holds its unique key "${job.uniqueKey}"`
        : `is ${job.state}: only ${action.states.join(', ')} jobs can be ${done}`,
    );
  }

  /** Runs `action` over every job matching `filter`, a batch (its own transaction) at a time. */
  async #batched(filter: JobFilter, action: BatchAction): Promise<{ changed: number; running: number }> {
    const params: unknown[] = [BATCH_SIZE, '0'];
    if (action.notify) params.push(action === CANCEL ? this.#env.cancelChannel : this.#env.jobsChannel);
    const sql = batchActionSql(this.#env.quotedSchema, filterConditions(filter, params), action);
    let changed = 0;
    let running = 0;
    for (let conflicts = 0; ;) {
      let batch: { lastId: string | null; changed: number; running: number } | undefined;
      try {
        batch = (await this.#env.pool.query<typeof batch & object>(sql, params)).rows[0];
      } catch (error) {
        // A deadlock with a worker's batched write, or a retry whose unique key an enqueue committing
        // meanwhile took (its check could not see it yet): the batch rolled back whole; run it again,
        // and the key's new holder is seen this time.
        const { code, constraint } = error as { code?: string; constraint?: string };
        const keyTaken = code === UNIQUE_VIOLATION && constraint === 'jobs_unique_key_idx';
        if (((isTransientError(error) && code?.startsWith('40')) || keyTaken) && ++conflicts < 5) continue;
        throw error;
      }
      conflicts = 0;
      if (!batch?.lastId) return { changed, running };
      changed += batch.changed;
      running += batch.running;
      params[1] = batch.lastId;
    }
  }
}
