/**
 * Heartbeat of worker `$1` (queues `$4`, host `$5`, pid `$6`): creates or refreshes its row in
 * `workers` (so the first beat registers it, and a row forgotten by mistake comes back) and extends
 * the lease of the jobs it still holds (`$2` ids) by their lease (`$3` maps each id, as text, to its
 * lease in ms). Only rows it still holds change; they are found by primary key, one relation and no
 * join (see `finishSql` for why). Rows another transaction has locked are skipped, not waited for:
 * the worker's own outcome write in flight (whose rows the beat also lists), a job's transaction
 * writing its outcome, an operator's statement. Waiting would hold back every other lease (and two
 * statements locking shared rows in different orders can deadlock); a locked row cannot be rescued
 * meanwhile (rescue skips locked rows too), and the next beat extends it if it is still held.
 * The new lease runs from the clock at the update (`clock_timestamp()`), not from the statement's
 * start: a beat that waited (for the workers row, say) does not write a lease already past.
 *
 * Returns the held jobs an operator cancelled (`lost` false: in case the worker missed the
 * notification) and those it no longer holds at the attempt `$7` maps their id to (`lost` true):
 * rescued after their lease expired, or changed by an operator. A row locked by another
 * transaction is read as it was last committed.
 */
export function heartbeatSql(schema: string): string {
  return `
WITH beat AS (
  INSERT INTO ${schema}.workers (id, queues, host, pid) VALUES ($1, $4, $5, $6)
  ON CONFLICT (id) DO UPDATE SET last_heartbeat_at = now()
), extended AS (
  UPDATE ${schema}.jobs j
     SET lease_expires_at = clock_timestamp() + ($3::jsonb ->> j.id::text)::float8 * interval '1 millisecond'
   WHERE j.id = ANY(ARRAY(
           SELECT id FROM ${schema}.jobs
            WHERE id = ANY($2::bigint[]) AND locked_by = $1 AND state = 'running'
              FOR NO KEY UPDATE SKIP LOCKED))
  RETURNING j.id, j.cancel_requested_at
)
SELECT id::text AS id, false AS lost FROM extended WHERE cancel_requested_at IS NOT NULL
UNION ALL
SELECT held.id::text, true FROM unnest($2::bigint[]) AS held(id)
 WHERE NOT EXISTS (SELECT 1 FROM ${schema}.jobs j
                    WHERE j.id = held.id AND j.locked_by = $1 AND j.state = 'running'
                      AND j.attempt = ($7::jsonb ->> held.id::text)::int)`;
}

/**
 * Rescues running jobs whose lease expired (their worker died, stalled or lost the database): back
 * to `available` with an error entry, `discarded` when their attempts are used up, `cancelled` when an
 * operator cancelled them meanwhile. At most `$1`
 * rows per call, of the job names in `$2` (those the rescuing worker has loaded: rows of other names
 * are left to workers that know them); only rows whose lease is still expired at update time
 * change, so a job that completed meanwhile is never touched. Returns the rescued rows.
 */
export function rescueSql(schema: string): string {
  return `
WITH expired AS MATERIALIZED (
  SELECT id, locked_by FROM ${schema}.jobs
   WHERE state = 'running' AND lease_expires_at < now() AND name = ANY($2::text[])
   ORDER BY lease_expires_at
   LIMIT $1
   FOR NO KEY UPDATE SKIP LOCKED
)
UPDATE ${schema}.jobs j
   SET state = CASE WHEN j.cancel_requested_at IS NOT NULL THEN 'cancelled'
                    WHEN j.attempt >= j.max_attempts THEN 'discarded' ELSE 'available' END,
       finished_at = CASE WHEN j.cancel_requested_at IS NOT NULL OR j.attempt >= j.max_attempts THEN now() END,
       errors = j.errors || jsonb_build_array(jsonb_build_object(
         'attempt', j.attempt, 'at', now(), 'name', 'LeaseExpired',
         'message', 'lease expired on worker ' || coalesce(j.locked_by, 'unknown'),
         'stack', NULL, 'worker', j.locked_by)),
       locked_by = NULL,
       lease_expires_at = NULL
  FROM expired
 WHERE j.id = expired.id
RETURNING j.id::text AS id, j.name, j.queue, j.state, j.args, j.attempt, j.max_attempts, j.metadata, j.version,
          expired.locked_by`;
}

/**
 * After a claim of worker `$1` failed: its running jobs claimed in the last `$3` ms other than those
 * it knows it holds (`$2`) go back to `available`, their attempt given back (`cancelled` if an
 * operator cancelled them): a claim that committed but whose reply was lost. Found through the lease
 * index (every running job has a lease). Returns their ids.
 */
export function releaseUnknownSql(schema: string): string {
  return `
UPDATE ${schema}.jobs
   SET state = CASE WHEN cancel_requested_at IS NOT NULL THEN 'cancelled' ELSE 'available' END,
       attempt = CASE WHEN cancel_requested_at IS NOT NULL THEN attempt ELSE attempt - 1 END,
       finished_at = CASE WHEN cancel_requested_at IS NOT NULL THEN now() END,
       locked_by = NULL,
       lease_expires_at = NULL
 WHERE lease_expires_at IS NOT NULL AND locked_by = $1 AND state = 'running' AND NOT (id = ANY($2::bigint[]))
   AND attempted_at >= now() - $3 * interval '1 millisecond'
RETURNING id::text AS id, queue`;
}

/** Takes the rescue lock for this transaction if no other worker holds it (`$1`: lock key). */
export const TRY_MAINTENANCE_LOCK_SQL = `SELECT pg_try_advisory_xact_lock(hashtext($1)) AS locked`;

/** Notifies channel `$1` once for each queue in `$2` (jobs there became available, committed). */
export const NOTIFY_QUEUES_SQL = `SELECT pg_notify($1, queue) FROM unnest($2::text[]) AS queue`;
