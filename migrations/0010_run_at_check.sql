-- Up Migration
-- A job due at -infinity (a plain INSERT or the SQL enqueue() could write one; the TypeScript API
-- refuses it) made every claim of the worker serving its queue fail for good: the claim's lag,
-- now() - run_at, cannot be computed, and neither can queue_stats. Refused from now on; +infinity
-- (a job parked until an operator moves it) stays allowed. NOT VALID: existing rows are not read (a
-- brief lock, no scan): `SELECT id FROM jobs WHERE run_at = '-infinity'` finds any written before.
-- A CHECK runs on every insert and update of a row: this comparison costs next to nothing.
ALTER TABLE jobs ADD CONSTRAINT jobs_run_at_check CHECK (run_at > '-infinity') NOT VALID;

-- Down Migration
ALTER TABLE jobs DROP CONSTRAINT jobs_run_at_check;
