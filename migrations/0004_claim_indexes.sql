-- Up Migration
-- Waiting jobs get two indexes instead of one, and running jobs are indexed by their lease alone.
--
-- jobs_claim_idx (queue, priority, run_at, id) held available and scheduled rows together. The
-- claim walks it in priority order, and within one priority it could not stop at run_at: with a
-- million jobs scheduled for tomorrow and a few due now, each claim read through the million
-- (bench S6). Now available rows (all due) are walked in priority order, and scheduled or
-- retryable rows in run_at order, which stops at the first row not yet due.
DROP INDEX jobs_claim_idx;
CREATE INDEX jobs_available_idx ON jobs (queue, priority, run_at, id) WHERE state = 'available';
CREATE INDEX jobs_scheduled_idx ON jobs (queue, run_at, id) WHERE state IN ('scheduled', 'retryable');

-- The lease index held `state = 'running'` rows, so the planner used it for the batched outcome
-- writes ("… AND state = 'running'"), reading it through the dead entries of every job finished
-- since the last vacuum: the writes slowed down as a backlog drained (bench S3). Running rows are
-- exactly the rows with a lease; an index on that predicate serves rescue and running counts and
-- is never chosen by a statement that only says `state = 'running'`.
DROP INDEX jobs_lease_idx;
CREATE INDEX jobs_lease_idx ON jobs (lease_expires_at) WHERE lease_expires_at IS NOT NULL;

-- queue_stats reads each index on its own: one branch per partial index.
CREATE OR REPLACE VIEW queue_stats AS
  WITH waiting AS (
    SELECT queue,
           count(*) FILTER (WHERE state = 'available') AS available,
           count(*) FILTER (WHERE state = 'scheduled') AS scheduled,
           count(*) FILTER (WHERE state = 'retryable') AS retryable,
           count(*) FILTER (WHERE run_at <= now()) AS due,
           min(run_at) FILTER (WHERE run_at <= now()) AS oldest_due_at
      FROM (SELECT queue, state, run_at FROM jobs WHERE state = 'available'
            UNION ALL
            SELECT queue, state, run_at FROM jobs WHERE state IN ('scheduled', 'retryable')) w
     GROUP BY queue
  ), running AS (
    SELECT queue, count(*) AS running FROM jobs
     WHERE state = 'running' AND lease_expires_at IS NOT NULL GROUP BY queue
  ), dead AS (
    SELECT queue,
           count(*) FILTER (WHERE state = 'discarded') AS discarded,
           count(*) FILTER (WHERE state = 'cancelled') AS cancelled
      FROM jobs
     WHERE state IN ('discarded', 'cancelled')
     GROUP BY queue
  ), recent AS (
    SELECT queue,
           count(*) FILTER (WHERE finished_at > now() - interval '1 minute') AS completed_1m,
           count(*) AS completed_5m
      FROM jobs
     WHERE state IN ('completed', 'discarded', 'cancelled') AND state = 'completed'
       AND finished_at > now() - interval '5 minutes'
     GROUP BY queue
  ), names AS (
    SELECT queue FROM waiting UNION SELECT queue FROM running UNION SELECT queue FROM dead
    UNION SELECT queue FROM recent UNION SELECT name FROM queues
  )
  SELECT names.queue,
         coalesce(queues.paused, false) AS paused,
         coalesce(waiting.available, 0) AS available,
         coalesce(waiting.scheduled, 0) AS scheduled,
         coalesce(running.running, 0) AS running,
         coalesce(waiting.retryable, 0) AS retryable,
         coalesce(dead.discarded, 0) AS discarded,
         coalesce(dead.cancelled, 0) AS cancelled,
         coalesce(waiting.due, 0) AS due,
         waiting.oldest_due_at,
         extract(epoch FROM now() - waiting.oldest_due_at)::float8 AS oldest_wait_seconds,
         coalesce(recent.completed_1m, 0) AS completed_1m,
         coalesce(recent.completed_5m, 0) AS completed_5m
    FROM names
    LEFT JOIN queues ON queues.name = names.queue
    LEFT JOIN waiting USING (queue)
    LEFT JOIN running USING (queue)
    LEFT JOIN dead USING (queue)
    LEFT JOIN recent USING (queue);

-- Down Migration
-- (queue_stats keeps its new definition: same columns and rows, readable with either set of indexes.)
DROP INDEX jobs_lease_idx;
CREATE INDEX jobs_lease_idx ON jobs (lease_expires_at) WHERE state = 'running';
DROP INDEX jobs_scheduled_idx;
DROP INDEX jobs_available_idx;
CREATE INDEX jobs_claim_idx ON jobs (queue, priority, run_at, id)
  WHERE state IN ('available', 'scheduled', 'retryable');
