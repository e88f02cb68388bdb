-- Up Migration
-- The version of the arguments' shape a job was enqueued with (its definition's `version`), so that
-- a worker running newer code can upgrade old payloads before perform.
ALTER TABLE jobs ADD COLUMN version integer NOT NULL DEFAULT 1 CHECK (version >= 1);

-- Down Migration
ALTER TABLE jobs DROP COLUMN version;
