import { join } from 'node:path';
import { Skiplock, type QueueStats } from 'skiplock';
import { parseFlags, positiveInteger } from '../args.js';
import { buildReport, demoJobs, importFile, sendWelcome, syncPartner } from '../demo-jobs.js';
import { startEmbeddedPostgres, type RunningPostgres } from '../embedded-postgres.js';
import { cliLogger } from '../logging.js';
import { CLOSE_POOL_TIMEOUT, exitOnSignal } from '../signals.js';
import { DEV_HELP } from '../usage.js';

/** How many of the demo's own jobs are not finished yet (other jobs in the schema do not count). */
async function unfinishedDemoJobs(skiplock: Skiplock, ids: readonly string[]): Promise<number> {
  const { jobs } = await skiplock.admin.listJobs({
    ids,
    state: ['available', 'scheduled', 'running', 'retryable'],
    limit: 1000,
  });
  return jobs.length;
}

async function progressLine(skiplock: Skiplock): Promise<string> {
  const stats = await skiplock.admin.stats();
  const total = (pick: (q: QueueStats) => number) => stats.reduce((n, q) => n + pick(q), 0);
  const counts = {
    available: total((q) => q.available),
    scheduled: total((q) => q.scheduled),
    running: total((q) => q.running),
    retryable: total((q) => q.retryable),
    'completed (5 min)': total((q) => q.completed5m),
    discarded: total((q) => q.discarded),
  };
  return Object.entries(counts)
    .map(([state, count]) => `${count} ${state}`)
    .join(' · ');
}

/** `skiplock dev`: embedded Postgres (unless DATABASE_URL), demo jobs, a worker, progress. */
export async function devCommand(argv: string[]): Promise<void> {
  const flags = parseFlags('dev', argv, ['port'], ['once']);
  if (flags.help) {
    process.stdout.write(`${DEV_HELP}\n`);
    return;
  }
  const logger = cliLogger();
  let server: RunningPostgres | undefined;
  let url = process.env.DATABASE_URL;
  if (url) {
    logger.info('using the database in DATABASE_URL');
  } else {
    const dataDir = join(process.cwd(), '.skiplock', 'pgdata');
    logger.info({ dataDir }, 'starting an embedded PostgreSQL (first start takes a few seconds)');
    server = await startEmbeddedPostgres({
      dataDir,
      port: positiveInteger('--port', flags.string('port'), 54329),
      database: 'skiplock',
      logger,
    });
    url = server.url;
    logger.info({ url }, 'embedded PostgreSQL is up');
  }
  const skiplock = new Skiplock({ connectionString: url, logger });
  const worker = skiplock.worker({
    jobs: demoJobs,
    queues: ['default', 'mailers'],
    concurrency: 5,
    pollInterval: '500ms',
  });
  const progress: { ticker?: NodeJS.Timeout } = {};
  const shutdown = async () => {
    clearInterval(progress.ticker);
    await worker.stop({ timeout: '10s' });
    await skiplock.close({ poolTimeout: CLOSE_POOL_TIMEOUT });
    await server?.stop();
  };
  exitOnSignal(logger, shutdown);

  await skiplock.migrate();
  const results = await skiplock.performAllLater(undefined, [
    ...['ada', 'grace', 'linus', 'barbara', 'ken'].map((userId) => sendWelcome.with({ userId })),
    syncPartner.with({ partner: 'acme' }),
    buildReport.with({ report: 'daily-signups' }, { wait: '5s' }),
    buildReport.with({ report: 'weekly-revenue' }, { wait: '10s' }),
    importFile.with({ path: '/tmp/customers.csv' }),
  ]);
  const ids = results.flatMap((result) => (result.id === null ? [] : [result.id]));
  logger.info({ jobs: results.length }, 'demo jobs enqueued; Ctrl-C to stop');
  await worker.start();

  let last = '';
  progress.ticker = setInterval(() => {
    const tick = async () => {
      const line = await progressLine(skiplock);
      return { line, finished: flags.bool('once') && (await unfinishedDemoJobs(skiplock, ids)) === 0 };
    };
    tick().then(
      ({ line, finished }) => {
        if (line !== last) process.stdout.write(`progress: ${line}\n`);
        last = line;
        if (finished) {
          clearInterval(progress.ticker);
          process.stdout.write('every demo job has finished\n');
          shutdown().then(
            () => process.exit(0),
            () => process.exit(1),
          );
        }
      },
      (error: unknown) => logger.warn({ err: error }, 'could not read progress'),
    );
  }, 500);
}
