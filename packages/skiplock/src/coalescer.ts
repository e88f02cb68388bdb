import type { EnqueueResult } from './definition.js';
import type { InputRow } from './enqueue.js';

/** Writes validated jobs in one statement on the pool, one result per row, in order. */
export type InsertStatement = (rows: readonly InputRow[]) => Promise<EnqueueResult[]>;

/** Most jobs a shared statement takes; a batch this large is written alone. */
const MAX_SHARED_ROWS = 500;
/** Most JSON (arguments and metadata, in characters) a shared statement takes; likewise. */
const MAX_SHARED_JSON = 16 * 1024 * 1024;

/** An enqueue waiting for a statement. */
interface Member {
  readonly rows: readonly InputRow[];
  /** Characters of JSON in `rows`. */
  readonly json: number;
  readonly resolve: (results: EnqueueResult[]) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Joins concurrent enqueues on Skiplock's pool into shared statements, as a database joins
 * concurrent commits into one WAL flush. An enqueue goes out at the end of the event loop's turn
 * while fewer than `maxInFlight` statements are running, with every enqueue of that turn; otherwise
 * it waits for one of them to finish and then goes out with every enqueue that arrived meanwhile,
 * in one insert and one commit. A lone enqueue therefore waits for nobody, and ten concurrent ones
 * cost Postgres a few statements instead of ten (each statement costs far more than each row).
 *
 * The enqueues of a shared statement commit together; each caller still gets its own results. If
 * Postgres rejects the statement because of a row (one job broke a rule or a trigger of the table),
 * nothing of it committed, and each enqueue is tried alone, so that only the one at fault fails. If
 * it fails otherwise (a timeout; a dropped connection, after which the commit may or may not have
 * happened), every one of its enqueues gets that error, as a lone insert's caller would. Enqueues
 * with unique keys and large batches (500 jobs, or 16 MiB of JSON) are always written alone: they
 * gain nothing from company, and a statement must stay far below Postgres's 1 GB message limit.
 * While a shared statement waits (say, on a lock a caller holds on the jobs table), the enqueues
 * queued behind it wait too.
 */
export class InsertCoalescer {
  readonly #statement: InsertStatement;
  readonly #maxInFlight: number;
  #inFlight = 0;
  #waiting: Member[] = [];
  #sendScheduled = false;

  constructor(statement: InsertStatement, maxInFlight: number) {
    this.#statement = statement;
    this.#maxInFlight = maxInFlight;
  }

  /** Writes `rows`, alone or with other enqueues; resolves to their results. */
  insert(rows: readonly InputRow[]): Promise<EnqueueResult[]> {
    const json = rows.reduce((sum, row) => sum + row.args.length + row.metadata.length, 0);
    if (rows.length >= MAX_SHARED_ROWS || json >= MAX_SHARED_JSON || rows.some((row) => row.unique_key !== null)) {
      return this.#statement(rows);
    }
    return new Promise((resolve, reject) => {
      this.#waiting.push({ rows, json, resolve, reject });
      this.#scheduleSend();
    });
  }

  /**
   * Sends the waiting enqueues once this turn of the event loop is over, if a statement may start:
   * callers woken by one statement's reply enqueue again in the same turn, and go out together.
   */
  #scheduleSend(): void {
    if (this.#sendScheduled || this.#inFlight >= this.#maxInFlight || this.#waiting.length === 0) return;
    this.#sendScheduled = true;
    setImmediate(() => {
      this.#sendScheduled = false;
      this.#sendWaiting();
    });
  }

  /** Sends the waiting enqueues, oldest first, as many as one statement takes. */
  #sendWaiting(): void {
    let rows = 0;
    let json = 0;
    let count = 0;
    for (const member of this.#waiting) {
      if (count > 0 && (rows + member.rows.length > MAX_SHARED_ROWS || json + member.json > MAX_SHARED_JSON)) break;
      rows += member.rows.length;
      json += member.json;
      count += 1;
    }
    if (count === 0) return;
    const members = this.#waiting.splice(0, count);
    this.#inFlight += 1;
    void this.#write(members).finally(() => {
      this.#inFlight -= 1;
      this.#scheduleSend();
    });
    this.#scheduleSend(); // more than one statement takes, and a statement may still start
  }

  async #write(members: readonly Member[]): Promise<void> {
    let results: EnqueueResult[];
    try {
      results = await this.#statement(members.flatMap((member) => member.rows));
    } catch (error) {
      if (members.length === 1 || !rejectedForARow(error)) {
        for (const member of members) member.reject(error);
        return;
      }
      // One at a time, in the order they came: ids keep that order.
      for (const member of members) await this.#statement(member.rows).then(member.resolve, member.reject);
      return;
    }
    let at = 0;
    for (const member of members) {
      member.resolve(results.slice(at, at + member.rows.length));
      at += member.rows.length;
    }
  }
}

/**
 * Whether one job's row made Postgres reject the statement, which then did not commit: a data
 * exception (SQLSTATE class 22), an integrity violation (23) or a trigger's RAISE (P0). Told by the
 * SQLSTATE, not by the severity, which Postgres words in the server's language. Other errors (a
 * timeout, a dropped or terminated connection, after which the commit may have happened) would fail
 * each job alone just the same, or are not safe to repeat.
 */
function rejectedForARow(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^(22|23|P0)[0-9A-Z]{3}$/.test(code);
}
