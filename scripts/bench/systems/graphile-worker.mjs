// graphile-worker through its public API: WorkerUtils.addJob / addJobs, run() with a task list.
import { Logger, makeWorkerUtils, run } from 'graphile-worker';
import { seedTable } from '../lib/db.mjs';
import { workerSettings } from './system.mjs';

const silent = new Logger(() => () => undefined);

/** @type {import('./system.mjs').SystemFactory} */
export const graphileWorkerSystem = {
  name: 'graphile-worker',
  // The local queue is the batch it locks and fetches at once: 500 → 5,000–10,000 drains ~1.4× faster here.
  throughput: { concurrency: 24, localQueueSize: 5000, completeJobBatchDelay: 0, maxPoolSize: 12 },
  sweep: [500, 2000, 5000, 10_000].map((localQueueSize) => ({ localQueueSize })),
  latency: { concurrency: 10, maxPoolSize: 12 },
  perProcess: {},
  enqueueSettings: 'workerUtils.addJob / addJobs (one call)',
  create(databaseUrl, schema) {
    /** @type {Awaited<ReturnType<typeof makeWorkerUtils>> | undefined} */
    let utils;
    const getUtils = async () =>
      (utils ??= await makeWorkerUtils({ connectionString: databaseUrl, schema, logger: silent }));
    return {
      name: 'graphile-worker',
      schema,
      async setup() {
        await (await getUtils()).migrate();
      },
      async enqueueOne(args) {
        await (await getUtils()).addJob('noop', args);
      },
      async enqueueMany(list) {
        await (await getUtils()).addJobs(list.map((payload) => ({ identifier: 'noop', payload })));
      },
      async startWorker(onJob, profile, overrides = {}) {
        const o = workerSettings(graphileWorkerSystem, profile, overrides);
        const runner = await run({
          connectionString: databaseUrl,
          schema,
          concurrency: o.concurrency,
          maxPoolSize: o.maxPoolSize,
          noHandleSignals: true,
          pollInterval: 1000,
          logger: silent,
          taskList: { noop: (payload) => onJob(/** @type {{ i: number, t?: number }} */ (payload)) },
          preset:
            o.localQueueSize === undefined
              ? {}
              : { worker: { localQueue: { size: o.localQueueSize }, completeJobBatchDelay: o.completeJobBatchDelay } },
        });
        const localQueue =
          o.localQueueSize === undefined
            ? ''
            : `, localQueue.size ${o.localQueueSize}, completeJobBatchDelay ${o.completeJobBatchDelay}`;
        return {
          settings: `concurrency ${o.concurrency}${localQueue}, maxPoolSize ${o.maxPoolSize}, noHandleSignals (jobs deleted on completion)`,
          stop: () => runner.stop(),
        };
      },
      async pendingCount() {
        const { rows } = await (
          await getUtils()
        ).withPgClient((client) => client.query(`SELECT count(*)::int AS n FROM "${schema}"._private_jobs`));
        return /** @type {{ n: number }} */ (rows[0]).n;
      },
      // graphile-worker deletes a job when it completes: the finished jobs it keeps are those that
      // failed for good (attempts used up).
      async seedLarge(finished, scheduled) {
        await (
          await getUtils()
        ).withPgClient(async (client) => {
          await client.query(
            `INSERT INTO "${schema}"._private_tasks (identifier) VALUES ('noop') ON CONFLICT (identifier) DO NOTHING`,
          );
          const task = `(SELECT id FROM "${schema}"._private_tasks WHERE identifier = 'noop')`;
          await seedTable(
            (text, values) => client.query(text, values),
            [
              [
                `INSERT INTO "${schema}"._private_jobs (task_id, payload, run_at, attempts, max_attempts, last_error)
                 SELECT ${task}, json_build_object('i', g), now() - interval '1 hour', 25, 25, 'seeded failure'
                   FROM generate_series(1, $1) g`,
                finished,
              ],
              [
                `INSERT INTO "${schema}"._private_jobs (task_id, payload, run_at)
                 SELECT ${task}, json_build_object('i', g), now() + interval '1 day' + g * interval '1 ms'
                   FROM generate_series(1, $1) g`,
                scheduled,
              ],
            ],
            `"${schema}"._private_jobs`,
          );
        });
      },
      async close() {
        await utils?.release();
      },
    };
  },
};
