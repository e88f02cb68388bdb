/** Which insert statement a batch needs. */
export interface InsertVariant {
  /**
   * `one`: a single job without a unique key, from scalar parameters. `many`: jobs without unique
   * keys, from arrays. `unique`: some job has a unique key: ON CONFLICT, and duplicates reported.
   */
  shape: 'one' | 'many' | 'unique';
  /**
   * Notify the workers in this statement (delivered at its transaction's commit). Without it another
   * statement carries the wake-up (see `Waker`).
   */
  notify: boolean;
}

/** The columns an insert reads, in parameter order (`$1 … $10`): arrays, or one job's values. */
export const INSERT_COLUMNS = [
  'name',
  'args',
  'queue',
  'priority',
  'max_attempts',
  'run_at',
  'wait_ms',
  'unique_key',
  'metadata',
  'version',
] as const;

/**
 * Inserts jobs in one statement, from one array per column (`$1 … $10`, see {@link INSERT_COLUMNS};
 * shape `one` takes the values themselves); with `notify`, `$11` is the channel and `$12` more queues
 * to notify (their jobs committed earlier, see `Waker`). Returns per job, in
 * order, its ordinal, unique key, state and id (null state: a duplicate). Ids are drawn up front
 * (`input` is materialized once) so that each input row can be matched to its outcome by its
 * ordinal: inserted, or a duplicate of the unfinished job holding its unique key. Without unique
 * keys there is no conflict to handle and every row is inserted as is (no speculative insertion).
 */
export function insertJobsSql(schema: string, { shape, notify }: InsertVariant): string {
  // An uncorrelated subquery: evaluated once per statement, one notification per queue, for the
  // queues that got available jobs here and those in `$12` (committed by others meanwhile).
  const notified = (rows: string) =>
    notify
      ? `,
       (SELECT count(pg_notify($11, queue))
          FROM (SELECT queue FROM ${rows} WHERE state = 'available' UNION SELECT unnest($12::text[])) q) AS notified`
      : '';
  if (shape === 'one') {
    return `
WITH inserted AS (
  INSERT INTO ${schema}.jobs (name, args, queue, priority, max_attempts, run_at, state, unique_key, metadata, version)
  SELECT $1::text, $2::jsonb, $3::text, $4::smallint, $5::int, d.due_at,
         CASE WHEN d.due_at > now() THEN 'scheduled' ELSE 'available' END, $8::text, $9::jsonb, $10::int
    FROM (SELECT coalesce($6::timestamptz, now() + coalesce($7::float8, 0) * interval '1 millisecond') AS due_at) d
  RETURNING id, queue, state
)
SELECT 1 AS ord, NULL::text AS unique_key, state, id::text AS id${notified('inserted')}
  FROM inserted`;
  }
  const input = `
WITH input AS MATERIALIZED (
  SELECT nextval('${schema}.jobs_id_seq'::regclass) AS id, r.*,
         CASE WHEN r.due_at > now() THEN 'scheduled' ELSE 'available' END AS state
    FROM (SELECT u.*, coalesce(u.run_at, now() + coalesce(u.wait_ms, 0) * interval '1 millisecond') AS due_at
            FROM unnest($1::text[], $2::jsonb[], $3::text[], $4::smallint[], $5::int[], $6::timestamptz[],
                        $7::float8[], $8::text[], $9::jsonb[], $10::int[])
                 WITH ORDINALITY AS u(name, args, queue, priority, max_attempts, run_at, wait_ms, unique_key,
                                      metadata, version, ord)) r
)`;
  const insert = `
  INSERT INTO ${schema}.jobs (id, name, args, queue, priority, max_attempts, run_at, state, unique_key, metadata, version)
  SELECT id, name, args, queue, priority, max_attempts, due_at, state, unique_key, metadata, version
    FROM input`;
  if (shape === 'many') {
    return `${input}, inserted AS (${insert}
)
SELECT ord::int, unique_key, state, id::text AS id${notified('input')}
  FROM input
 ORDER BY ord`;
  }
  return `${input}, inserted AS (${insert}
   ORDER BY ord
  ON CONFLICT (unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('available', 'scheduled', 'running', 'retryable')
    DO NOTHING
  RETURNING id, queue, state
)
SELECT input.ord::int, input.unique_key, inserted.state,
       coalesce(inserted.id, existing.id)::text AS id${notified('inserted')}
  FROM input
  LEFT JOIN inserted ON inserted.id = input.id
  LEFT JOIN LATERAL (
    SELECT j.id FROM ${schema}.jobs j
     WHERE inserted.id IS NULL AND j.unique_key = input.unique_key
       AND j.state IN ('available', 'scheduled', 'running', 'retryable')
  ) existing ON true
 ORDER BY input.ord`;
}

/** Finds the unfinished job holding each key (for duplicates inserted by a concurrent transaction). */
export function findByUniqueKeysSql(schema: string): string {
  return `
SELECT unique_key, id::text AS id FROM ${schema}.jobs
 WHERE unique_key = ANY($1::text[])
   AND state IN ('available', 'scheduled', 'running', 'retryable')`;
}
