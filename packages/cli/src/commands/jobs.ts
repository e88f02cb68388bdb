import type { Admin, JobDetails, JobFilter, JobState, JobSummary } from 'skiplock';
import { withAdmin, print } from '../admin-session.js';
import { parseFlags, positiveInteger, type Flags } from '../args.js';
import { clip, table, time } from '../table.js';
import { JOBS_HELP, JOBS_SUBCOMMAND_HELP, UsageError } from '../usage.js';

const FILTER_FLAGS = ['state', 'queue', 'name', 'since', 'until'];
const DURATION = /^\d+(\.\d+)?(ms|s|m|h|d)$/;
/** An ISO 8601 date, with a time and a zone or not (a date alone is UTC midnight, a time without a zone local time). */
const ISO_DATE = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/**
 * `--since 2h` (before now, Postgres clock) or `--since 2026-12-01T10:00:00Z`. Nothing else: `Date`
 * reads `7` as July 2001 and `45` as 2045, which would turn a bulk delete with a forgotten unit into
 * one of almost every job.
 */
function timeFlag(flag: string, value: string | undefined): JobFilter['since'] {
  if (value === undefined) return undefined;
  if (DURATION.test(value)) return value as `${number}h`;
  const date = new Date(value);
  if (!ISO_DATE.test(value) || Number.isNaN(date.getTime())) {
    throw new UsageError(`--${flag} must be a duration before now (30m, 2h, 7d) or an ISO date, got "${value}"`);
  }
  return date;
}

/** The job filter the flags describe, and whether any filter flag was given. */
function filterFrom(flags: Flags): { filter: JobFilter; given: boolean } {
  const state = flags
    .string('state')
    ?.split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0) as JobState[] | undefined;
  const filter: JobFilter = {
    state,
    queue: flags.string('queue'),
    name: flags.string('name'),
    since: timeFlag('since', flags.string('since')),
    until: timeFlag('until', flags.string('until')),
  };
  return { filter, given: FILTER_FLAGS.some((flag) => flags.string(flag) !== undefined) };
}

function attempts(job: JobSummary): string {
  return `${job.attempt}/${job.maxAttempts}`;
}

function renderList(page: { jobs: JobSummary[]; nextCursor: string | null }): string {
  if (page.jobs.length === 0) return 'no jobs match';
  const rows = page.jobs.map((job) => [
    job.id,
    job.name,
    job.queue,
    job.cancelRequestedAt && job.state === 'running' ? 'running (cancelling)' : job.state,
    attempts(job),
    time(job.runAt),
    time(job.finishedAt),
    clip(job.lastError),
  ]);
  const more = page.nextCursor ? `\nmore: skiplock jobs list … --after ${page.nextCursor}` : '';
  return table(['ID', 'NAME', 'QUEUE', 'STATE', 'ATTEMPT', 'RUN AT', 'FINISHED', 'LAST ERROR'], rows) + more;
}

function renderJob(job: JobDetails): string {
  const fields: Array<[string, string]> = [
    ['id', job.id],
    ['name', job.name],
    ['queue', job.queue],
    ['state', job.state],
    ['priority', String(job.priority)],
    ['attempt', attempts(job)],
    ['run at', time(job.runAt)],
    ['created at', time(job.createdAt)],
    ['attempted at', time(job.attemptedAt)],
    ['finished at', time(job.finishedAt)],
    ['locked by', job.lockedBy ?? '-'],
    ['lease expires', time(job.leaseExpiresAt)],
    ['unique key', job.uniqueKey ?? '-'],
    ['cancel requested', time(job.cancelRequestedAt)],
  ];
  const width = Math.max(...fields.map(([label]) => label.length));
  const lines = fields.map(([label, value]) => `${label.padEnd(width)}  ${value}`);
  lines.push('', `args      ${JSON.stringify(job.args)}`, `metadata  ${JSON.stringify(job.metadata)}`);
  lines.push('', job.errors.length === 0 ? 'errors: none' : `errors (${job.errors.length}):`);
  for (const entry of job.errors) {
    lines.push(`  #${entry.attempt} ${entry.at} on ${entry.worker ?? '?'}: ${entry.name}: ${entry.message}`);
    if (entry.stack)
      lines.push(
        ...entry.stack
          .split('\n')
          .slice(1, 6)
          .map((frame) => `      ${frame.trim()}`),
      );
  }
  return lines.join('\n');
}

/** Applies an action to the ids given, or to every job the filter flags match. */
async function act(
  verb: 'retry' | 'cancel' | 'delete',
  argv: string[],
  one: (admin: Admin, id: string) => Promise<string>,
  many: (admin: Admin, filter: JobFilter) => Promise<string>,
): Promise<void> {
  const flags = parseFlags(`jobs ${verb}`, argv, ['schema', ...FILTER_FLAGS], [], true);
  if (flags.help) return void process.stdout.write(`${JOBS_SUBCOMMAND_HELP[verb]}\n`);
  const { filter, given } = filterFrom(flags);
  const ids = flags.positionals;
  if (ids.length > 0 && given) throw new UsageError(`skiplock jobs ${verb}: give job ids or filter flags, not both`);
  if (ids.length === 0 && !given) {
    throw new UsageError(
      `skiplock jobs ${verb}: give job ids (skiplock jobs ${verb} 42 43) or filter flags (--state, --queue, --name, --since, --until)`,
    );
  }
  await withAdmin(`jobs ${verb}`, flags, async (admin) => {
    if (ids.length === 0) process.stdout.write(`${await many(admin, filter)}\n`);
    // Each id's line as soon as it is done: a later id failing does not hide what was done before.
    else for (const id of ids) process.stdout.write(`${await one(admin, id)}\n`);
  });
}

const SUBCOMMANDS: Record<string, (argv: string[]) => Promise<void>> = {
  async list(argv) {
    const flags = parseFlags('jobs list', argv, ['schema', 'limit', 'after', ...FILTER_FLAGS], ['json']);
    if (flags.help) return void process.stdout.write(`${JOBS_SUBCOMMAND_HELP.list}\n`);
    const limit = positiveInteger('--limit', flags.string('limit'), 50);
    const { filter } = filterFrom(flags);
    const page = await withAdmin('jobs list', flags, (admin) =>
      admin.listJobs({ ...filter, limit, after: flags.string('after') }),
    );
    print(flags, page, renderList);
  },

  async show(argv) {
    const flags = parseFlags('jobs show', argv, ['schema'], ['json'], true);
    if (flags.help) return void process.stdout.write(`${JOBS_SUBCOMMAND_HELP.show}\n`);
    const [id, ...extra] = flags.positionals;
    if (id === undefined || extra.length > 0) throw new UsageError('skiplock jobs show: give exactly one job id');
    print(flags, await withAdmin('jobs show', flags, (admin) => admin.getJob(id)), renderJob);
  },

  retry: (argv) =>
    act(
      'retry',
      argv,
      async (admin, id) => `job ${id}: ${(await admin.retryJob(id)).state}`,
      async (admin, filter) => `${await admin.retryJobs(filter)} jobs retried`,
    ),

  cancel: (argv) =>
    act(
      'cancel',
      argv,
      async (admin, id) => {
        const { requested } = await admin.cancelJob(id);
        return requested ? `job ${id}: running; its worker was told to cancel it` : `job ${id}: cancelled`;
      },
      async (admin, filter) => {
        const { cancelled, requested } = await admin.cancelJobs(filter);
        return `${cancelled} jobs cancelled; ${requested} running jobs told to cancel`;
      },
    ),

  delete: (argv) =>
    act(
      'delete',
      argv,
      async (admin, id) => {
        await admin.deleteJob(id);
        return `job ${id}: deleted`;
      },
      async (admin, filter) => `${await admin.deleteJobs(filter)} jobs deleted`,
    ),
};

/** `skiplock jobs list|show|retry|cancel|delete`. */
export async function jobsCommand(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '-h' || sub === '--help') return void process.stdout.write(`${JOBS_HELP}\n`);
  const run = SUBCOMMANDS[sub];
  if (!run) throw new UsageError(`skiplock jobs: unknown subcommand "${sub}" (list, show, retry, cancel, delete)`);
  await run(rest);
}
