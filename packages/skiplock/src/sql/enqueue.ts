/** Which insert statement a batch needs. */
export interface InsertVariant {
  /**
   * `one`: a single job without a unique key, from scalar parameters. `many`: jobs without unique
   * keys, from arrays (and scalars, see `shared`). `unique`: some job has a unique key: ON
   * CONFLICT, and duplicates reported.
   */
  shape: 'one' | 'many' | 'unique';
  /**
   * `many`/`unique`: every job has the same value in each of {@link SHARED_COLUMNS}, sent once as
   * a scalar instead of an array (parsing thousands of equal array elements is most of the cost of
   * a bulk insert).
   */
  shared: boolean;
  /**
   * Notify the workers in this statement (delivered at its transaction's commit). Without it another
   * statement carries the wake-up (see `Waker`).
   */
  notify: boolean;
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

/** An insert's input column. */
export type InsertColumn = keyof typeof COLUMN_TYPES;

/** {@link COLUMN_TYPES}' columns in parameter order: `$1` is `name`, `$10` is `version`. */
export const INSERT_COLUMNS = Object.keys(COLUMN_TYPES) as InsertColumn[];

/** The columns a batch of one kind of job usually agrees on (see {@link InsertVariant.shared}). */
export const SHARED_COLUMNS: readonly InsertColumn[] = [
  'name',
  'queue',
  'priority',
  'max_attempts',
  'metadata',
  'version',
];

/** The parameter holding `column`, typed: one value, or an array of one per job. */
function param(column: InsertColumn, array = false): string {
  return `$${INSERT_COLUMNS.indexOf(column) + 1}::${COLUMN_TYPES[column]}${array ? '[]' : ''}`;
}

/**
 * Inserts jobs in one statement, from one array per column (`$1 … $10`, see {@link INSERT_COLUMNS};
 * shape `one` takes the values themselves, a `shared` batch the values of {@link SHARED_COLUMNS});
 * with `notify`, `$11` is the channel and `$12` more queues to notify (their jobs committed earlier,
 * see `Waker`). Shapes `one` and `many` return one row: `ids`, the jobs' ids in order,
 * comma-separated, and `states`, a letter per job (`a` available, `s` scheduled); `unique` returns
 * per job, in order, its ordinal, unique key, state and id (null state: a duplicate). A batch draws
 * its ids up front (`input` is materialized once) so that each input row is matched to its outcome
 * by its ordinal: inserted, or a duplicate of the unfinished job holding its unique key. Without
 * unique keys there is no conflict to handle and every row is inserted as is (no speculative
 * insertion).
 */
export function insertJobsSql(schema: string, { shape, shared, notify }: InsertVariant): string {
  // A one-time filter (always true) around an uncorrelated subquery: evaluated once per statement,
  // one notification per queue, for the queues that got available jobs here and those in `$12`
  // (committed by others meanwhile). Not a result column: fewer columns, less to parse per insert.
  const notifying = (rows: string) =>
    notify
      ? `
 WHERE (SELECT count(pg_notify($11, queue))
          FROM (SELECT queue FROM ${rows} WHERE state = 'available' UNION SELECT unnest($12::text[])) q) >= 0`
      : '';
  const stateLetter = `CASE state WHEN 'available' THEN 'a' ELSE 's' END`;
  if (shape === 'one') {
    return `
WITH inserted AS (
  INSERT INTO ${schema}.jobs (name, args, queue, priority, max_attempts, run_at, state, unique_key, metadata, version)
  SELECT ${param('name')}, ${param('args')}, ${param('queue')}, ${param('priority')}, ${param('max_attempts')}, d.due_at,
         CASE WHEN d.due_at > now() THEN 'scheduled' ELSE 'available' END, ${param('unique_key')}, ${param('metadata')},
         ${param('version')}
    FROM (SELECT coalesce(${param('run_at')}, now() + coalesce(${param('wait_ms')}, 0) * interval '1 millisecond') AS due_at) d
  RETURNING id, queue, state
)
SELECT id::text AS ids, ${stateLetter} AS states
  FROM inserted${notifying('inserted')}`;
  }
  const once = INSERT_COLUMNS.filter((column) => shared && SHARED_COLUMNS.includes(column));
  const perJob = INSERT_COLUMNS.filter((column) => !once.includes(column));
  const input = `
WITH input AS MATERIALIZED (
  SELECT nextval('${schema}.jobs_id_seq'::regclass) AS id, r.*,
         CASE WHEN r.due_at > now() THEN 'scheduled' ELSE 'available' END AS state
    FROM (SELECT u.*,${once.map((column) => ` ${param(column)} AS ${column},`).join('')}
                 coalesce(u.run_at, now() + coalesce(u.wait_ms, 0) * interval '1 millisecond') AS due_at
            FROM unnest(${perJob.map((column) => param(column, true)).join(', ')})
                 WITH ORDINALITY AS u(${perJob.join(', ')}, ord)) r
)`;
  const insert = `
  INSERT INTO ${schema}.jobs (id, name, args, queue, priority, max_attempts, run_at, state, unique_key, metadata, version)
  SELECT id, name, args, queue, priority, max_attempts, due_at, state, unique_key, metadata, version
    FROM input`;
  if (shape === 'many') {
    // One row, not one per job: reading thousands of result rows costs more than the insert.
    return `${input}, inserted AS (${insert}
)
SELECT string_agg(id::text, ',' ORDER BY ord) AS ids, string_agg(${stateLetter}, '' ORDER BY ord) AS states
  FROM input${notifying('input')}`;
  }
  return `${input}, inserted AS (${insert}
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
