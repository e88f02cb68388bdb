-- Up Migration
-- Workers are woken by whoever enqueues, not by a trigger. The trigger sent its NOTIFY inside every
-- inserting transaction; a NOTIFY takes a database-wide lock at commit, held through the WAL flush,
-- so concurrent enqueues committed one at a time, and its transition table copied every row of a
-- bulk insert. Skiplock's enqueue now notifies inside its insert (in a caller's transaction, at its
-- commit), and on its own pool lets only one statement at a time notify, for the others too; the
-- SQL function below notifies by itself. A plain INSERT into jobs is found at the workers' next
-- poll, or right away after `SELECT pg_notify('<schema>.jobs', '<queue>')`.
DROP TRIGGER jobs_notify ON jobs;
DROP FUNCTION notify_jobs();

CREATE OR REPLACE FUNCTION enqueue(
  name         text,
  args         jsonb       DEFAULT '{}',
  queue        text        DEFAULT 'default',
  run_at       timestamptz DEFAULT now(),
  priority     integer     DEFAULT 0,
  max_attempts integer     DEFAULT 25,
  unique_key   text        DEFAULT NULL
) RETURNS bigint
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
#variable_conflict use_column
DECLARE
  new_id    bigint;
  new_state text;
BEGIN
  -- Loop: the unfinished job holding unique_key may finish between the insert and the select.
  LOOP
    INSERT INTO jobs (name, args, queue, run_at, priority, max_attempts, unique_key, state)
    VALUES (
      enqueue.name,
      coalesce(enqueue.args, '{}'),
      coalesce(enqueue.queue, 'default'),
      coalesce(enqueue.run_at, now()),
      coalesce(enqueue.priority, 0),
      coalesce(enqueue.max_attempts, 25),
      enqueue.unique_key,
      CASE WHEN enqueue.run_at > now() THEN 'scheduled' ELSE 'available' END
    )
    ON CONFLICT (unique_key)
      WHERE unique_key IS NOT NULL AND state IN ('available', 'scheduled', 'running', 'retryable')
      DO NOTHING
    RETURNING id, state INTO new_id, new_state;
    IF new_id IS NOT NULL THEN
      -- Delivered when the caller's transaction commits.
      IF new_state = 'available' THEN
        PERFORM pg_notify(current_schema() || '.jobs', coalesce(enqueue.queue, 'default'));
      END IF;
      RETURN new_id;
    END IF;

    SELECT id INTO new_id FROM jobs
     WHERE unique_key = enqueue.unique_key
       AND state IN ('available', 'scheduled', 'running', 'retryable');
    EXIT WHEN new_id IS NOT NULL;
  END LOOP;
  RETURN new_id;
END
$$;

-- Down Migration
CREATE FUNCTION notify_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  q text;
BEGIN
  FOR q IN SELECT DISTINCT queue FROM new_jobs WHERE state = 'available' LOOP
    PERFORM pg_notify(TG_TABLE_SCHEMA || '.jobs', q);
  END LOOP;
  RETURN NULL;
END
$$;
CREATE TRIGGER jobs_notify AFTER INSERT ON jobs
  REFERENCING NEW TABLE AS new_jobs
  FOR EACH STATEMENT EXECUTE FUNCTION notify_jobs();
-- (enqueue() keeps notifying by itself: with the trigger back, a transaction sends the same
-- notification twice, which Postgres folds into one.)
