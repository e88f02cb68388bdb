import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { defineJob, Skiplock } from 'skiplock';
import { databaseUrl, waitFor } from '../../../test/support/schema.js';
import { runMigrations } from '../src/migrate.js';

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
  '0009_value_domains',
  '0010_run_at_check',
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

  it('rejects from SQL, on insert and on update, what the library never writes: an unknown state, an empty name, arguments that are not an object, errors that are not an array, a negative attempt, no attempts allowed, version 0', async () => {
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
      [`INSERT INTO ${jobs} (name, args) VALUES ('x', '[1]')`, []],
      [`UPDATE ${jobs} SET args = '"x"' WHERE id = $1`, [id]],
      [`UPDATE ${jobs} SET errors = '{}' WHERE id = $1`, [id]],
      [`INSERT INTO ${jobs} (name, attempt) VALUES ('x', -1)`, []],
      [`UPDATE ${jobs} SET attempt = attempt - 1 WHERE id = $1`, [id]],
      [`INSERT INTO ${jobs} (name, max_attempts) VALUES ('x', 0)`, []],
      [`UPDATE ${jobs} SET version = 0 WHERE id = $1`, [id]],
    ] as const) {
      await expect(admin.query(statement, [...values])).rejects.toMatchObject({ code: '23514' });
    }
    const kept = await admin.query(`SELECT name, state, args, errors, attempt, max_attempts, version FROM ${jobs}`);
    // Read as their base types: JSON and numbers.
    expect(kept.rows).toEqual([
      { name: 'x', state: 'available', args: {}, errors: [], attempt: 0, max_attempts: 25, version: 1 },
    ]);
  });

  it('a role that owns its schema but may not create schemas migrates, and runs a worker, again and again', async () => {
    const schema = freshSchema();
    const role = `${schema}_app`;
    await admin.query(`CREATE ROLE "${role}" LOGIN PASSWORD 'app'`);
    const url = new URL(databaseUrl());
    url.username = role;
    url.password = 'app';
    const app = new Skiplock({ connectionString: url.toString(), schema, logger: silent, default: false });
    try {
      // What a DBA hands an application: its own schema, no CREATE on the database.
      await admin.query(`CREATE SCHEMA "${schema}" AUTHORIZATION "${role}"`);
      const hasCreate = await admin.query<{ ok: boolean }>(
        `SELECT has_database_privilege($1, current_database(), 'CREATE') AS ok`,
        [role],
      );
      expect(hasCreate.rows[0]?.ok).toBe(false);
      expect(await app.migrate()).toEqual({ applied: ALL_MIGRATIONS });
      // Every worker start migrates: with nothing left to apply it must not need more rights.
      expect(await app.migrate()).toEqual({ applied: [] });
      const job = defineJob({ name: 'app.job', perform() {} });
      const { id } = await app.enqueue(job, {});
      const worker = app.worker({ jobs: [job] });
      await worker.start();
      await waitFor(
        async () =>
          (await admin.query(`SELECT state FROM "${schema}".jobs WHERE id = $1`, [id])).rows[0]?.state === 'completed',
        { what: 'the job completed' },
      );
      await worker.stop();
    } finally {
      await app.close();
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await admin.query(`DROP ROLE "${role}"`);
    }
  });

  it('is idempotent, and replicas migrating at the same moment all succeed', async () => {
    const schema = freshSchema();
    const results = await Promise.all(Array.from({ length: 5 }, () => instance(schema).migrate()));
    expect(results.flatMap((r) => r.applied)).toEqual(ALL_MIGRATIONS);
    expect(await instance(schema).migrate()).toEqual({ applied: [] });
  });

  it('upgrades a schema of 0007 holding jobs in three queues: claim indexes keyed by hash, analyzed, rules as domains without a rewrite, one queue drained', async () => {
    const schema = freshSchema();
    const client = await admin.connect();
    try {
      await runMigrations(client, schema, silent, ALL_MIGRATIONS.indexOf('0007_text_domains') + 1);
    } finally {
      await client.query('RESET search_path');
      client.release();
    }
    await admin.query(
      `INSERT INTO "${schema}".jobs (name, queue, args)
       SELECT 'upgraded', 'q' || i % 3, jsonb_build_object('i', i) FROM generate_series(1, 3000) AS i`,
    );
    const storage = `SELECT pg_relation_filenode('"${schema}".jobs') AS file`;
    const before = (await admin.query(storage)).rows;
    const skiplock = instance(schema);
    expect(await skiplock.migrate()).toEqual({
      applied: ALL_MIGRATIONS.slice(ALL_MIGRATIONS.indexOf('0008_hashed_queue_indexes')),
    });
    // 0009 changes five columns to domains over their own types: the table is not rewritten.
    expect((await admin.query(storage)).rows).toEqual(before);
    const { rows: indexes } = await admin.query<{ indexdef: string }>(
      `SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname IN ('jobs_available_idx', 'jobs_scheduled_idx')`,
      [schema],
    );
    expect(indexes.map((index) => index.indexdef)).toEqual([
      expect.stringContaining('(hashtext((queue)::text), priority, run_at, id)'),
      expect.stringContaining('(hashtext((queue)::text), run_at, id)'),
    ]);
    // The migration analyzed the table: the planner knows the name determines the hash.
    const { rows: statistics } = await admin.query(
      `SELECT 1 FROM pg_statistic_ext s JOIN pg_statistic_ext_data d ON d.stxoid = s.oid
        WHERE s.stxnamespace = $1::regnamespace AND s.stxname = 'jobs_queue_hash_stats' AND d.stxddependencies IS NOT NULL`,
      [schema],
    );
    expect(statistics).toHaveLength(1);
    let ran = 0;
    const job = defineJob({ name: 'upgraded', queue: 'q1', perform: () => void (ran += 1) });
    const worker = skiplock.worker({ jobs: [job], prune: false, pollInterval: '50ms' });
    await worker.start();
    try {
      await waitFor(async () => ran === 1000, { what: "queue q1's 1,000 jobs" });
    } finally {
      await worker.stop();
    }
    const { rows: counts } = await admin.query(
      `SELECT queue, state, count(*)::int AS n FROM "${schema}".jobs GROUP BY 1, 2 ORDER BY 1, 2`,
    );
    expect(counts).toEqual([
      { queue: 'q0', state: 'available', n: 1000 },
      { queue: 'q1', state: 'completed', n: 1000 },
      { queue: 'q2', state: 'available', n: 1000 },
    ]);
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

  it('a worker refuses to start on a schema that lacks migrations (never migrated, or migrated by an older release)', async () => {
    const job = defineJob({ name: 'm.version', perform() {} });
    const never = instance(freshSchema());
    await expect(never.worker({ jobs: [job], prune: false }).start()).rejects.toMatchObject({
      code: 'SCHEMA_VERSION',
      message: expect.stringMatching(/lacks migrations .*0001_jobs.*run `skiplock migrate`/),
    });
    const schema = freshSchema();
    const client = await admin.connect();
    try {
      await runMigrations(client, schema, silent, ALL_MIGRATIONS.indexOf('0009_value_domains') + 1);
    } finally {
      await client.query('RESET search_path');
      client.release();
    }
    const older = instance(schema);
    await expect(older.worker({ jobs: [job], prune: false }).start()).rejects.toMatchObject({
      code: 'SCHEMA_VERSION',
      message: expect.stringContaining('(0010_run_at_check)'),
    });
    await older.migrate();
    const worker = older.worker({ jobs: [job], prune: false });
    await worker.start();
    await worker.stop();
  });

  it('validates the schema name before any SQL', () => {
    for (const bad of [
      'Robert"); DROP TABLE jobs; --',
      'has space',
      '1starts_with_digit',
      'UPPER',
      'x'.repeat(51),
      'pg_jobs',
      'pg_catalog',
      'information_schema',
    ]) {
      expect(
        () => new Skiplock({ connectionString: databaseUrl(), schema: bad, logger: silent, default: false }),
      ).toThrow(expect.objectContaining({ code: 'CONFIG', message: expect.stringContaining('schema name') }));
    }
  });
});
