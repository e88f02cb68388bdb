/**
 * Counts the unfinished jobs of queues `$1` per queue and state. One branch per partial index
 * (available, scheduled or retryable, running through the lease index), so finished rows are never
 * scanned.
 */
export function queueDepthSql(schema: string): string {
  return `
SELECT queue, 'available' AS state, count(*)::int AS count FROM ${schema}.jobs
 WHERE state = 'available' AND queue = ANY($1::text[])
 GROUP BY queue
UNION ALL
SELECT queue, state, count(*)::int FROM ${schema}.jobs
 WHERE state IN ('scheduled', 'retryable') AND queue = ANY($1::text[])
 GROUP BY queue, state
UNION ALL
SELECT queue, 'running', count(*)::int FROM ${schema}.jobs
 WHERE state = 'running' AND lease_expires_at IS NOT NULL AND queue = ANY($1::text[])
 GROUP BY queue`;
}
