import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { pino } from 'pino';
import { Skiplock, type EnqueueResult, type SkiplockOptions } from 'skiplock';
import { inject } from 'vitest';

/** The database URL the global setup chose. */
export function databaseUrl(): string {
  return inject('databaseUrl');
}

/**
 * A pool for a test's own queries. A connection the server terminates (a restart, a fault test)
 * must not crash the test process: pg emits that error on the client, sometimes after the pool has
 * let go of it, where no listener of the pool's is attached.
 */
export function testPool(url: string, max = 4): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max });
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}

/** A migrated schema of this test file's own, and the Skiplock instance on it. */
export interface TestSchema {
  schema: string;
  url: string;
  skiplock: Skiplock;
  /** A pool for the test's own queries (not Skiplock's). */
  pool: pg.Pool;
  /** Stops everything and drops the schema. */
  drop(): Promise<void>;
}

/** Creates and migrates a fresh schema, `t_<random>` unless `options.schema` names it. */
export async function createTestSchema(
  options: Partial<SkiplockOptions> = {},
  url = databaseUrl(),
): Promise<TestSchema> {
  const schema = options.schema ?? `t_${randomBytes(5).toString('hex')}`;
  const skiplock = new Skiplock({ connectionString: url, logger: pino({ level: 'silent' }), ...options, schema });
  await skiplock.migrate();
  const pool = testPool(url);
  return {
    schema,
    url,
    skiplock,
    pool,
    async drop() {
      await skiplock.close();
      await pool.query(`DROP SCHEMA "${schema}" CASCADE`);
      await pool.end();
    },
  };
}

/** How many backends wait on a lock in a statement whose text contains every one of `fragments`. */
export async function lockWaiters(pool: pg.Pool, ...fragments: string[]): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()
        AND (SELECT bool_and(strpos(query, fragment) > 0) FROM unnest($1::text[]) AS fragment)`,
    [fragments],
  );
  return rows[0]?.n ?? 0;
}

/** Polls `check` until it returns true (or a value that is not false/undefined); fails after `timeoutMs`. */
export async function waitFor<T>(
  check: () => Promise<T | false | undefined>,
  { timeoutMs = 20_000, intervalMs = 25, what = 'condition' } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== false && value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Counts of the schema's jobs by state. */
export async function stateCounts(test: TestSchema): Promise<Record<string, number>> {
  const { rows } = await test.pool.query<{ state: string; n: number }>(
    `SELECT state, count(*)::int AS n FROM "${test.schema}".jobs GROUP BY state`,
  );
  return Object.fromEntries(rows.map((row) => [row.state, row.n]));
}

/** The id of an enqueue result that stored (or found) a row; fails the test on `skipped`. */
export function idOf(result: EnqueueResult): string {
  if (result.id === null) throw new Error(`expected a stored job, got ${JSON.stringify(result)}`);
  return result.id;
}
