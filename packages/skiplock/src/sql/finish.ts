import type { Outcome } from '../worker/outcome.js';

/**
 * Records many attempts' outcomes in one statement. Arrays: `$1` ids, `$2` attempts, `$3` new
 * states (`completed`, `retryable`, `discarded`, `cancelled`, `snoozed` — scheduled again after
 * its delay with the attempt given back — or `available` for a job released unrun, whose attempt
 * is also given back), `$4` retry delays in ms, `$5` error entries (null on
 * success); `$6` the worker id. A job an operator cancelled meanwhile ends `cancelled` instead of
 * being retried or released. Only rows still held by this worker at this attempt change: a stale
 * write is a no-op. Returns the ids that changed.
 */
export function finishSql(schema: string): string {
  return `
UPDATE ${schema}.jobs j
   SET state = CASE WHEN j.cancel_requested_at IS NOT NULL AND u.state IN ('retryable', 'available', 'snoozed')
                    THEN 'cancelled'
                    WHEN u.state = 'snoozed' THEN 'scheduled'
                    ELSE u.state END,
       attempt = CASE WHEN u.state IN ('available', 'snoozed') AND j.cancel_requested_at IS NULL THEN j.attempt - 1
                      ELSE j.attempt END,
       finished_at = CASE WHEN u.state IN ('completed', 'discarded', 'cancelled') OR j.cancel_requested_at IS NOT NULL
                          THEN now() END,
       run_at = CASE WHEN u.state IN ('retryable', 'snoozed') AND j.cancel_requested_at IS NULL
                     THEN now() + u.delay_ms * interval '1 millisecond' ELSE j.run_at END,
       errors = CASE WHEN u.error IS NULL THEN j.errors
                     ELSE j.errors || jsonb_build_array(u.error || jsonb_build_object('at', now())) END,
       locked_by = NULL,
       lease_expires_at = NULL
  FROM unnest($1::bigint[], $2::int[], $3::text[], $4::float8[], $5::jsonb[])
       AS u(id, attempt, state, delay_ms, error)
 WHERE j.id = u.id
   AND j.attempt = u.attempt
   AND j.locked_by = $6
   AND j.state = 'running'
RETURNING j.id::text AS id`;
}

/** The parameters of {@link finishSql} for these outcomes of worker `workerId`. */
export function finishValues(
  items: readonly { id: string; attempt: number; outcome: Outcome }[],
  workerId: string,
): unknown[] {
  return [
    items.map((item) => item.id),
    items.map((item) => item.attempt),
    items.map((item) => item.outcome.state),
    items.map((item) => ('delayMs' in item.outcome ? item.outcome.delayMs : 0)),
    items.map((item) => ('error' in item.outcome ? JSON.stringify(item.outcome.error) : null)),
    workerId,
  ];
}
