// Connections and disposable schemas: every system gets fresh schemas per run, dropped after.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** @param {string} prefix e.g. `bench_skiplock` @returns {string} a new, unused schema name */
export function freshSchema(prefix) {
  return `${prefix}_${randomBytes(4).toString('hex')}`;
}

/** @param {string} databaseUrl @param {number} [max] */
export function createPool(databaseUrl, max = 12) {
  const pool = new pg.Pool({ connectionString: databaseUrl, max, application_name: 'skiplock-bench' });
  pool.on('error', () => undefined);
  return pool;
}

/** Drops schemas (and everything in them). @param {string} databaseUrl @param {string[]} schemas */
export async function dropSchemas(databaseUrl, schemas) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

/**
 * S6's seeding: each `[sql, rows]` of `inserts` runs with `rows` as `$1` (an `INSERT … SELECT …
 * generate_series(1, $1)`), then `table` (qualified, quoted) is vacuumed and analyzed and a checkpoint
 * taken, so that neither the seeding's dead tuples and missing statistics nor its dirty pages land
 * in the samples.
 * @param {(text: string, values?: unknown[]) => Promise<unknown>} query
 * @param {Array<[string, number]>} inserts
 * @param {string} table
 */
export async function seedTable(query, inserts, table) {
  for (const [sql, rows] of inserts) await query(sql, [rows]);
  await query(`VACUUM ANALYZE ${table}`);
  await query('CHECKPOINT');
}

/** Waits until `check()` is true, polling every `everyMs`; rejects after `timeoutMs`. */
export async function waitUntil(
  /** @type {() => Promise<boolean>} */ check,
  /** @type {{ timeoutMs: number, everyMs?: number, what: string }} */ { timeoutMs, everyMs = 10, what },
) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** Milliseconds, sub-millisecond resolution, comparable within one process. */
export const now = () => performance.now();
