/**
 * Counts the unfinished jobs of queues `$1` per queue and state. Two branches so that each reads
 * only its partial index (waiting states through the claim index, `running` through the lease
 * index) and finished rows are never scanned.
 */
export function queueDepthSql(schema: string): string {
  return `
SELECT queue, state, count(*)::int AS count FROM ${schema}.jobs
 WHERE state IN ('available', 'scheduled', 'retryable') AND queue = ANY($1::text[])
 GROUP BY queue, state
UNION ALL
SELECT queue, 'running', count(*)::int FROM ${schema}.jobs
 WHERE state = 'running' AND queue = ANY($1::text[])
 GROUP BY queue`;
}
