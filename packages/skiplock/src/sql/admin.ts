/** Columns of a job as admin listings return it (camelCase, ids as strings). */
const SUMMARY_COLUMNS = `
  id::text AS id, name, queue, state, priority, attempt, max_attempts AS "maxAttempts",
  run_at AS "runAt", created_at AS "createdAt", attempted_at AS "attemptedAt",
  finished_at AS "finishedAt", locked_by AS "lockedBy", unique_key AS "uniqueKey",
  cancel_requested_at AS "cancelRequestedAt", errors -> -1 ->> 'message' AS "lastError"`;

/**
 * Newest first (by the bigint column: the output `id` is text), keyset-paginated: jobs matching `where` with an id below `$1` (the cursor; pass
 * the largest bigint for the first page), at most `$2` rows.
 */
export function listJobsSql(schema: string, where: string): string {
  return `SELECT ${SUMMARY_COLUMNS}
  FROM ${schema}.jobs AS job
 WHERE ${where} AND id < $1::bigint
 ORDER BY job.id DESC
 LIMIT $2`;
}

/** One job with everything stored about it (`$1`: id). */
export function getJobSql(schema: string): string {
  return `SELECT ${SUMMARY_COLUMNS}, args, metadata, errors, lease_expires_at AS "leaseExpiresAt"
  FROM ${schema}.jobs WHERE id = $1::bigint`;
}

/** What a batched admin action does to the rows it picked. */
export interface BatchAction {
  /** The states the action applies to (literals, so partial indexes match). */
  states: readonly string[];
  /** A data-modifying statement over CTE `candidates` (id, state, unique_key) returning (id, queue, state). */
  change: (schema: string) => string;
  /** A SELECT over CTE `changed` that sends the notifications the change calls for, or none. */
  notify?: (schema: string, channelParam: string) => string;
}

/**
 * One batch of an admin action over jobs matching `where`: locks up to `$1` rows with ids above `$2`
 * in id order (waiting for a worker's brief row lock rather than skipping the row), applies the
 * action, and returns the last id looked at (the next batch's `$2`), how many rows changed and how
 * many of those are still running. `$3` is the NOTIFY channel when the action notifies.
 */
export function batchActionSql(schema: string, where: string, action: BatchAction): string {
  // One equality per state, not `state IN (…)`: the planner matches each arm of an OR to the
  // partial index whose predicate it implies and combines them (a queue's retryable, discarded
  // and cancelled jobs through two indexes); an IN list of states no one index covers is a scan.
  // Running jobs are found through the lease index: a running row holds a lease (the claim sets
  // both, every outcome clears both), as the workers listing counts them.
  const states = action.states.map(stateArm).join(' OR ');
  const notify = action.notify ? `, (${action.notify(schema, '$3')}) AS notified` : '';
  return `
WITH candidates AS MATERIALIZED (
  SELECT id, state, unique_key FROM ${schema}.jobs
   WHERE (${states}) AND ${where} AND id > $2::bigint
   ORDER BY id
   LIMIT $1
   FOR UPDATE
), changed AS (${action.change(schema)}
)
SELECT (SELECT max(id) FROM candidates)::text AS "lastId",
       (SELECT count(*) FROM changed)::int AS changed,
       (SELECT count(*) FROM changed WHERE state = 'running')::int AS running${notify}`;
}

/** One state's arm of a batch's condition, written so a partial index's predicate matches it. */
const stateArm = (state: string) =>
  state === 'running' ? `(state = 'running' AND lease_expires_at IS NOT NULL)` : `state = '${state}'`;

/** Notifies the jobs channel once per queue that got runnable jobs. */
const notifyQueues = (_schema: string, channel: string) =>
  `SELECT count(pg_notify(${channel}::text, queue)) FROM (SELECT DISTINCT queue FROM changed) q`;

/** Unfinished states: the ones the unique key index covers. */
const UNFINISHED = `'available', 'scheduled', 'running', 'retryable'`;

/**
 * Retry: failed, discarded or cancelled jobs run again now, with at least one attempt left. Of
 * jobs sharing a unique key only one comes back (the one holding it, else the newest), and none
 * while another unfinished job holds the key.
 */
export const RETRY: BatchAction = {
  states: ['retryable', 'discarded', 'cancelled'],
  change: (schema) => `
  UPDATE ${schema}.jobs j
     SET state = 'available', run_at = now(), finished_at = NULL, cancel_requested_at = NULL,
         max_attempts = greatest(j.max_attempts, j.attempt + 1)
    FROM (SELECT id, unique_key, row_number() OVER (
            PARTITION BY unique_key ORDER BY state = 'retryable' DESC, id DESC) AS rank
            FROM candidates) c
   WHERE j.id = c.id
     AND (c.unique_key IS NULL OR (c.rank = 1 AND NOT EXISTS (
          SELECT 1 FROM ${schema}.jobs holder
           WHERE holder.unique_key = c.unique_key AND holder.id <> c.id AND holder.state IN (${UNFINISHED}))))
  RETURNING j.id, j.queue, j.state`,
  notify: notifyQueues,
};

/**
 * Cancel: queued jobs become `cancelled` at once; running jobs get `cancel_requested_at` (a second
 * request keeps the first one's time) and their worker is told through the cancel channel (it
 * aborts the job and records `cancelled`).
 */
export const CANCEL: BatchAction = {
  states: ['available', 'scheduled', 'retryable', 'running'],
  change: (schema) => `
  UPDATE ${schema}.jobs j
     SET state = CASE WHEN j.state = 'running' THEN 'running' ELSE 'cancelled' END,
         finished_at = CASE WHEN j.state = 'running' THEN NULL ELSE now() END,
         cancel_requested_at = coalesce(j.cancel_requested_at, now())
    FROM candidates c
   WHERE j.id = c.id
  RETURNING j.id, j.queue, j.state`,
  notify: (_schema, channel) =>
    `SELECT count(pg_notify(${channel}::text, id::text)) FROM changed WHERE state = 'running'`,
};

/** Delete: any job that is not running (cancel a running job first). */
export const DELETE: BatchAction = {
  states: ['available', 'scheduled', 'retryable', 'completed', 'discarded', 'cancelled'],
  change: (schema) => `
  DELETE FROM ${schema}.jobs j USING candidates c WHERE j.id = c.id
  RETURNING j.id, j.queue, j.state`,
};

/** Pauses (`$2` true) or resumes (`$2` false) queue `$1`. */
export function setQueuePausedSql(schema: string): string {
  return `INSERT INTO ${schema}.queues (name, paused) VALUES ($1, $2)
ON CONFLICT (name) DO UPDATE SET paused = excluded.paused, updated_at = now()`;
}

/** Per-queue counts (the `queue_stats` view). */
export function statsSql(schema: string): string {
  return `SELECT queue, paused, available::int, scheduled::int, running::int, retryable::int,
       discarded::int, cancelled::int, due::int, oldest_due_at AS "oldestDueAt",
       oldest_wait_seconds AS "oldestWaitSeconds", completed_1m::int AS "completed1m",
       completed_5m::int AS "completed5m"
  FROM ${schema}.queue_stats ORDER BY queue`;
}

/** Registered workers, with how long ago each last beat and how many jobs each runs now. */
export function listWorkersSql(schema: string): string {
  return `SELECT w.id, w.queues, w.host, w.pid, w.started_at AS "startedAt",
       w.last_heartbeat_at AS "lastHeartbeatAt",
       extract(epoch FROM now() - w.last_heartbeat_at)::float8 AS "heartbeatAgeSeconds",
       coalesce(r.running, 0)::int AS running
  FROM ${schema}.workers w
  LEFT JOIN (SELECT locked_by, count(*) AS running FROM ${schema}.jobs
              WHERE state = 'running' AND lease_expires_at IS NOT NULL GROUP BY locked_by) r ON r.locked_by = w.id
 ORDER BY w.started_at, w.id`;
}
