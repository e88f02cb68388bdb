import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { Skiplock } from 'skiplock';
import { databaseUrl } from '../../../test/support/schema.js';

const silent = pino({ level: 'silent' });
/** Every migration Skiplock ships, in order. */
const ALL_MIGRATIONS = [
  '0001_jobs',
  '0002_operations',
  '0003_job_versions',
  '0004_claim_indexes',
  '0005_wakeup',
  '0006_queue_check',
  '0007_text_domains',
  '0008_hashed_queue_indexes',
];
const admin = new pg.Pool({ connectionString: databaseUrl(), max: 2 });
const schemas: string[] = [];
const instances: Skiplock[] = [];

function instance(schema: string): Skiplock {
  const skiplock = new Skiplock({ connectionString: databaseUrl(), schema, logger: silent, default: false });
  instances.push(skiplock);
  return skiplock;
}
function freshSchema(): string {
  const schema = `m_${randomBytes(5).toString('hex')}`;
  schemas.push(schema);
  return schema;
}

afterAll(async () => {
  await Promise.all(instances.map((i) => i.close()));
  for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await admin.end();
});

describe('migrate', () => {
  it('creates the schema with the contract tables, function and views', async () => {
    const schema = freshSchema();
    expect(await instance(schema).migrate()).toEqual({ applied: ALL_MIGRATIONS });
    const { rows } = await admin.query<{ column_name: string }>(
      `SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'jobs' ORDER BY ordinal_position`,
      [schema],
    );
    expect(rows.map((r) => r.column_name)).toEqual([
      'id',
      'name',
      'queue',
      'args',
      'state',
      'priority',
      'attempt',
      'max_attempts',
      'run_at',
      'created_at',
      'attempted_at',
      'finished_at',
      'errors',
      'unique_key',
      'locked_by',
      'lease_expires_at',
      'metadata',
      'cancel_requested_at',
      'version',
    ]);
    const fn = await admin.query(
      `SELECT pg_get_function_arguments(p.oid) AS args FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1 AND p.proname = 'enqueue'`,
      [schema],
    );
    expect(fn.rows[0]?.args).toBe(
      "name text, args jsonb DEFAULT '{}'::jsonb, queue text DEFAULT 'default'::text, run_at timestamp with time zone DEFAULT now(), priority integer DEFAULT 0, max_attempts integer DEFAULT 25, unique_key text DEFAULT NULL::text",
    );
    for (const relation of ['queue_stats', 'failed_jobs', 'queues', 'workers']) {
      await expect(admin.query(`SELECT * FROM "${schema}".${relation}`)).resolves.toMatchObject({ rows: [] });
    }
  });

  it("gives a shared pool's connection back with the search_path it had", async () => {
    const pool = new pg.Pool({ connectionString: databaseUrl(), max: 1 });
    try {
      await pool.query('SET search_path = pg_catalog, public');
      const shared = new Skiplock({ pool, schema: freshSchema(), logger: silent, default: false });
      instances.push(shared);
      await shared.migrate();
      const { rows } = await pool.query<{ search_path: string }>('SHOW search_path');
      expect(rows[0]?.search_path).toBe('pg_catalog, public');
    } finally {
      await pool.end();
    }
  });

  it('checks queue names in the table as the library does, for inserts from SQL', async () => {
    const schema = freshSchema();
    await instance(schema).migrate();
    const accepts = async (queue: string) => {
      const client = await admin.connect();
      try {
        await client.query('BEGIN');
        await client.query(`INSERT INTO "${schema}".jobs (name, queue) VALUES ('x', $1)`, [queue]);
        await client.query(`INSERT INTO "${schema}".queues (name) VALUES ($1)`, [queue]);
        return true;
      } catch (error) {
        expect((error as { code?: string }).code).toBe('23514'); // check_violation
        return false;
      } finally {
        await client.query('ROLLBACK');
        client.release();
      }
    };
    for (const good of ['a', '9', 'mail.high:eu/1-b_c', 'x'.repeat(128)]) expect(await accepts(good)).toBe(true);
    for (const bad of ['', '-a', '.a', '_a', 'a b', "a';drop", 'é', 'x'.repeat(129)]) {
      expect({ bad, accepted: await accepts(bad) }).toEqual({ bad, accepted: false });
    }
  });

  it('rejects an unknown state and an empty job name from SQL, on insert and on update', async () => {
    const schema = freshSchema();
    await instance(schema).migrate();
    const jobs = `"${schema}".jobs`;
    const { rows } = await admin.query<{ id: string }>(`INSERT INTO ${jobs} (name) VALUES ('x') RETURNING id::text`);
    const id = rows[0]?.id;
    for (const [statement, values] of [
      [`INSERT INTO ${jobs} (name, state) VALUES ('x', 'complete')`, []],
      [`INSERT INTO ${jobs} (name) VALUES ('')`, []],
      [`UPDATE ${jobs} SET state = 'done' WHERE id = $1`, [id]],
      [`UPDATE ${jobs} SET name = '' WHERE id = $1`, [id]],
    ] as const) {
      await expect(admin.query(statement, [...values])).rejects.toMatchObject({ code: '23514' });
    }
    const kept = await admin.query(`SELECT name, state FROM ${jobs}`);
    expect(kept.rows).toEqual([{ name: 'x', state: 'available' }]);
  });

  it('is idempotent, and replicas migrating at the same moment all succeed', async () => {
    const schema = freshSchema();
    const results = await Promise.all(Array.from({ length: 5 }, () => instance(schema).migrate()));
    expect(results.flatMap((r) => r.applied)).toEqual(ALL_MIGRATIONS);
    expect(await instance(schema).migrate()).toEqual({ applied: [] });
  });

  it('refuses a schema newer than the code', async () => {
    const schema = freshSchema();
    await instance(schema).migrate();
    await admin.query(
      `INSERT INTO "${schema}".skiplock_migrations (name, run_on) VALUES ('9999_from_the_future', now())`,
    );
    await expect(instance(schema).migrate()).rejects.toMatchObject({
      code: 'SCHEMA_VERSION',
      message: expect.stringContaining('9999_from_the_future'),
    });
  });

  it('validates the schema name before any SQL', () => {
    for (const bad of ['Robert"); DROP TABLE jobs; --', 'has space', '1starts_with_digit', 'UPPER', 'x'.repeat(51)]) {
      expect(
        () => new Skiplock({ connectionString: databaseUrl(), schema: bad, logger: silent, default: false }),
      ).toThrow(expect.objectContaining({ code: 'CONFIG', message: expect.stringContaining('schema name') }));
    }
  });
});
