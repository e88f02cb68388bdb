/** A mistake in how the command was called: exits with status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const MAIN_HELP = `skiplock — durable background jobs on PostgreSQL

Usage: skiplock <command> [options]

Commands:
  migrate     apply Skiplock's migrations to DATABASE_URL
  worker      run jobs from a module: skiplock worker --jobs ./jobs.js
  dev         zero-setup demo: embedded Postgres (unless DATABASE_URL), demo jobs, a worker

Options:
  -h, --help     show help (also: skiplock <command> --help)
  -v, --version  print the version

Environment:
  DATABASE_URL        postgres://user:password@host:5432/db (required by migrate and worker)
  SKIPLOCK_LOG_LEVEL  trace, debug, info (default), warn, error, silent

Exit codes: 0 ok, 1 runtime failure, 2 usage error.`;

export const MIGRATE_HELP = `Usage: skiplock migrate [--schema skiplock]

Applies pending migrations to the database in DATABASE_URL. Replicas may run it at the same time:
they wait for each other on an advisory lock. Refuses a schema newer than this version.

Options:
  --schema S   schema holding Skiplock's tables (default: skiplock)`;

export const WORKER_HELP = `Usage: skiplock worker --jobs <module> [options]

Loads every job definition the module exports (named exports, and a default export that is a
definition or an array/object of them) and runs them. Migrates the schema first.

Options:
  --jobs M               module to load (ESM .js/.mjs; .ts where a loader is present)  [required]
  --queues a,b           queues to serve (default: every queue the loaded definitions name)
  --concurrency N        handlers running at once (default: 10)
  --schema S             schema holding Skiplock's tables (default: skiplock)
  --shutdown-timeout D   on SIGTERM/SIGINT, how long running jobs may finish (default: 30s)
  --lease D              how long a claimed job is held before another worker may rescue it;
                         renewed while it runs (default: 30s)
  --poll-interval D      how often to look for due jobs without a notification (default: 1s)

On SIGTERM or SIGINT the worker stops claiming, lets running jobs finish within the shutdown
timeout, then aborts them and puts them back, and exits 0. A second signal exits at once (the
jobs are rescued when their lease expires).`;

export const DEV_HELP = `Usage: skiplock dev [--once] [--port 54329]

Starts an embedded PostgreSQL under ./.skiplock/ (or uses DATABASE_URL when set), migrates it,
enqueues demo jobs (some fail and retry, some are scheduled, one is discarded), runs a worker and
prints progress. Ctrl-C stops everything.

Options:
  --once       exit when every demo job has finished
  --port N     port for the embedded Postgres (default: 54329)`;
