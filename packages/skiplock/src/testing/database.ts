import { pino } from 'pino';
import type { JobDatabase } from '../context.js';
import { toQueryable, type Database, type Queryable } from '../db.js';
import { definitionNamed, type AnyJobDefinition, type JobWithInput } from '../definition.js';
import { quoteSchema } from '../identifiers.js';
import type { JsonValue } from '../payload.js';
import { byClaimOrder, claimSql, type ClaimedRow } from '../sql/claim.js';
import { finishSql, finishValues } from '../sql/finish.js';
import { Telemetry } from '../telemetry.js';
import { execute } from '../worker/executor.js';
import type { Outcome } from '../worker/outcome.js';
import { partialMatch } from './adapter.js';

/** What to look for with {@link expectEnqueued}. Every field given must match. */
export interface EnqueuedExpectation<Input> {
  /** Arguments the job must have (a partial match: extra fields are fine). */
  args?: Partial<Input>;
  queue?: string;
  priority?: number;
  /** When it is due, within a second. */
  runAt?: Date;
  /** The Skiplock schema (`skiplock`). */
  schema?: string;
}

/** An unfinished job row, as the expectations read it. */
export interface EnqueuedRow {
  id: string;
  name: string;
  queue: string;
  priority: number;
  state: string;
  runAt: Date;
  args: Record<string, JsonValue>;
}

async function unfinished(db: Database, job: AnyJobDefinition, schema = 'skiplock'): Promise<EnqueuedRow[]> {
  return toQueryable(db).query<EnqueuedRow>(
    `SELECT id::text AS id, name, queue, priority, state, run_at AS "runAt", args FROM ${quoteSchema(schema)}.jobs
      WHERE name = ANY($1::text[]) AND state IN ('available', 'scheduled', 'retryable')
      ORDER BY id`,
    [[job.name, ...job.aliases]],
  );
}

function matching<Input>(rows: EnqueuedRow[], expected: EnqueuedExpectation<Input>): EnqueuedRow[] {
  return rows.filter(
    (row) =>
      (expected.args === undefined || partialMatch(row.args, expected.args)) &&
      (expected.queue === undefined || row.queue === expected.queue) &&
      (expected.priority === undefined || row.priority === expected.priority) &&
      (expected.runAt === undefined || Math.abs(row.runAt.getTime() - expected.runAt.getTime()) <= 1000),
  );
}

function describe(rows: EnqueuedRow[]): string {
  if (rows.length === 0) return 'none is waiting';
  return rows
    .map(
      (row) =>
        `  #${row.id} ${row.state} queue=${row.queue} priority=${row.priority} runAt=${row.runAt.toISOString()} args=${JSON.stringify(row.args)}`,
    )
    .join('\n');
}

/**
 * Asserts that a job of `job` waits in the database (available, scheduled or retryable) and
 * matches `expected`; returns the matching rows. Reads through `db`, so it sees the uncommitted
 * rows of a test's own transaction.
 *
 * @throws an Error listing the jobs of that name that do wait, when none matches.
 */
export async function expectEnqueued<Input>(
  db: Database,
  job: JobWithInput<Input>,
  expected: EnqueuedExpectation<Input> = {},
): Promise<EnqueuedRow[]> {
  const rows = await unfinished(db, job, expected.schema);
  const found = matching(rows, expected);
  if (found.length === 0) {
    throw new Error(
      `expected a "${job.name}" job matching ${JSON.stringify({ ...expected, schema: undefined })}; of that name:\n${describe(rows)}`,
    );
  }
  return found;
}

/** Asserts that no waiting job of `job` matches `expected`. */
export async function expectNotEnqueued<Input>(
  db: Database,
  job: JobWithInput<Input>,
  expected: EnqueuedExpectation<Input> = {},
): Promise<void> {
  const found = matching(await unfinished(db, job, expected.schema), expected);
  if (found.length > 0) {
    throw new Error(
      `expected no "${job.name}" job matching ${JSON.stringify({ ...expected, schema: undefined })}; found:\n${describe(found)}`,
    );
  }
}

/** Which jobs {@link drain} runs. */
export interface DrainOptions {
  /** Only jobs of these definitions (default: every definition this process has defined). */
  only?: readonly AnyJobDefinition[];
  /** Only jobs of this queue. */
  queue?: string;
  /** Run jobs due by this time (default: now). */
  at?: Date;
  /** The Skiplock schema (`skiplock`). */
  schema?: string;
}

/** What {@link drain} ran. */
export interface DrainResult {
  /** Each run, in order: job id, name and what it ended in. */
  runs: Array<{ id: string; name: string; state: Outcome['state'] }>;
}

const DRAIN_WORKER = `drain-${process.pid}`;
const MAX_ROUNDS = 1000;

/** The queues holding due jobs of `names`. */
async function dueQueues(q: Queryable, schema: string, names: string[], options: DrainOptions): Promise<string[]> {
  if (options.queue !== undefined) return [options.queue];
  const rows = await q.query<{ queue: string }>(
    `SELECT DISTINCT queue FROM ${schema}.jobs
      WHERE state IN ('available', 'scheduled', 'retryable') AND name = ANY($1::text[])
        AND run_at <= coalesce($2::timestamptz, now())`,
    [names, options.at ?? null],
  );
  return rows.map((row) => row.queue);
}

/**
 * Runs the due jobs in the database through the real pipeline (claim, validation, hooks,
 * middleware-free handler run, recorded outcome), in this process and on `db`, until none is due —
 * jobs that the handlers enqueue included — one at a time, in the order a worker claims them
 * (priority, then run_at, then id). Inside a test's transaction everything it does rolls
 * back with the test. Transactional jobs get `db` itself as `ctx.db`. Each job runs in a savepoint:
 * a failed transactional job's writes are undone, a failed plain job's kept (as on a worker) unless
 * one of its statements failed, which aborts what it wrote (on a worker each statement commits on
 * its own).
 */
export async function drain(db: Database, options: DrainOptions = {}): Promise<DrainResult> {
  const q = toQueryable(db);
  const schema = quoteSchema(options.schema ?? 'skiplock');
  const definitions = new Map<string, AnyJobDefinition>();
  for (const job of options.only ?? []) for (const name of [job.name, ...job.aliases]) definitions.set(name, job);
  const runs: DrainResult['runs'] = [];
  // Whether `db` is in a transaction (savepoints work) cannot change during a drain: asked once.
  let savepoints = true;
  const context = {
    workerId: DRAIN_WORKER,
    logger: pino({ level: 'silent' }),
    defaultTimeoutMs: undefined,
    telemetry: new Telemetry(),
    middleware: [],
    db: db as JobDatabase,
    transaction: (fn: (tx: JobDatabase, queryable: Queryable) => Promise<void>) => fn(db as JobDatabase, q),
    finishSql: finishSql(schema),
  };
  for (let round = 0; round < MAX_ROUNDS; round += 1) {
    const names = options.only ? [...definitions.keys()] : await knownNames(q, schema);
    const queues = await dueQueues(q, schema, names, options);
    if (names.length === 0 || queues.length === 0) break;
    const due = `$${5 + queues.length}::timestamptz`;
    const claimed = await q.query<ClaimedRow>(claimSql(schema, queues.length, `coalesce(${due}, now())`), [
      names,
      100,
      DRAIN_WORKER,
      names.map(() => 3_600_000),
      ...queues,
      options.at ?? null,
    ]);
    if (claimed.length === 0) break;
    claimed.sort(byClaimOrder);
    for (const row of claimed) {
      const definition = (definitions.get(row.name) ?? definitionNamed(row.name)) as AnyJobDefinition;
      const execution = execute(definition, row, context);
      const saved: boolean = savepoints && (await beginSavepoint(q));
      savepoints = saved;
      execution.start();
      const outcome = await execution.outcome;
      if (saved) {
        await endSavepoint(
          q,
          outcome.state === 'completed' ? 'keep' : definition.transactional ? 'undo' : 'keep if able',
        );
      }
      if (!(outcome.state === 'completed' && outcome.recorded)) {
        await q.query(context.finishSql, finishValues([{ id: row.id, attempt: row.attempt, outcome }], DRAIN_WORKER));
      }
      runs.push({ id: row.id, name: row.name, state: outcome.state });
    }
  }
  return { runs };
}

/**
 * Each job runs inside a savepoint of the caller's transaction, so that a failed job leaves it
 * usable for the next one and for the outcome's write (a failed statement aborts a transaction).
 */
const JOB_SAVEPOINT = 'skiplock_drain_job';

/** Opens the job's savepoint; false when `db` is not in a transaction (a pool: nothing to keep usable). */
async function beginSavepoint(q: Queryable): Promise<boolean> {
  try {
    await q.query(`SAVEPOINT ${JOB_SAVEPOINT}`, []);
    return true;
  } catch (error) {
    if ((error as { code?: unknown }).code === NO_ACTIVE_TRANSACTION) return false;
    throw error;
  }
}

/** SQLSTATE of a SAVEPOINT outside a transaction block. */
const NO_ACTIVE_TRANSACTION = '25P01';

/**
 * Ends the job's savepoint. `undo`: a failed transactional job's writes go, as its transaction
 * would roll back on a worker. `keep if able`: a failed plain job's writes stay, as its statements
 * would have committed one by one on a worker, unless a failed statement aborted the transaction:
 * then they go with it.
 */
async function endSavepoint(q: Queryable, how: 'keep' | 'undo' | 'keep if able'): Promise<void> {
  if (how !== 'undo') {
    try {
      await q.query(`RELEASE SAVEPOINT ${JOB_SAVEPOINT}`, []);
      return;
    } catch (error) {
      if (how === 'keep') throw error;
    }
  }
  await q.query(`ROLLBACK TO SAVEPOINT ${JOB_SAVEPOINT}`, []);
  await q.query(`RELEASE SAVEPOINT ${JOB_SAVEPOINT}`, []);
}

/** Names of waiting jobs that this process has a definition for. */
async function knownNames(q: Queryable, schema: string): Promise<string[]> {
  const rows = await q.query<{ name: string }>(
    `SELECT DISTINCT name FROM ${schema}.jobs WHERE state IN ('available', 'scheduled', 'retryable')`,
    [],
  );
  return rows.map((row) => row.name).filter((name) => definitionNamed(name) !== undefined);
}
