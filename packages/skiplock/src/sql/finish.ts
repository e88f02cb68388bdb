import type { Outcome } from '../worker/outcome.js';

/**
 * Records many attempts' outcomes in one statement. `$1` maps each job id (as text) to its
 * `{attempt, state, delay_ms, error}`; `$2` lists the same ids; `$3` is the worker id. New states:
 * `completed`, `retryable`, `discarded`, `cancelled`, `snoozed` (scheduled again after its delay,
 * the attempt given back) or `available` (released unrun, the attempt given back); `error` is null
 * on success. A job an operator cancelled meanwhile ends `cancelled` instead of being retried or
 * released. Only rows still held by this worker at this attempt change: a stale write is a no-op.
 * Returns the ids that changed.
 *
 * One relation, no join: the rows are found by primary key (`id = ANY`) and each reads its outcome
 * from the map. A join with an unnest of the outcomes looks like one running row to the planner
 * (it cannot know every id in the batch is running), which picks a nested loop comparing every
 * row with every outcome, or a scan of the lease index through the dead entries of jobs finished
 * since the last vacuum — both grow with the batch, and the second with the backlog drained.
 */
export function finishSql(schema: string): string {
  return `
UPDATE ${schema}.jobs j
   SET (state, attempt, finished_at, run_at, errors) = (
         SELECT CASE WHEN j.cancel_requested_at IS NOT NULL AND o.state IN ('retryable', 'available', 'snoozed')
                     THEN 'cancelled'
                     WHEN o.state = 'snoozed' THEN 'scheduled'
                     ELSE o.state END,
                CASE WHEN o.state IN ('available', 'snoozed') AND j.cancel_requested_at IS NULL THEN j.attempt - 1
                     ELSE j.attempt END,
                CASE WHEN o.state IN ('completed', 'discarded', 'cancelled') OR j.cancel_requested_at IS NOT NULL
                     THEN now() END,
                CASE WHEN o.state IN ('retryable', 'snoozed') AND j.cancel_requested_at IS NULL
                     THEN now() + o.delay_ms * interval '1 millisecond' ELSE j.run_at END,
                CASE WHEN o.error IS NULL THEN j.errors
                     ELSE j.errors || jsonb_build_array(o.error || jsonb_build_object('at', now())) END
           FROM jsonb_to_record($1::jsonb -> j.id::text) AS o(state text, delay_ms float8, error jsonb)),
       locked_by = NULL,
       lease_expires_at = NULL
 WHERE j.id = ANY($2::bigint[])
   AND j.attempt = ($1::jsonb -> j.id::text ->> 'attempt')::int
   AND j.locked_by = $3
   AND j.state = 'running'
RETURNING j.id::text AS id`;
}

/**
 * Records successes only, the common case, with nothing to decide per row: `$2` lists the job ids,
 * `$3` is the worker id, `$4` the first job's attempt (as a rule most jobs' of a batch), and `$1`
 * maps each id (as text) whose attempt differs to its attempt (in a drain, none: `{}`). The same
 * guard as {@link finishSql}. Returns no rows: the command's row count tells whether every success
 * was written, and {@link successStatesSql} finds the others when it falls short. Per 5,000 jobs,
 * sending an attempt per job and returning every id had cost ~15–25 % more wall time (the map
 * parsed by Postgres and the ids sent back; `pg` writing and parsing both).
 */
export function completeSql(schema: string): string {
  return `
UPDATE ${schema}.jobs j
   SET state = 'completed', finished_at = now(), locked_by = NULL, lease_expires_at = NULL
 WHERE j.id = ANY($2::bigint[])
   AND j.attempt = coalesce(($1::jsonb ->> j.id::text)::int, $4::int)
   AND j.locked_by = $3
   AND j.state = 'running'`;
}

/**
 * After {@link completeSql} wrote fewer rows than it was given: the state and attempt of the jobs
 * `$1` lists (its ids parameter), by primary key, to tell which of them it did not record.
 */
export function successStatesSql(schema: string): string {
  return `SELECT id::text AS id, state, attempt FROM ${schema}.jobs WHERE id = ANY($1::bigint[])`;
}

/**
 * The `(map, ids)` pair these statements read: a JSON object from each item's id to `value(item)`
 * (for the items `inMap` keeps: all unless given), and every item's id in a Postgres array literal
 * (for `id = ANY`, the primary-key lookup). The heartbeat sends its leases this way too. Both are
 * written as text directly: an object keyed by thousands of numeric strings is slow to build and to
 * stringify, and pg escapes every element of an array parameter. Ids are the `id::text` of a bigint
 * (digits): neither the JSON keys nor the literal need escaping.
 */
export function byId<T extends { id: string }>(
  items: readonly T[],
  value: (item: T) => unknown,
  inMap: (item: T) => boolean = () => true,
): [string, string] {
  let map = '';
  let ids = '';
  for (const item of items) {
    if (inMap(item)) map += `${map === '' ? '' : ','}"${item.id}":${JSON.stringify(value(item))}`;
    ids += (ids === '' ? '' : ',') + item.id;
  }
  return [`{${map}}`, `{${ids}}`];
}

/**
 * The parameters of {@link completeSql} for these successes of worker `workerId`: the first one's
 * attempt is the common one, the others' attempts are sent only where they differ from it.
 */
export function completeValues(
  items: readonly { id: string; attempt: number }[],
  workerId: string,
): [attempts: string, ids: string, workerId: string, common: number] {
  const common = items[0]?.attempt ?? 1;
  const [attempts, ids] = byId(
    items,
    (item) => item.attempt,
    (item) => item.attempt !== common,
  );
  return [attempts, ids, workerId, common];
}

/** The parameters of {@link finishSql} for these outcomes of worker `workerId`. */
export function finishValues(
  items: readonly { id: string; attempt: number; outcome: Outcome }[],
  workerId: string,
): unknown[] {
  const outcomes = byId(items, ({ attempt, outcome }) => ({
    attempt,
    state: outcome.state,
    delay_ms: 'delayMs' in outcome ? outcome.delayMs : 0,
    error: 'error' in outcome ? outcome.error : null,
  }));
  return [...outcomes, workerId];
}
