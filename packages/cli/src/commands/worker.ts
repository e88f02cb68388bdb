import { Skiplock, toTimerMs } from 'skiplock';
import { databaseUrl, durationFlag, parseFlags, positiveInteger } from '../args.js';
import { loadJobs } from '../load-jobs.js';
import { cliLogger } from '../logging.js';
import { CLOSE_POOL_TIMEOUT, exitOnSignal } from '../signals.js';
import { UsageError, WORKER_HELP } from '../usage.js';

/** `skiplock worker --jobs <module>`: runs the module's job definitions until a signal. */
export async function workerCommand(argv: string[]): Promise<void> {
  const flags = parseFlags('worker', argv, [
    'jobs',
    'queues',
    'concurrency',
    'claim-loops',
    'completion-batch-size',
    'schema',
    'shutdown-timeout',
    'lease',
    'poll-interval',
  ]);
  if (flags.help) {
    process.stdout.write(`${WORKER_HELP}\n`);
    return;
  }
  const jobsModule = flags.string('jobs');
  if (!jobsModule) throw new UsageError('skiplock worker: --jobs <module> is required (see skiplock worker --help)');
  const concurrency = positiveInteger('--concurrency', flags.string('concurrency'), 10);
  const claimLoops = positiveInteger('--claim-loops', flags.string('claim-loops'), 2);
  const completionBatchSize = positiveInteger('--completion-batch-size', flags.string('completion-batch-size'), 100);
  const queues = flags
    .string('queues')
    ?.split(',')
    .map((q) => q.trim())
    .filter((q) => q.length > 0);
  if (queues?.length === 0) throw new UsageError('--queues names no queue');
  // A timer's (Node runs longer ones after 1 ms): checked now, not when the signal comes.
  const shutdownMs = durationFlag('--shutdown-timeout', flags.string('shutdown-timeout'), '30s', toTimerMs);
  const lease = durationFlag('--lease', flags.string('lease'), '30s');
  const pollInterval = durationFlag('--poll-interval', flags.string('poll-interval'), '1s');
  const url = databaseUrl('worker');
  const jobs = await loadJobs(jobsModule);
  const logger = cliLogger();
  const skiplock = new Skiplock({
    connectionString: url,
    schema: flags.string('schema'),
    logger,
    // A transactional job holds a connection while it runs: one each, and the worker's own three.
    poolSize: jobs.some((job) => job.transactional) ? concurrency + 3 : Math.max(4, Math.min(concurrency, 20)),
  });
  const worker = skiplock.worker({ jobs, queues, concurrency, claimLoops, completionBatchSize, lease, pollInterval });
  exitOnSignal(logger, async () => {
    await worker.stop({ timeout: shutdownMs });
    await skiplock.close({ poolTimeout: CLOSE_POOL_TIMEOUT });
  });
  await skiplock.migrate();
  await worker.start();
}
