-- Up Migration
-- Operations: queue pause, cancellation of running jobs, retention, and the views people query.
-- Every statement here stays fast on a table holding millions of finished rows: each reads through
-- a partial index whose rows are the small, interesting part of the table.

-- Set by an operator's cancel of a running job; its worker aborts the job and records `cancelled`
-- (a rescue of its expired lease does the same).
ALTER TABLE jobs ADD COLUMN cancel_requested_at timestamptz;

-- Queues an operator paused: no replica claims from them until they are resumed.
CREATE TABLE queues (
  name       text        PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$'),
  paused     boolean     NOT NULL DEFAULT false,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Failed and cancelled jobs, for listing and counting them (a small part of the table).
CREATE INDEX jobs_dead_idx ON jobs (queue, id) WHERE state IN ('discarded', 'cancelled');

-- Finished jobs by age: pruning walks the oldest, throughput reads the newest.
CREATE INDEX jobs_finished_idx ON jobs (finished_at) INCLUDE (queue)
  WHERE state IN ('completed', 'discarded', 'cancelled');

-- Autovacuum sooner than the default 20 %: rows are updated a few times each and pruned in bulk, so
-- dead tuples pile up fast on a busy table; vacuum keeps the claim index and the pages lean.
ALTER TABLE jobs SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.05);

-- One row per queue that has jobs or a pause setting. Counts by state (completed jobs are counted
-- only over the last minutes, as throughput: counting millions of finished rows is what makes such
-- views slow), how many jobs are due now, and how long the oldest due job has waited.
DROP VIEW queue_stats;
CREATE VIEW queue_stats AS
  WITH waiting AS (
    SELECT queue,
           count(*) FILTER (WHERE state = 'available') AS available,
           count(*) FILTER (WHERE state = 'scheduled') AS scheduled,
           count(*) FILTER (WHERE state = 'retryable') AS retryable,
           count(*) FILTER (WHERE run_at <= now()) AS due,
           min(run_at) FILTER (WHERE run_at <= now()) AS oldest_due_at
      FROM jobs
     WHERE state IN ('available', 'scheduled', 'retryable')
     GROUP BY queue
  ), running AS (
    SELECT queue, count(*) AS running FROM jobs WHERE state = 'running' GROUP BY queue
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

-- Jobs that failed: waiting for a retry, or given up. The last error is spelled out.
CREATE VIEW failed_jobs AS
  SELECT id, name, queue, state, attempt, max_attempts,
         errors -> -1 ->> 'name' AS error_name,
         errors -> -1 ->> 'message' AS error_message,
         (errors -> -1 ->> 'at')::timestamptz AS failed_at,
         run_at, created_at, finished_at, args
    FROM jobs WHERE state = 'retryable'
  UNION ALL
  SELECT id, name, queue, state, attempt, max_attempts,
         errors -> -1 ->> 'name', errors -> -1 ->> 'message', (errors -> -1 ->> 'at')::timestamptz,
         run_at, created_at, finished_at, args
    FROM jobs WHERE state = 'discarded';

-- Down Migration
DROP VIEW failed_jobs;
DROP VIEW queue_stats;
CREATE VIEW queue_stats AS
  SELECT queue, state, count(*) AS count, min(run_at) AS oldest_run_at
    FROM jobs
   GROUP BY queue, state;
ALTER TABLE jobs RESET (autovacuum_vacuum_scale_factor, autovacuum_analyze_scale_factor);
DROP INDEX jobs_finished_idx;
DROP INDEX jobs_dead_idx;
DROP TABLE queues;
ALTER TABLE jobs DROP COLUMN cancel_requested_at;
