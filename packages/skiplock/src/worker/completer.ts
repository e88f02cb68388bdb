import type pg from 'pg';
import type { Logger } from 'pino';
import { infraBackoffMs, isTransientError } from '../infra-retry.js';
import { completeSql, completeValues, finishSql, finishValues, successStatesSql } from '../sql/finish.js';
import { namedStatement, type Statement } from '../sql/statement.js';
import type { Outcome } from './outcome.js';

interface Pending {
  id: string;
  attempt: number;
  outcome: Outcome;
  /** The job's name: the heartbeat extends its lease (the name's) until the outcome is written. */
  name: string;
}

/** Options of the batched completer. */
export interface CompleterOptions {
  /** Most outcomes in one statement. */
  maxBatch: number;
  /** How long an outcome may wait for others to join its batch, in ms. */
  flushDelayMs: number;
  /** Attempts at a batch that keeps failing with a non-transient error before it is left to rescue. */
  maxFailures: number;
  /** Called after each batch is written (the worker claims again if it was waiting on the completer). */
  onWritten?: () => void;
}

/**
 * Collects attempt outcomes and writes them in batches (one UPDATE per batch), flushing when a
 * batch is full or `flushDelayMs` after its first outcome. One statement is in flight at a time;
 * transient database errors keep the outcomes and retry with backoff.
 */
export class Completer {
  readonly #pool: pg.Pool;
  readonly #finishSql: Statement;
  readonly #completeSql: Statement;
  readonly #successStatesSql: string;
  readonly #workerId: string;
  readonly #logger: Logger;
  readonly #options: CompleterOptions;
  #buffer: Pending[] = [];
  /** The batch whose statement is in flight (or being written one by one). */
  #writing: readonly Pending[] = [];
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;

  constructor(pool: pg.Pool, quotedSchema: string, workerId: string, logger: Logger, options: CompleterOptions) {
    this.#pool = pool;
    // Named: parsed and planned once per connection.
    this.#finishSql = namedStatement('finish', finishSql(quotedSchema));
    this.#completeSql = namedStatement('complete', completeSql(quotedSchema));
    // Only when a batch of successes was not all written: not worth a prepared statement.
    this.#successStatesSql = successStatesSql(quotedSchema);
    this.#workerId = workerId;
    this.#logger = logger;
    this.#options = options;
  }

  /** Outcomes not yet written. */
  get pending(): number {
    return this.#buffer.length;
  }

  /**
   * The jobs whose outcome is not yet written, queued or being written (their lease must still be
   * kept alive: a write that takes longer than a lease would otherwise see the job rescued and run
   * again).
   */
  pendingJobs(): { id: string; name: string; attempt: number }[] {
    return [...this.#writing, ...this.#buffer];
  }

  /** Queues the outcome of attempt `attempt` at job `id` (named `name`) for the next batch. */
  push(id: string, attempt: number, outcome: Outcome, name: string): void {
    this.#buffer.push({ id, attempt, outcome, name });
    if (this.#buffer.length >= this.#options.maxBatch) this.#startFlush();
    else this.#timer ??= setTimeout(() => this.#startFlush(), this.#options.flushDelayMs);
  }

  /** Writes everything queued so far; resolves when it is written (or given up to rescue). */
  async flush(): Promise<void> {
    while (this.#buffer.length > 0 || this.#flushing) {
      this.#startFlush();
      await this.#flushing;
    }
  }

  #startFlush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#flushing || this.#buffer.length === 0) return;
    this.#flushing = this.#flushLoop().finally(() => {
      this.#flushing = undefined;
      if (this.#buffer.length > 0) this.#timer ??= setTimeout(() => this.#startFlush(), this.#options.flushDelayMs);
    });
  }

  async #flushLoop(): Promise<void> {
    let failures = 0;
    while (this.#buffer.length > 0) {
      const batch = partition(this.#buffer, this.#options.maxBatch);
      this.#writing = batch;
      try {
        await this.#write(batch);
        failures = 0;
        this.#options.onWritten?.();
        continue;
      } catch (error) {
        failures += 1;
        if (!isTransientError(error) && failures >= this.#options.maxFailures) {
          await this.#writeOneByOne(batch);
          failures = 0;
          continue;
        }
        this.#logger.warn({ err: error, size: batch.length }, 'recording outcomes failed; retrying');
      } finally {
        this.#writing = [];
      }
      // A failed write, not yet given up on: the batch goes back, to be written with what came meanwhile.
      this.#buffer.unshift(...batch);
      await new Promise((resolve) => setTimeout(resolve, infraBackoffMs(failures)));
    }
  }

  /**
   * After a batch keeps failing for a non-transient reason: isolate the bad outcome, write the rest.
   * An outcome whose own write meets an infrastructure error goes back to be written with the next.
   */
  async #writeOneByOne(batch: Pending[]): Promise<void> {
    for (const item of batch) {
      try {
        await this.#write([item]);
      } catch (error) {
        if (isTransientError(error)) {
          this.#buffer.push(item);
          continue;
        }
        this.#logger.error(
          { err: error, jobId: item.id, outcome: item.outcome.state },
          'cannot record this outcome; the job will be rescued when its lease expires',
        );
      }
    }
  }

  /** Writes outcomes of one kind (all successes, or none): see {@link partition}. */
  async #write(batch: Pending[]): Promise<void> {
    const stale =
      batch[0]?.outcome.state === 'completed' ? await this.#writeSuccesses(batch) : await this.#writeOutcomes(batch);
    for (const item of stale) {
      this.#logger.warn(
        { jobId: item.id, attempt: item.attempt, outcome: item.outcome.state },
        'stale write ignored: the job is no longer held by this worker at this attempt',
      );
    }
  }

  /**
   * Writes successes; returns those not written: when the row count falls short, the jobs that are
   * not completed at the attempt this worker ran (or no longer exist).
   */
  async #writeSuccesses(batch: Pending[]): Promise<Pending[]> {
    const values = completeValues(batch, this.#workerId);
    const { rowCount } = await this.#pool.query({ ...this.#completeSql, values });
    if (rowCount === batch.length) return [];
    const [, ids] = values;
    const { rows } = await this.#pool.query<{ id: string; state: string; attempt: number }>(this.#successStatesSql, [
      ids,
    ]);
    const completed = new Set(rows.filter((row) => row.state === 'completed').map((row) => `${row.id}:${row.attempt}`));
    return batch.filter((item) => !completed.has(`${item.id}:${item.attempt}`));
  }

  /** Writes other outcomes; returns those not written (the statement returns the ids it wrote). */
  async #writeOutcomes(batch: Pending[]): Promise<Pending[]> {
    const statement = { ...this.#finishSql, values: finishValues(batch, this.#workerId) };
    const { rows } = await this.#pool.query<{ id: string }>(statement);
    if (rows.length === batch.length) return [];
    const written = new Set(rows.map((row) => row.id));
    return batch.filter((item) => !written.has(item.id));
  }
}

/**
 * Takes the next batch off `buffer`: up to `max` outcomes of one kind, successes (written by the
 * leaner statement) or the rest, whichever kind comes first.
 */
function partition(buffer: Pending[], max: number): Pending[] {
  const successes = (buffer[0] as Pending).outcome.state === 'completed';
  const batch: Pending[] = [];
  const rest: Pending[] = [];
  for (const item of buffer) {
    if (batch.length < max && (item.outcome.state === 'completed') === successes) batch.push(item);
    else rest.push(item);
  }
  buffer.length = 0;
  for (const item of rest) buffer.push(item);
  return batch;
}
