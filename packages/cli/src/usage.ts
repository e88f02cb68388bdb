/** A mistake in how the command was called: exits with status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const MAIN_HELP = `skiplock — durable background jobs on PostgreSQL

Usage: skiplock <command> [options]

Commands:
  migrate     apply Skiplock's migrations to DATABASE_URL
  worker      run jobs from a module: skiplock worker --jobs ./jobs.js
  jobs        list, show, retry, cancel and delete jobs: skiplock jobs list --state discarded
  queues      list queues, pause and resume them: skiplock queues pause mailers
  stats       per queue: jobs by state, oldest wait, throughput
  workers     live workers, from their heartbeats
  prune       delete finished jobs past their retention now (workers also do it every minute)
  dev         zero-setup demo: embedded Postgres (unless DATABASE_URL), demo jobs, a worker

Options:
  -h, --help     show help (also: skiplock <command> --help)
  -v, --version  print the version

Environment:
  DATABASE_URL        postgres://user:password@host:5432/db (required by every command but dev)
  SKIPLOCK_LOG_LEVEL  trace, debug, info, warn, error, fatal, silent (default: info; warn for jobs,
                      queues, stats, workers and prune)

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
  --claim-loops N        claim loops, each filling its share of the handlers; they take
                         turns at the database, so one loop's jobs start while another's
                         claim runs (default: 2); on few cores, replicas sharing a queue
                         may do better with 1 each
  --completion-batch-size N
                         most outcomes written in one statement (default: 100)
  --schema S             schema holding Skiplock's tables (default: skiplock)
  --shutdown-timeout D   on SIGTERM/SIGINT, how long running jobs may finish (default: 30s)
  --lease D              how long a claimed job is held before another worker may rescue it;
                         renewed while it runs (default: 30s)
  --poll-interval D      how often to look for due jobs without a notification (default: 1s)

On SIGTERM or SIGINT the worker stops claiming, lets running jobs finish within the shutdown
timeout, then aborts them (rolling back transactional ones) and puts them back, and exits 0,
waiting at most 5 s more for a connection a handler still holds. A second signal exits at once
(the jobs are rescued when their lease expires).`;

export const DEV_HELP = `Usage: skiplock dev [--once] [--port 54329]

Starts an embedded PostgreSQL under ./.skiplock/ (or uses DATABASE_URL when set), migrates it,
enqueues demo jobs (some fail and retry, some are scheduled, one is discarded), runs a worker and
prints progress. Ctrl-C stops everything.

Options:
  --once       exit when every demo job has finished
  --port N     port for the embedded Postgres (default: 54329)`;

const SCHEMA_AND_JSON = `  --schema S   schema holding Skiplock's tables (default: skiplock)
  --json       print JSON for scripts instead of a table`;

const FILTERS = `Filters (all given must match):
  --state S[,S]   available, scheduled, running, retryable, completed, discarded, cancelled
  --queue Q       exact queue name
  --name N        exact job name
  --since T       created at or after T: a duration before now (30m, 2h, 7d) or an ISO date
                  (2026-12-01, 2026-12-01T10:00:00Z)
  --until T       created before T (same forms)`;

export const JOBS_HELP = `Usage: skiplock jobs <list|show|retry|cancel|delete> [options]

  list                 jobs newest first, filtered, a page at a time
  show <id>            one job: arguments, metadata, every error with its first stack frames
  retry <id…>          run retryable, discarded or cancelled jobs again now
  cancel <id…>         queued jobs become cancelled; running ones are aborted by their worker
  delete <id…>         delete jobs that are not running

retry, cancel and delete take filter flags instead of ids to act on every matching job,
in batches: skiplock jobs retry --state discarded --name mailer.welcome

See skiplock jobs <subcommand> --help.`;

export const JOBS_SUBCOMMAND_HELP = {
  list: `Usage: skiplock jobs list [filters] [--limit 50] [--after CURSOR] [--json]

Lists jobs newest first. When more match than --limit, the last line gives the --after value
that shows the next page.

${FILTERS}

Options:
  --limit N    jobs per page, 1 to 1000 (default: 50)
  --after C    the cursor printed by the previous page
${SCHEMA_AND_JSON}`,
  show: `Usage: skiplock jobs show <id> [--json]

Shows one job with its arguments, metadata and full error history.

Options:
${SCHEMA_AND_JSON}`,
  retry: `Usage: skiplock jobs retry <id…> | [filters]

Makes retryable, discarded or cancelled jobs available now (with one more attempt if they used
them all). A job whose unique key another unfinished job holds is not retried.

${FILTERS}

Options:
  --schema S   schema holding Skiplock's tables (default: skiplock)`,
  cancel: `Usage: skiplock jobs cancel <id…> | [filters]

Queued jobs (available, scheduled, retryable) become cancelled at once. A running job's worker is
notified: it aborts the job's signal within a second and records it cancelled.

${FILTERS}

Options:
  --schema S   schema holding Skiplock's tables (default: skiplock)`,
  delete: `Usage: skiplock jobs delete <id…> | [filters]

Deletes jobs that are not running (cancel a running job first).

${FILTERS}

Options:
  --schema S   schema holding Skiplock's tables (default: skiplock)`,
};

export const QUEUES_HELP = `Usage: skiplock queues <list|pause|resume> [queue] [options]

  list            every queue with jobs or a setting: active or paused, due, running, scheduled
  pause <queue>   no worker claims the queue's jobs until it is resumed (running jobs finish)
  resume <queue>  workers claim from the queue again at once

Options:
${SCHEMA_AND_JSON}`;

export const STATS_HELP = `Usage: skiplock stats [--json]

Per queue: jobs available, scheduled, running, retryable, discarded and cancelled; how long the
oldest due job has waited; jobs completed in the last minute and per minute over the last five.

Options:
${SCHEMA_AND_JSON}`;

export const WORKERS_HELP = `Usage: skiplock workers [--json]

Registered workers from their heartbeats: host, pid, queues, jobs running now, last heartbeat.
A worker that died without stopping is marked stale after a minute and forgotten after ten.

Options:
${SCHEMA_AND_JSON}`;

export const PRUNE_HELP = `Usage: skiplock prune [--completed 1d] [--discarded 14d] [--cancelled 14d]

Deletes finished jobs older than their retention, in batches of 1,000 (each its own short
transaction). Workers do this every minute on their own; one pruner runs at a time.

Options:
  --completed D   keep completed jobs this long (default: 1d; "forever" keeps them)
  --discarded D   keep discarded jobs this long (default: 14d)
  --cancelled D   keep cancelled jobs this long (default: 14d)
${SCHEMA_AND_JSON}`;
