import type pg from 'pg';
import type { Logger } from 'pino';
import { infraBackoffMs } from './infra-retry.js';
import { NOTIFY_QUEUES_SQL } from './sql/lease.js';
import { namedStatement } from './sql/statement.js';

/** What one enqueue on the pool is to do about waking the workers (from {@link Waker.begin}). */
export interface WakeTicket {
  /** Whether its statement notifies (its own queues, and `extra`). */
  readonly notify: boolean;
  /** Queues of jobs other enqueues committed meanwhile, to notify along with its own. */
  readonly extra: readonly string[];
}

/** The wake-up statement (the channel is a parameter: one statement for every instance). */
const NOTIFY_QUEUES = namedStatement('wake', NOTIFY_QUEUES_SQL);
/** How long queues left to wake may wait for an enqueue to carry them before a NOTIFY of their own. */
const CARRY_WAIT_MS = 2;
/** The same while a notifying statement is in flight (it may be a long bulk insert). */
const RIDER_WAIT_MS = 20;
/** After a notification, how long no enqueue notifies (their queues are carried after it). */
const QUIET_MS = 2;
/** Failed wake-up sends tried again (with backoff) before the queues are left to the workers' polls. */
const MAX_SEND_FAILURES = 5;

/**
 * Wakes the workers for enqueues on Skiplock's own pool. A NOTIFY takes a database-wide lock at
 * commit, held through the WAL flush, so transactions that notify commit one at a time (bench S1:
 * concurrent enqueues that all notify run at a third of the rate without NOTIFY). So at most one
 * statement of an instance notifies at a time, and none in the 2 ms after a notification: an enqueue
 * that starts meanwhile commits without a NOTIFY and leaves its queues here; the first enqueue to
 * start after that carries them in its own notifying statement, or, if none starts within 2 ms more
 * (20 ms while a notifying statement is still in flight), one `pg_notify` statement does. An
 * occasional enqueue therefore notifies in its own insert (one round trip, like a NOTIFY trigger),
 * a stream of enqueues about once per 2 ms; no committed job waits for its wake-up more than about
 * 25 ms plus the carrying statement (a bulk insert that carries it commits first), unless the
 * wake-up statement fails: it is sent again after 0.2, 0.4, 0.8, 1.6 and 3.2 s, then left to polls.
 * Enqueues in a caller's transaction do not come here: they notify in that transaction, whose
 * commit is the only moment anyone may be woken.
 */
export class Waker {
  readonly #pool: pg.Pool;
  readonly #channel: string;
  readonly #logger: Logger;
  /** Queues whose committed jobs no notification has covered yet. */
  #pending = new Set<string>();
  /** A notifying statement (an enqueue's or our own) is in flight. */
  #notifying = false;
  /** Until when (`performance.now()`) enqueues do not notify: a notification was just sent. */
  #quietUntil = 0;
  #timer: NodeJS.Timeout | undefined;
  #sending: Promise<void> | undefined;
  /** Sends in a row that failed: the next waits longer; past the last, the queues are left to polling. */
  #failures = 0;

  constructor(pool: pg.Pool, channel: string, logger: Logger) {
    this.#pool = pool;
    this.#channel = channel;
    this.#logger = logger;
  }

  /**
   * An enqueue on the pool is about to send its statement. Pair with {@link end}. A statement that
   * may wait (`mayWait`: a unique key another transaction holds blocks it until that one ends,
   * maybe for long) notifies for its own jobs but carries no one else's: theirs go out on time.
   */
  begin(mayWait = false): WakeTicket {
    if (this.#notifying || performance.now() < this.#quietUntil) return { notify: false, extra: [] };
    this.#notifying = true;
    if (mayWait) return { notify: true, extra: [] };
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const extra = [...this.#pending];
    this.#pending.clear();
    return { notify: true, extra };
  }

  /**
   * The enqueue's statement is done: `queues` received available jobs. After a failure (`failed`)
   * its jobs may still have committed (a later step of the enqueue failed), so `queues` are woken
   * anyway, with those it was to carry: a spurious wake-up costs one empty claim.
   */
  end(ticket: WakeTicket, queues: Iterable<string>, failed: boolean): void {
    if (ticket.notify) {
      this.#notifying = false;
      this.#quietUntil = performance.now() + QUIET_MS;
    }
    if (failed) for (const queue of ticket.extra) this.#pending.add(queue);
    if (failed || !ticket.notify) for (const queue of queues) this.#pending.add(queue);
    // Owed wake-ups wait a moment past the quiet time for an enqueue to carry them, a little longer
    // while one that notifies is in flight (a NOTIFY beside it would make the two commits take
    // turns), never more.
    if (this.#pending.size === 0) return;
    if (this.#timer && !ticket.notify) return;
    this.#arm(this.#notifying ? RIDER_WAIT_MS : this.#carryWaitMs());
  }

  /** The wait for an enqueue to carry owed wake-ups when none notifies: the quiet time left, and a moment. */
  #carryWaitMs(): number {
    return Math.max(0, this.#quietUntil - performance.now()) + CARRY_WAIT_MS;
  }

  /** Sends the owed wake-ups in `ms`, unless an enqueue carries them first. */
  #arm(ms: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#startSending();
    }, ms);
  }

  /** Resolves once every wake-up owed so far was sent (or failed). */
  async flush(): Promise<void> {
    while (this.#pending.size > 0 || this.#sending) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#startSending();
      await this.#sending;
    }
  }

  /** Sends the owed wake-ups unless a send is under way. */
  #startSending(): void {
    if (this.#sending !== undefined || this.#pending.size === 0) return;
    this.#sending = this.#send().finally(() => {
      this.#sending = undefined;
    });
  }

  /**
   * Sends what no enqueue carried within the moment. Queues owed while it ran wait, like any, for
   * the next enqueue past the quiet time to carry them: sending them at once would notify twice
   * within the quiet time.
   */
  async #send(): Promise<void> {
    const queues = [...this.#pending];
    this.#pending.clear();
    this.#notifying = true;
    try {
      await this.#pool.query({ ...NOTIFY_QUEUES, values: [this.#channel, queues] });
      this.#quietUntil = performance.now() + QUIET_MS;
      this.#failures = 0;
    } catch (error) {
      this.#failures += 1;
      if (this.#failures <= MAX_SEND_FAILURES) {
        // Owed still: sent again after a pause (a dropped connection, a restart).
        for (const queue of queues) this.#pending.add(queue);
        this.#logger.warn({ err: error, queues }, 'could not notify the workers; trying again');
        this.#arm(infraBackoffMs(this.#failures));
        return;
      }
      this.#failures = 0;
      // Workers still poll: the jobs run, a poll interval later.
      this.#logger.warn({ err: error, queues }, 'could not notify the workers; they will find the jobs by polling');
    } finally {
      this.#notifying = false;
    }
    if (this.#pending.size > 0) this.#arm(this.#carryWaitMs());
  }
}
