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
}

/**
 * Claims up to `$3` due jobs of the given queues (`$1`) and names (`$2`) for worker `$4` with a lease
 * of `$5` ms. The MATERIALIZED CTE locks exactly the rows it picks; SKIP LOCKED lets replicas claim
 * side by side. States are literals so the partial claim index matches.
 */
export function claimSql(schema: string): string {
  return `
WITH picked AS MATERIALIZED (
  SELECT id FROM ${schema}.jobs
   WHERE state IN ('available', 'scheduled', 'retryable')
     AND queue = ANY($1::text[])
     AND name = ANY($2::text[])
     AND run_at <= now()
   ORDER BY priority, run_at, id
   LIMIT $3
   FOR UPDATE SKIP LOCKED
)
UPDATE ${schema}.jobs j
   SET state = 'running',
       attempt = j.attempt + 1,
       attempted_at = now(),
       locked_by = $4,
       lease_expires_at = now() + $5 * interval '1 millisecond'
  FROM picked
 WHERE j.id = picked.id
RETURNING j.id::text AS id, j.name, j.queue, j.args, j.attempt, j.max_attempts, j.priority, j.run_at, j.metadata`;
}
