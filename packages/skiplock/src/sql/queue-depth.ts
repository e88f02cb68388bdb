import { inQueues } from './queue-match.js';

/**
 * Counts the unfinished jobs of queues `$1` per queue and state. One branch per partial index
 * (available, scheduled or retryable, running through the lease index), so finished rows are never
 * scanned. The first two find the queues by {@link inQueues}, for their indexes.
 */
export function queueDepthSql(schema: string): string {
  const queues = inQueues('$1');
  return `
SELECT queue, 'available' AS state, count(*)::int AS count FROM ${schema}.jobs
 WHERE state = 'available' AND ${queues}
 GROUP BY queue
UNION ALL
SELECT queue, state, count(*)::int FROM ${schema}.jobs
 WHERE state IN ('scheduled', 'retryable') AND ${queues}
 GROUP BY queue, state
UNION ALL
SELECT queue, 'running', count(*)::int FROM ${schema}.jobs
 WHERE state = 'running' AND lease_expires_at IS NOT NULL AND queue = ANY($1::text[])
 GROUP BY queue`;
}
