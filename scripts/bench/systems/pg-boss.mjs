// pg-boss through its public API: send / insert, work() with a batch size, several work() loops
// standing in for the removed teamSize.
import PgBoss from 'pg-boss';
import { seedTable } from '../lib/db.mjs';

const QUEUE = 'bench';

/** Best settings found for draining a backlog (S3). pg-boss 10 waits its polling interval after every batch. */
export const PGBOSS_THROUGHPUT = { workers: 4, batchSize: 1000 };

/** @type {import('./system.mjs').SystemFactory} */
export const pgBossSystem = {
  name: 'pg-boss',
  enqueueSettings: `boss.send / boss.insert (one call); max 20 connections`,
  create(databaseUrl, schema) {
    const boss = new PgBoss({ connectionString: databaseUrl, schema, max: 20, supervise: false, schedule: false });
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
        await boss.createQueue(QUEUE);
      },
      async enqueueOne(args) {
        await ensureStarted();
        await boss.send(QUEUE, args);
      },
      async enqueueMany(list) {
        await ensureStarted();
        await boss.insert(list.map((data) => ({ name: QUEUE, data })));
      },
      async startWorker(onJob, profile, overrides = {}) {
        await ensureStarted();
        const o =
          profile === 'throughput'
            ? { ...PGBOSS_THROUGHPUT, ...overrides }
            : { workers: 1, batchSize: 1, ...overrides };
        const ids = [];
        for (let k = 0; k < o.workers; k++) {
          ids.push(
            await boss.work(QUEUE, { batchSize: o.batchSize, pollingIntervalSeconds: 0.5 }, async (jobs) => {
              for (const job of jobs) onJob(/** @type {{ i: number, t?: number }} */ (job.data));
              return Promise.resolve();
            }),
          );
        }
        return {
          settings: `${o.workers} work() loops × batchSize ${o.batchSize}, pollingIntervalSeconds 0.5 (the minimum; no LISTEN in pg-boss 10)`,
          async stop() {
            for (const id of ids) await boss.offWork({ id });
          },
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
        if (started) await boss.stop({ graceful: false, wait: true, close: true, timeout: 1000 });
      },
    };
  },
};
