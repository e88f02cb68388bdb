// Skiplock through its public API: enqueue / performAllLater, a worker with tuned concurrency and
// completion batching.
import { seedTable } from '../lib/db.mjs';
import { workerSettings } from './system.mjs';

process.env.SKIPLOCK_LOG_LEVEL ??= 'warn';
const { defineJob, Skiplock } = await import('skiplock');

/** @type {import('./system.mjs').SystemFactory} */
export const skiplockSystem = {
  name: 'skiplock',
  throughput: { concurrency: 5000, completionBatchSize: 5000 },
  sweep: [500, 1000, 2000, 5000, 10_000].map((n) => ({ concurrency: n, completionBatchSize: Math.max(n, 1000) })),
  latency: { concurrency: 10, completionBatchSize: 100 },
  perProcess: { claimLoops: 1 },
  enqueueSettings: 'skiplock.enqueue(job, args) / performAllLater(undefined, requests); poolSize 20',
  create(databaseUrl, schema) {
    const skiplock = new Skiplock({
      connectionString: databaseUrl,
      schema,
      poolSize: 20,
      default: false,
      retention: false,
    });
    /** @type {import('./system.mjs').OnJob} */
    let onJob = () => undefined;
    const job = defineJob({
      name: 'bench.noop',
      queue: 'bench',
      perform: (/** @type {{ i: number, t?: number }} */ args) => onJob(args),
    });
    return {
      name: 'skiplock',
      schema,
      async setup() {
        await skiplock.migrate();
      },
      async enqueueOne(args) {
        await skiplock.enqueue(job, args);
      },
      async enqueueMany(list) {
        await skiplock.performAllLater(
          undefined,
          list.map((args) => job.with(args)),
        );
      },
      async startWorker(handler, profile, overrides = {}) {
        onJob = handler;
        const options = workerSettings(skiplockSystem, profile, overrides);
        const worker = skiplock.worker({ jobs: [job], prune: false, ...options });
        await worker.start();
        return {
          settings: `concurrency ${options.concurrency}, completionBatchSize ${options.completionBatchSize}${options.claimLoops ? `, claimLoops ${options.claimLoops}` : ''}, completed rows kept`,
          stop: () => worker.stop({ timeout: '5s' }),
        };
      },
      async pendingCount() {
        const { rows } = await skiplock.pool.query(
          `SELECT count(*)::int AS n FROM "${schema}".jobs WHERE state NOT IN ('completed', 'discarded', 'cancelled')`,
        );
        return /** @type {{ n: number }} */ (rows[0]).n;
      },
      async seedLarge(finished, scheduled) {
        await seedTable(
          (text, values) => skiplock.pool.query(text, values),
          [
            [
              `INSERT INTO "${schema}".jobs (name, queue, args, state, attempt, run_at, attempted_at, finished_at)
               SELECT 'bench.noop', 'bench', jsonb_build_object('i', g), 'completed', 1,
                      now() - interval '1 hour', now() - interval '1 hour', now()
                 FROM generate_series(1, $1) g`,
              finished,
            ],
            [
              `INSERT INTO "${schema}".jobs (name, queue, args, state, run_at)
               SELECT 'bench.noop', 'bench', jsonb_build_object('i', g), 'scheduled', now() + interval '1 day' + g * interval '1 ms'
                 FROM generate_series(1, $1) g`,
              scheduled,
            ],
          ],
          `"${schema}".jobs`,
        );
      },
      close: () => skiplock.close(),
    };
  },
};
