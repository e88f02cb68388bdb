/**
 * Inserts a batch of jobs in one statement. Ids are drawn up front so that each input row can be
 * matched to its outcome: inserted, or a duplicate of the unfinished job holding its unique key.
 * `$1` is a JSON array of {ord, name, args, queue, priority, max_attempts, run_at, wait_ms,
 * unique_key, metadata, version}.
 */
export function insertJobsSql(schema: string): string {
  return `
WITH input AS (
  SELECT nextval(pg_get_serial_sequence('${schema}.jobs', 'id')) AS id, r.*,
         coalesce(r.run_at, now() + coalesce(r.wait_ms, 0) * interval '1 millisecond') AS due_at
    FROM jsonb_to_recordset($1::jsonb) AS r(
      ord int, name text, args jsonb, queue text, priority smallint, max_attempts int,
      run_at timestamptz, wait_ms float8, unique_key text, metadata jsonb, version int)
), inserted AS (
  INSERT INTO ${schema}.jobs (id, name, args, queue, priority, max_attempts, run_at, state, unique_key, metadata, version)
  SELECT id, name, args, queue, priority, max_attempts, due_at,
         CASE WHEN due_at > now() THEN 'scheduled' ELSE 'available' END,
         unique_key, metadata, version
    FROM input
   ORDER BY ord
  ON CONFLICT (unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('available', 'scheduled', 'running', 'retryable')
    DO NOTHING
  RETURNING id, state
)
SELECT input.ord, input.unique_key, inserted.state,
       coalesce(inserted.id, existing.id)::text AS id
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
