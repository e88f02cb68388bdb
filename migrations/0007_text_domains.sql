-- Up Migration
-- The rules on job names, queue names and states move from CHECK constraints of jobs to domains
-- over text. Postgres prepares a table's CHECK expressions again for every statement and runs all
-- of them on every row it writes, an update that changes none of those columns included; three of
-- these cost about 30 µs per single-job INSERT (of 42 µs for all eight; measured in a loop of
-- single-row inserts) and about a microsecond per row of each claim and outcome write. A domain's check is
-- prepared once per connection and runs only where a value is assigned to the column: the claim
-- and the outcome write check the new state, never the queue or the name. The columns stay text to
-- every reader (a domain over text reads as text); checks on jsonb and integer columns stay, since
-- a client reads a domain over those as its own type, not as JSON or a number.
--
-- The type change rewrites the table and rebuilds its indexes under an exclusive lock (see
-- docs/operations.md). It needs the views that read these columns dropped and created again:
-- Skiplock's own views are (their definitions kept as they are). A view of yours on these columns
-- makes this migration fail, changing nothing; drop it, migrate, and create it again.
CREATE DOMAIN job_name AS text CHECK (length(VALUE) BETWEEN 1 AND 200);
CREATE DOMAIN queue_name AS text
  CHECK (length(VALUE) BETWEEN 1 AND 128 AND VALUE !~ '[^A-Za-z0-9_.:/-]' AND VALUE !~ '^[_.:/-]');
CREATE DOMAIN job_state AS text
  CHECK (VALUE IN ('available', 'scheduled', 'running', 'retryable', 'completed', 'discarded', 'cancelled'));

-- Runs `statement` (an ALTER TABLE of jobs) with Skiplock's views dropped around it, then creates them
-- again from their definitions as they were. The same helper is in the down migration.
CREATE FUNCTION pg_temp.alter_jobs_under_views(statement text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  views CONSTANT text[] := ARRAY['queue_stats', 'failed_jobs'];
  definitions text[];
BEGIN
  SELECT array_agg(pg_get_viewdef(to_regclass(quote_ident(v))) ORDER BY ord) INTO definitions
    FROM unnest(views) WITH ORDINALITY AS u(v, ord);
  FOR i IN 1 .. array_length(views, 1) LOOP
    EXECUTE format('DROP VIEW %I', views[i]);
  END LOOP;
  EXECUTE statement;
  FOR i IN 1 .. array_length(views, 1) LOOP
    EXECUTE format('CREATE VIEW %I AS %s', views[i], definitions[i]);
  END LOOP;
END
$$;
SELECT pg_temp.alter_jobs_under_views($sql$
  ALTER TABLE jobs
    DROP CONSTRAINT jobs_name_check,
    DROP CONSTRAINT jobs_queue_check,
    DROP CONSTRAINT jobs_state_check,
    ALTER COLUMN name TYPE job_name,
    ALTER COLUMN queue TYPE queue_name,
    ALTER COLUMN state TYPE job_state
$sql$);
DROP FUNCTION pg_temp.alter_jobs_under_views(text);

-- Down Migration
-- Runs `statement` (an ALTER TABLE of jobs) with Skiplock's views dropped around it, then creates them
-- again from their definitions as they were. The same helper as the up migration's.
CREATE FUNCTION pg_temp.alter_jobs_under_views(statement text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  views CONSTANT text[] := ARRAY['queue_stats', 'failed_jobs'];
  definitions text[];
BEGIN
  SELECT array_agg(pg_get_viewdef(to_regclass(quote_ident(v))) ORDER BY ord) INTO definitions
    FROM unnest(views) WITH ORDINALITY AS u(v, ord);
  FOR i IN 1 .. array_length(views, 1) LOOP
    EXECUTE format('DROP VIEW %I', views[i]);
  END LOOP;
  EXECUTE statement;
  FOR i IN 1 .. array_length(views, 1) LOOP
    EXECUTE format('CREATE VIEW %I AS %s', views[i], definitions[i]);
  END LOOP;
END
$$;
SELECT pg_temp.alter_jobs_under_views($sql$
  ALTER TABLE jobs
    ALTER COLUMN name TYPE text,
    ALTER COLUMN queue TYPE text,
    ALTER COLUMN state TYPE text,
    ADD CONSTRAINT jobs_name_check CHECK (length(name) BETWEEN 1 AND 200),
    ADD CONSTRAINT jobs_queue_check
      CHECK (length(queue) BETWEEN 1 AND 128 AND queue !~ '[^A-Za-z0-9_.:/-]' AND queue !~ '^[_.:/-]'),
    ADD CONSTRAINT jobs_state_check
      CHECK (state IN ('available', 'scheduled', 'running', 'retryable', 'completed', 'discarded', 'cancelled'))
$sql$);
DROP FUNCTION pg_temp.alter_jobs_under_views(text);
DROP DOMAIN job_state;
DROP DOMAIN queue_name;
DROP DOMAIN job_name;
