/** A claimed job as the worker receives it. */
export interface ClaimedRow {
  id: string;
  name: string;
  queue: string;
  args: Record<string, unknown>;
  attempt: number;
  max_attempts: number;
  priority: number;
  run_at: Date;
  metadata: Record<string, never>;
  /** How long the job had been due when it was claimed, in ms (Postgres clock). */
  lag_ms: number;
  /** The version of the arguments' shape it was enqueued with. */
  version: number;
}

/**
 * Claims up to `$2` due jobs with names in `$1` for worker `$3`, each with the lease in ms that `$4`
 * gives for its name (same order as `$1`), from the
 * queues `$5 … $(4 + queueCount)`. Each queue gets its own branch, `queue = $k`, so that Postgres walks
 * the claim index (queue, priority, run_at, id) in order and stops at the limit instead of sorting
 * every due row; the branches are then merged by priority. With one queue the MATERIALIZED CTE
 * locks exactly the rows it claims; with several, each branch locks up to the limit for the length of
 * the statement before the merge keeps the best. SKIP LOCKED lets replicas claim side by side. States are literals so the partial
 * index matches. A paused queue's branch is cut off by a one-time check of `queues`, before it reads
 * any job. `due` is what "now" is for run_at (test helpers pass a parameter to run jobs due later).
 */
export function claimSql(schema: string, queueCount: number, due = 'now()'): string {
  const branch = (param: number) => `
    SELECT * FROM (
      SELECT id, priority, run_at FROM ${schema}.jobs
       WHERE state IN ('available', 'scheduled', 'retryable')
         AND queue = $${param}
         AND name = ANY($1::text[])
         AND run_at <= ${due}
         AND NOT EXISTS (SELECT 1 FROM ${schema}.queues WHERE name = $${param} AND paused)
       ORDER BY priority, run_at, id
       LIMIT $2
       FOR UPDATE SKIP LOCKED
    ) q${param}`;
  const branches = Array.from({ length: queueCount }, (_, i) => branch(5 + i));
  const picked =
    queueCount === 1
      ? branches[0]
      : `SELECT id FROM (${branches.join('\n    UNION ALL')}) merged ORDER BY priority, run_at, id LIMIT $2`;
  return `
WITH picked AS MATERIALIZED (${picked}
)
UPDATE ${schema}.jobs j
   SET state = 'running',
       attempt = j.attempt + 1,
       attempted_at = now(),
       locked_by = $3,
       lease_expires_at = now() + ($4::float8[])[array_position($1::text[], j.name)] * interval '1 millisecond'
  FROM picked
 WHERE j.id = picked.id
RETURNING j.id::text AS id, j.name, j.queue, j.args, j.attempt, j.max_attempts, j.priority, j.run_at, j.metadata, j.version,
          (extract(epoch from (now() - j.run_at)) * 1000)::float8 AS lag_ms`;
}
