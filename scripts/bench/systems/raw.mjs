// The raw SQL floor: plain `pg` on a minimal jobs table, the least work any queue has to do.
// Variants: with or without a NOTIFY trigger on insert; finished jobs UPDATEd to completed or DELETEd.
import { createPool, freshSchema, seedTable } from '../lib/db.mjs';
import { workerSettings } from './system.mjs';

/**
 * @param {{ notify?: boolean, finish?: 'update' | 'delete', name?: string }} [variant]
 * @returns {import('./system.mjs').SystemFactory}
 */
export function rawSystem({ notify = true, finish = 'update', name } = {}) {
  const label = name ?? `raw${notify ? '' : ' (no NOTIFY)'}${finish === 'delete' ? ' (DELETE)' : ''}`;
  /** @type {import('./system.mjs').SystemFactory} */
  const factory = {
    name: label,
    enqueueSettings: `INSERT … VALUES ($1)${notify ? ' + statement NOTIFY trigger' : ''}; bulk: INSERT … SELECT unnest($1::jsonb[])`,
    throughput: { batch: 5000, loops: 2 },
    sweep: [500, 2000, 5000, 10_000].map((batch) => ({ batch })),
    latency: { batch: 10, loops: 2 },
    perProcess: { loops: 1 },
    create: (databaseUrl, schema) => createRaw(databaseUrl, schema, factory, notify, finish),
  };
  return factory;
}

export const newRawSchema = () => freshSchema('bench_raw');

/** @returns {import('./system.mjs').System} */
function createRaw(
  /** @type {string} */ databaseUrl,
  /** @type {string} */ schema,
  /** @type {import('./system.mjs').SystemFactory} */ factory,
  /** @type {boolean} */ notify,
  /** @type {'update' | 'delete'} */ finish,
) {
  const pool = createPool(databaseUrl, 12);
  const s = `"${schema}"`;
  const channel = `${schema}_jobs`;
  const claimSql = `
UPDATE ${s}.jobs SET state = 'running'
 WHERE id IN (SELECT id FROM ${s}.jobs WHERE state = 'available' AND run_at <= now()
               ORDER BY run_at, id LIMIT $1 FOR UPDATE SKIP LOCKED)
RETURNING id, args`;
  const finishSql =
    finish === 'delete'
      ? `DELETE FROM ${s}.jobs WHERE id = ANY($1::bigint[])`
      : `UPDATE ${s}.jobs SET state = 'completed', finished_at = now() WHERE id = ANY($1::bigint[])`;
  return {
    name: factory.name,
    schema,
    async setup() {
      await pool.query(`
CREATE SCHEMA ${s};
CREATE TABLE ${s}.jobs (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  args jsonb NOT NULL DEFAULT '{}',
  state text NOT NULL DEFAULT 'available',
  run_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz
) WITH (fillfactor = 80);
CREATE INDEX ON ${s}.jobs (run_at, id) WHERE state = 'available';
${
  notify
    ? `CREATE FUNCTION ${s}.notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_notify('${channel}', ''); RETURN NULL; END $$;
CREATE TRIGGER notify AFTER INSERT ON ${s}.jobs FOR EACH STATEMENT EXECUTE FUNCTION ${s}.notify();`
    : ''
}`);
    },
    async enqueueOne(args) {
      await pool.query(`INSERT INTO ${s}.jobs (args) VALUES ($1)`, [args]);
    },
    async enqueueMany(list) {
      await pool.query(`INSERT INTO ${s}.jobs (args) SELECT unnest($1::jsonb[])`, [list.map((a) => JSON.stringify(a))]);
    },
    async startWorker(onJob, profile, overrides = {}) {
      const { batch, loops } = workerSettings(factory, profile, overrides);
      const listener = await pool.connect();
      let stopped = false;
      /** @type {Array<() => void>} */
      let sleepers = [];
      const wakeAll = () => {
        const woken = sleepers;
        sleepers = [];
        for (const wake of woken) wake();
      };
      listener.on('notification', wakeAll);
      await listener.query(`LISTEN "${channel}"`);
      const loop = async () => {
        while (!stopped) {
          const { rows } = await pool.query(claimSql, [batch]);
          if (rows.length === 0) {
            await new Promise((resolve) => {
              const timer = setTimeout(resolve, 1000);
              sleepers.push(() => {
                clearTimeout(timer);
                resolve(undefined);
              });
            });
            continue;
          }
          for (const row of rows) onJob(row.args);
          await pool.query(finishSql, [rows.map((row) => row.id)]);
        }
      };
      const running = Array.from({ length: loops }, () => loop());
      return {
        settings: `${loops} claim loops × batch ${batch}, LISTEN + 1 s poll, finish by ${finish.toUpperCase()}`,
        async stop() {
          stopped = true;
          wakeAll();
          await Promise.all(running);
          await listener.query(`UNLISTEN *`);
          listener.release();
        },
      };
    },
    async pendingCount() {
      const where = finish === 'delete' ? '' : `WHERE state <> 'completed'`;
      const { rows } = await pool.query(`SELECT count(*)::int AS n FROM ${s}.jobs ${where}`);
      return rows[0].n;
    },
    async seedLarge(finished, scheduled) {
      await seedTable(
        (text, values) => pool.query(text, values),
        [
          [
            `INSERT INTO ${s}.jobs (args, state, run_at, finished_at)
             SELECT jsonb_build_object('i', g), 'completed', now() - interval '1 hour', now() FROM generate_series(1, $1) g`,
            finished,
          ],
          [
            `INSERT INTO ${s}.jobs (args, state, run_at)
             SELECT jsonb_build_object('i', g), 'available', now() + interval '1 day' + g * interval '1 ms'
               FROM generate_series(1, $1) g`,
            scheduled,
          ],
        ],
        `${s}.jobs`,
      );
    },
    async close() {
      await pool.end();
    },
  };
}
