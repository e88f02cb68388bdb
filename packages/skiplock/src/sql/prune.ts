/**
 * Deletes one batch of finished jobs past their retention: `$2`, `$3`, `$4` are how long (ms) to
 * keep `completed`, `discarded` and `cancelled` jobs (null: forever), `$5` the batch size. Oldest
 * first, through the finished-jobs index, from `$6` (the previous batch's `last`, null for the
 * first): the rows before it that a batch walked past are kept ones (a discarded job inside its
 * longer retention), which the next batch need not read again. Rows another transaction holds are
 * skipped. Runs only if it gets the transaction-level advisory lock `$1`, so one pruner works at a
 * time and the lock is never left behind. Returns whether it had the lock, how many rows it deleted
 * and the last one's `finished_at` (as ISO 8601 text whatever the session's DateStyle: microseconds,
 * which a JavaScript Date would round).
 */
export function pruneBatchSql(schema: string): string {
  return `
WITH lock AS MATERIALIZED (
  SELECT pg_try_advisory_xact_lock(hashtext($1)) AS locked
), doomed AS MATERIALIZED (
  SELECT j.id, j.finished_at FROM ${schema}.jobs j, lock
   WHERE lock.locked
     AND j.state IN ('completed', 'discarded', 'cancelled')
     AND j.finished_at >= coalesce($6::timestamptz, '-infinity')
     AND j.finished_at < now() - least($2::float8, $3::float8, $4::float8) * interval '1 millisecond'
     AND j.finished_at < now() - CASE j.state WHEN 'completed' THEN $2::float8
                                              WHEN 'discarded' THEN $3::float8
                                              ELSE $4::float8 END * interval '1 millisecond'
   ORDER BY j.finished_at
   LIMIT $5
   FOR UPDATE OF j SKIP LOCKED
), gone AS (
  DELETE FROM ${schema}.jobs j USING doomed WHERE j.id = doomed.id RETURNING 1
)
SELECT (SELECT locked FROM lock) AS locked, (SELECT count(*) FROM gone)::int AS deleted,
       (SELECT to_json(max(finished_at)) #>> '{}' FROM doomed) AS last`;
}
