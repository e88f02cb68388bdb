/** Which insert statement a batch needs. */
export interface InsertVariant {
  /**
   * `one`: a single job without a unique key, from scalar parameters. `many`: jobs without unique
   * keys. `unique`: some job has a unique key: ON CONFLICT, and duplicates reported.
   */
  shape: 'one' | 'many' | 'unique';
  /**
   * `many`/`unique`: the columns sent with a value per job, in {@link INSERT_COLUMNS} order, at
   * least `args`; every other column is sent once, as a scalar, because all jobs of the batch have
   * the same value in it (parsing thousands of equal array elements is much of the cost of a bulk
   * insert). `one`: empty.
   */
  perJob: readonly InsertColumn[];
  /**
   * Notify the workers in this statement (delivered at its transaction's commit). Without it another
   * statement carries the wake-up (see `Waker`).
   */
  notify: boolean;
  /** With `notify`: also notify the queues of `$12`, whose jobs other statements committed. */
  carry: boolean;
}

/** The columns an insert reads, in parameter order (`$1 … $10`), with their types. */
const COLUMN_TYPES = {
  name: 'text',
  args: 'jsonb',
  queue: 'text',
  priority: 'smallint',
  max_attempts: 'int',
  run_at: 'timestamptz',
  wait_ms: 'float8',
  unique_key: 'text',
  metadata: 'jsonb',
  version: 'int',
} as const;

/** The domain (of the Skiplock schema) each of these columns of `jobs` has. */
const DOMAINS = {
  name: 'job_name',
  queue: 'queue_name',
  max_attempts: 'job_max_attempts',
  version: 'job_version',
} as const;

/** An insert's input column. */
export type InsertColumn = keyof typeof COLUMN_TYPES;

/** {@link COLUMN_TYPES}' columns in parameter order: `$1` is `name`, `$10` is `version`. */
export const INSERT_COLUMNS = Object.keys(COLUMN_TYPES) as InsertColumn[];

/**
 * Whether a column's values for many jobs travel as one JSON array (text joined by the client,
 * read with `jsonb_array_elements`) rather than as a Postgres array, whose every element the client
 * must escape and the server unescape before parsing it as JSON.
 */
export const isJsonColumn = (column: InsertColumn): column is JsonColumn => COLUMN_TYPES[column] === 'jsonb';

/** The input columns of type `jsonb`, whose values an input row holds as JSON text. */
export type JsonColumn = {
  [Column in InsertColumn]: (typeof COLUMN_TYPES)[Column] extends 'jsonb' ? Column : never;
}[InsertColumn];

/** The parameter holding `column`, typed: one value. */
function param(column: InsertColumn): string {
  return `$${INSERT_COLUMNS.indexOf(column) + 1}::${COLUMN_TYPES[column]}`;
}

/** The set-returning call that yields `column`'s values, one per job. */
function perJobValues(column: InsertColumn): string {
  return isJsonColumn(column) ? `jsonb_array_elements(${param(column)})` : `unnest(${param(column)}[])`;
}

/**
 * Inserts jobs in one statement, from a parameter per column (`$1 … $10`, see
 * {@link INSERT_COLUMNS}): shape `one` takes the values themselves; a batch takes the columns of
 * `perJob` (always including `args`, whose count is the batch's size) as arrays, JSON columns as one
 * JSON array (see {@link isJsonColumn}), and the others as the one value every job has. With
 * `notify`, `$11` is the channel, and with `carry` `$12` more queues to notify (their jobs
 * committed earlier, see `Waker`). Shapes `one` and `many` return one row: `ids`, the jobs' ids in
 * order, comma-separated, and `states`, a letter per job (`a` available, `s` scheduled) or one
 * letter when all jobs have that state (`one` notifying without `carry` also returns `notified`, of
 * no value); `many` also returns `base`, and a null `ids` when each job's id is `base` plus its
 * ordinal (1, 2, …). `unique` returns per job, in order, its ordinal, unique key, state and id (null
 * state: a duplicate). A batch with unique keys draws its ids up front (`input` is materialized
 * once) so that each input row is matched to its outcome by its ordinal: inserted, or a duplicate
 * of the unfinished job holding its unique key. Without unique keys there is no conflict to handle:
 * the rows go straight from the parameters into the table (no copy of them is kept, no speculative
 * insertion), and the ids come back from the insert itself. Postgres runs an INSERT … SELECT
 * without parallelism, drawing each row's id from the sequence as the row is read, so the ids rise
 * in the order of the parameters; ordered by id they are the jobs in order.
 */
export function insertJobsSql(schema: string, { shape, perJob, notify, carry }: InsertVariant): string {
  // A one-time filter (always true) around an uncorrelated subquery: evaluated once per statement,
  // one notification per queue, for the queues that got available jobs here and, when carrying,
  // those in `$12`. When all jobs go to one queue, that queue is notified if any of them is
  // available, without sorting thousands of equal queue names to find the distinct ones.
  // `available`: the condition that a row of `rows` is available.
  const queues = (rows: string, available: string) =>
    perJob.includes('queue')
      ? `SELECT DISTINCT queue FROM ${rows} WHERE ${available}`
      : `SELECT ${param('queue')} WHERE EXISTS (SELECT FROM ${rows} WHERE ${available})`;
  const notifying = (rows: string, available = `state = 'available'`) =>
    notify
      ? `
 WHERE (SELECT count(pg_notify($11, queue))
          FROM (${queues(rows, available)}${carry ? ' UNION SELECT unnest($12::text[])' : ''}) q(queue)) >= 0`
      : '';
  const stateLetter = `CASE state WHEN 'available' THEN 'a' ELSE 's' END`;
  if (shape === 'one') {
    const insert = `
INSERT INTO ${schema}.jobs (name, args, queue, priority, max_attempts, run_at, state, unique_key, metadata, version)
  SELECT ${param('name')}, ${param('args')}, ${param('queue')}, ${param('priority')}, ${param('max_attempts')}, d.due_at,
         CASE WHEN d.due_at > now() THEN 'scheduled' ELSE 'available' END, ${param('unique_key')}, ${param('metadata')},
         ${param('version')}
    FROM (SELECT coalesce(${param('run_at')}, now() + coalesce(${param('wait_ms')}, 0) * interval '1 millisecond') AS due_at) d`;
    const reply = `id::text AS ids, ${stateLetter} AS states`;
    // Carrying other queues' wake-ups takes the one-time filter over the inserted row. Otherwise
    // RETURNING gives the reply, and a job notifying its own queue (an enqueue after a quiet moment,
    // or in a caller's transaction) does it in a column: a subquery, its union and its aggregate cost
    // a lone insert more than the column parses (~60 µs per enqueue after an idle moment here), and a
    // CTE around the insert 2–16 µs more than RETURNING (of ~200–245).
    if (carry)
      return `WITH inserted AS (${insert}
  RETURNING id, queue, state
)
SELECT ${reply} FROM inserted${notifying('inserted')}`;
    const notified = notify
      ? `,
          CASE state WHEN 'available' THEN pg_notify($11, queue) END AS notified`
      : '';
    return `${insert}
RETURNING ${reply}${notified}`;
  }
  // Values all jobs share are worked out once, in a one-row CTE, cast there to the column's domain
  // (whose check would otherwise run again on every row); so are the due time and state when no
  // job has its own.
  const once = INSERT_COLUMNS.filter((column) => !perJob.includes(column));
  const sharedDue = once.includes('run_at') && once.includes('wait_ms');
  const value = (column: InsertColumn) => (perJob.includes(column) ? `u.${column}` : param(column));
  const due = `coalesce(${value('run_at')}, now() + coalesce(${value('wait_ms')}, 0) * interval '1 millisecond')`;
  const state = (dueAt: string) =>
    `(CASE WHEN ${dueAt} > now() THEN 'scheduled' ELSE 'available' END)::${schema}.job_state`;
  const constants = once.map((column) => {
    const domain = DOMAINS[column as keyof typeof DOMAINS];
    return `${param(column)}${domain ? `::${schema}.${domain}` : ''} AS ${column}`;
  });
  if (sharedDue) constants.push(`${due} AS due_at`, `${state(due)} AS state`);
  const shared = `
WITH shared AS MATERIALIZED (
  SELECT ${constants.join(', ')}
)`;
  // Each job's row: the per-job values in order (`ord`), with the shared ones, its due time and state.
  const rows = `SELECT r.*${sharedDue ? '' : `, ${state('r.due_at')} AS state`}
    FROM (SELECT u.*, shared.*${sharedDue ? '' : `, ${due} AS due_at`}
            FROM shared, ROWS FROM (${perJob.map(perJobValues).join(', ')})
                 WITH ORDINALITY AS u(${perJob.join(', ')}, ord)) r`;
  const columns = 'name, args, queue, priority, max_attempts, run_at, state, unique_key, metadata, version';
  const values = 'name, args, queue, priority, max_attempts, due_at, state, unique_key, metadata, version';
  if (shape === 'many') {
    // One row, not one per job: reading thousands of result rows costs more than the insert. And
    // mostly not even a list: the ids are usually consecutive (no other session drew from the
    // sequence meanwhile), and the jobs usually share one state, known from `shared` when they
    // share their due time (the insert then returns only what it must: ids, and queues when they
    // vary); each list is built (sorted, rendered) only when needed.
    const returning = ['id', ...(perJob.includes('queue') ? ['queue'] : []), ...(sharedDue ? [] : ['state'])];
    const available = sharedDue ? `(SELECT state FROM shared) = 'available'` : `state = 'available'`;
    const states = sharedDue
      ? `(SELECT ${stateLetter} FROM shared)`
      : `CASE count(*) FILTER (WHERE state = 'available') WHEN count(*) THEN 'a' WHEN 0 THEN 's'
            ELSE (SELECT string_agg(${stateLetter}, '' ORDER BY id) FROM inserted) END`;
    return `${shared}, inserted AS (
  INSERT INTO ${schema}.jobs (${columns})
  SELECT ${values} FROM (${rows}) j
  RETURNING ${returning.join(', ')}
)
SELECT (min(id) - 1)::text AS base,
       CASE WHEN max(id) - min(id) = count(*) - 1 THEN NULL
            ELSE (SELECT string_agg(id::text, ',' ORDER BY id) FROM inserted) END AS ids,
       ${states} AS states
  FROM inserted${notifying('inserted', available)}`;
  }
  return `${shared}, input AS MATERIALIZED (
  SELECT nextval('${schema}.jobs_id_seq'::regclass) AS id, j.* FROM (${rows}) j
), inserted AS (
  INSERT INTO ${schema}.jobs (id, ${columns})
  SELECT id, ${values}
    FROM input
   ORDER BY ord
  ON CONFLICT (unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('available', 'scheduled', 'running', 'retryable')
    DO NOTHING
  RETURNING id, queue, state
)
SELECT input.ord::int, input.unique_key, inserted.state,
       coalesce(inserted.id, existing.id)::text AS id
  FROM input
  LEFT JOIN inserted ON inserted.id = input.id
  LEFT JOIN LATERAL (
    SELECT j.id FROM ${schema}.jobs j
     WHERE inserted.id IS NULL AND j.unique_key = input.unique_key
       AND j.state IN ('available', 'scheduled', 'running', 'retryable')
  ) existing ON true${notifying('inserted')}
 ORDER BY input.ord`;
}

/** Finds the unfinished job holding each key (for duplicates inserted by a concurrent transaction). */
export function findByUniqueKeysSql(schema: string): string {
  return `
SELECT unique_key, id::text AS id FROM ${schema}.jobs
 WHERE unique_key = ANY($1::text[])
   AND state IN ('available', 'scheduled', 'running', 'retryable')`;
}
