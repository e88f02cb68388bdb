// pg-boss through its public API: send / insert, work() with a batch size and local concurrency; the
// queue has NOTIFY on and the instance listens (pg-boss 12's opt-in wake-up), so an idle worker
// starts a new job without waiting out its polling interval.
import { PgBoss } from 'pg-boss';
import { seedTable } from '../lib/db.mjs';
import { workerSettings } from './system.mjs';

const QUEUE = 'bench';

/** @type {import('./system.mjs').SystemFactory} */
export const pgBossSystem = {
  name: 'pg-boss',
  // Full batches are fetched again at once (burstWhenBatchFull).
  throughput: { localConcurrency: 2, batchSize: 5000 },
  sweep: [
    { localConcurrency: 4, batchSize: 1000 },
    { localConcurrency: 4, batchSize: 2000 },
    { localConcurrency: 2, batchSize: 5000 },
    { localConcurrency: 2, batchSize: 10_000 },
  ],
  latency: { localConcurrency: 1, batchSize: 1 },
  perProcess: {},
  enqueueSettings: `boss.send / boss.insert (one call); queue notify on; max 20 connections`,
  create(databaseUrl, schema) {
    const boss = new PgBoss({
      connectionString: databaseUrl,
      schema,
      max: 20,
      supervise: false,
      schedule: false,
      useListenNotify: true,
    });
    boss.on('error', () => undefined);
    let started = false;
    const ensureStarted = async () => {
      if (started) return;
      started = true;
      await boss.start();
    };
    return {
      name: 'pg-boss',
      schema,
      async setup() {
        await ensureStarted();
        await boss.createQueue(QUEUE, { notify: true });
      },
      async enqueueOne(args) {
        await ensureStarted();
        await boss.send(QUEUE, args);
      },
      async enqueueMany(list) {
        await ensureStarted();
        await boss.insert(
          QUEUE,
          list.map((data) => ({ data })),
        );
      },
      async startWorker(onJob, profile, overrides = {}) {
        await ensureStarted();
        const o = workerSettings(pgBossSystem, profile, overrides);
        const id = await boss.work(
          QUEUE,
          {
            batchSize: o.batchSize,
            localConcurrency: o.localConcurrency,
            burstWhenBatchFull: true,
            pollingIntervalSeconds: 0.5,
            notifyPollingIntervalSeconds: 0.5,
          },
          async (jobs) => {
            for (const job of jobs) onJob(/** @type {{ i: number, t?: number }} */ (job.data));
            return Promise.resolve();
          },
        );
        return {
          settings: `localConcurrency ${o.localConcurrency} × batchSize ${o.batchSize}${o.batchSize > 1 ? ', burstWhenBatchFull' : ''}, LISTEN/NOTIFY, polling 0.5 s`,
          stop: () => boss.offWork(QUEUE, { id, wait: true }),
        };
      },
      async pendingCount() {
        await ensureStarted();
        const db = boss.getDb();
        const { rows } = await db.executeSql(
          `SELECT count(*)::int AS n FROM "${schema}".job WHERE name = $1 AND state NOT IN ('completed', 'failed', 'cancelled')`,
          [QUEUE],
        );
        return /** @type {{ n: number }} */ (rows[0]).n;
      },
      async seedLarge(finished, scheduled) {
        await ensureStarted();
        const db = boss.getDb();
        await seedTable(
          (text, values) => db.executeSql(text, values),
          [
            [
              `INSERT INTO "${schema}".job (name, data, state, policy, start_after, started_on, completed_on)
               SELECT '${QUEUE}', jsonb_build_object('i', g), 'completed', 'standard',
                      now() - interval '1 hour', now() - interval '1 hour', now()
                 FROM generate_series(1, $1) g`,
              finished,
            ],
            [
              `INSERT INTO "${schema}".job (name, data, state, policy, start_after)
               SELECT '${QUEUE}', jsonb_build_object('i', g), 'created', 'standard', now() + interval '1 day' + g * interval '1 ms'
                 FROM generate_series(1, $1) g`,
              scheduled,
            ],
          ],
          `"${schema}".job`,
        );
      },
      async close() {
        if (started) await boss.stop({ graceful: false, close: true, timeout: 1000 });
      },
    };
  },
};
