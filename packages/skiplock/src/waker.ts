import type pg from 'pg';
import type { Logger } from 'pino';
import { WAKE_SQL } from './sql/enqueue.js';

/**
 * Wakes the workers after jobs committed on Skiplock's own pool. A NOTIFY inside the enqueueing
 * transaction takes a database-wide lock at commit, held through the WAL flush, so concurrent
 * notifying enqueues commit one at a time (bench S1: a third of the rate without NOTIFY). So an
 * enqueue that overlaps others of the same instance commits without one, and the waker sends the
 * notifications from its own short transaction: one statement in flight per instance, carrying
 * every queue woken meanwhile, so many producers cost a few NOTIFYs, never one per job. An enqueue
 * alone notifies in its own statement (a NOTIFY-only transaction has a commit record of its own
 * to flush, which a lone producer would pay for on every job), and so does one in a caller's
 * transaction: only its commit may wake anyone.
 */
export class Waker {
  readonly #pool: pg.Pool;
  readonly #channel: string;
  readonly #logger: Logger;
  readonly #name: string;
  #pending = new Set<string>();
  #sending: Promise<void> | undefined;

  constructor(pool: pg.Pool, channel: string, logger: Logger) {
    this.#pool = pool;
    this.#channel = channel;
    this.#logger = logger;
    this.#name = `skiplock-wake-${channel}`;
  }

  /** Queues with new runnable jobs (already committed); their workers are told soon. */
  wake(queues: Iterable<string>): void {
    for (const queue of queues) this.#pending.add(queue);
    if (this.#pending.size > 0) this.#sending ??= this.#send();
  }

  /** Resolves once every wake-up asked for so far was sent (or failed). */
  async flush(): Promise<void> {
    await this.#sending;
  }

  async #send(): Promise<void> {
    while (this.#pending.size > 0) {
      const queues = [...this.#pending];
      this.#pending.clear();
      try {
        await this.#pool.query({ name: this.#name, text: WAKE_SQL, values: [this.#channel, queues] });
      } catch (error) {
        // Workers still poll: the jobs run, a poll interval later.
        this.#logger.warn({ err: error, queues }, 'could not notify the workers; they will find the jobs by polling');
      }
    }
    this.#sending = undefined;
  }
}
