import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineJob, Skiplock, type JobFilter } from 'skiplock';
import { databaseUrl, waitFor } from '../../../test/support/schema.js';

/**
 * One million finished rows (and a few thousand that matter): every statement the admin API and
 * the worker run must read through an index, never a sequential scan of the jobs table.
 */
const FINISHED = 1_000_000;

interface Statement {
  text: string;
  values: unknown[];
}

const schema = `scale_${Date.now().toString(36)}`;
let pool: pg.Pool;
let skiplock: Skiplock;
/** Every statement Skiplock sent, as sent. */
const sent: Statement[] = [];

beforeAll(async () => {
  pool = new pg.Pool({ connectionString: databaseUrl(), max: 6 });
  // Record what Skiplock sends through its pool (the statements themselves still run).
  const query = pool.query.bind(pool) as (...args: unknown[]) => Promise<unknown>;
  (pool as unknown as { query: (...args: unknown[]) => Promise<unknown> }).query = (...args: unknown[]) => {
    const [first, second] = args;
    // The values as they were sent: a caller may reuse its array for the next statement (a batch's cursor).
    if (typeof first === 'string') sent.push({ text: first, values: [...((second as unknown[] | undefined) ?? [])] });
    else if (typeof first === 'object' && first !== null && 'text' in first) {
      const config = first as { text: string; values?: unknown[] };
      sent.push({ text: config.text, values: [...(config.values ?? [])] });
    }
    return query(...args);
  };
  skiplock = new Skiplock({ pool, schema, logger: pino({ level: 'silent' }), default: false });
  await skiplock.migrate();
  const jobs = `"${schema}".jobs`;
  await pool.query(
    `INSERT INTO ${jobs} (name, queue, args, state, attempt, run_at, created_at, attempted_at, finished_at)
     SELECT 'job.' || (i % 20), 'queue' || (i % 10), jsonb_build_object('i', i), 'completed', 1,
            t, t, t, t + interval '10 ms'
       FROM generate_series(1, ${FINISHED}) AS i,
            LATERAL (SELECT now() - (${FINISHED} - i) * interval '50 ms' AS t) AS at`,
  );
  await pool.query(
    `INSERT INTO ${jobs} (name, queue, state, attempt, finished_at, errors)
     SELECT 'job.' || (i % 20), 'queue' || (i % 10), CASE WHEN i % 2 = 0 THEN 'discarded' ELSE 'cancelled' END, 1,
            now() - i * interval '1 s', '[{"attempt":1,"message":"boom"}]'
       FROM generate_series(1, 2000) AS i`,
  );
  await pool.query(
    `INSERT INTO ${jobs} (name, queue, state, run_at)
     SELECT 'job.' || (i % 20), 'queue' || (i % 10), CASE WHEN i % 3 = 0 THEN 'scheduled' ELSE 'available' END,
            now() + CASE WHEN i % 3 = 0 THEN interval '1 hour' ELSE interval '0' END
       FROM generate_series(1, 3000) AS i`,
  );
  await pool.query(`VACUUM ANALYZE ${jobs}`);
}, 240_000);

afterAll(async () => {
  await skiplock?.close();
  await pool?.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await pool?.end();
});

/** The plan of a statement, as JSON. */
async function plan(statement: Statement): Promise<string> {
  const { rows } = await pool.query<{ 'QUERY PLAN': unknown }>(
    `EXPLAIN (FORMAT JSON) ${statement.text}`,
    statement.values,
  );
  return JSON.stringify(rows[0]?.['QUERY PLAN']);
}

/** Runs `call`, then checks the plan of every statement it sent: no sequential scan of jobs. */
async function expectIndexedOnly(call: () => Promise<unknown>): Promise<string[]> {
  sent.length = 0;
  await call();
  const statements = sent.filter((statement) => statement.text.includes(`"${schema}".`));
  expect(statements.length).toBeGreaterThan(0);
  const plans: string[] = [];
  for (const statement of statements) {
    const json = await plan(statement);
    // The small queues table may be scanned; the jobs table never.
    const seqScans = [...json.matchAll(/"Node Type":"Seq Scan"[^}]*?"Relation Name":"(\w+)"/g)]
      .map((m) => m[1])
      .filter((relation) => relation === 'jobs');
    expect({ statement: statement.text, seqScans }).toEqual({ statement: statement.text, seqScans: [] });
    plans.push(json);
  }
  return plans;
}

describe(`a jobs table with ${FINISHED.toLocaleString('en')} finished rows`, () => {
  const lists: Array<[string, JobFilter]> = [
    ['every job', {}],
    ['completed', { state: 'completed' }],
    ['discarded', { state: 'discarded' }],
    ['discarded in one queue', { state: ['discarded', 'cancelled'], queue: 'queue3' }],
    ['one name', { name: 'job.7' }],
    ['one queue, available', { queue: 'queue2', state: 'available' }],
    ['created in the last hour', { since: '1h' }],
  ];

  it.each(lists)('lists %s through an index, first page and next', async (_, filter) => {
    await expectIndexedOnly(async () => {
      const first = await skiplock.admin.listJobs({ ...filter, limit: 50 });
      if (first.nextCursor) await skiplock.admin.listJobs({ ...filter, limit: 50, after: first.nextCursor });
    });
  });

  it('counts per queue and state (stats) through indexes, in well under a second', async () => {
    const [statsPlan] = await expectIndexedOnly(() => skiplock.admin.stats());
    expect(statsPlan).toMatch(/jobs_available_idx/);
    expect(statsPlan).toMatch(/jobs_scheduled_idx/);
    expect(statsPlan).toMatch(/jobs_dead_idx/);
    expect(statsPlan).toMatch(/jobs_finished_idx/);
    const started = performance.now();
    const stats = await skiplock.admin.stats();
    const ms = performance.now() - started;
    expect(stats).toHaveLength(10);
    expect(stats.reduce((n, q) => n + q.available + q.scheduled, 0)).toBe(3000);
    expect(stats.reduce((n, q) => n + q.discarded + q.cancelled, 0)).toBe(2000);
    expect(ms).toBeLessThan(1000);
  });

  it('reads the failed_jobs view through indexes', async () => {
    const json = await plan({ text: `SELECT * FROM "${schema}".failed_jobs ORDER BY id DESC LIMIT 20`, values: [] });
    expect(json).not.toMatch(/"Seq Scan"/);
  });

  it('shows one job, and acts on jobs by id and by filter, through indexes', async () => {
    const [discarded] = (await skiplock.admin.listJobs({ state: 'discarded', limit: 1 })).jobs;
    await expectIndexedOnly(() => skiplock.admin.getJob(discarded?.id ?? '1'));
    await expectIndexedOnly(() => skiplock.admin.retryJobs({ state: 'discarded', queue: 'queue4' }));
    // Without a state: each of the action's states through its own index (not a scan of the table).
    await expectIndexedOnly(() => skiplock.admin.retryJobs({ queue: 'queue4' }));
    await expectIndexedOnly(() => skiplock.admin.cancelJobs({ queue: 'queue5', state: 'scheduled' }));
    // Running jobs among them through the lease index.
    await expectIndexedOnly(() => skiplock.admin.cancelJobs({ queue: 'queue5' }));
    await expectIndexedOnly(() => skiplock.admin.deleteJobs({ ids: [discarded?.id ?? '1'] }));
  });

  it('prunes the oldest finished jobs through the finished-jobs index', async () => {
    const [pruning] = await expectIndexedOnly(() => skiplock.admin.prune({ batchSize: 1000 }));
    expect(pruning).toMatch(/jobs_finished_idx/);
  });

  it('claims through the available and scheduled indexes', async () => {
    const ran: number[] = [];
    const job = defineJob<{ n?: number }>({ name: 'job.3', queue: 'queue3', perform: () => void ran.push(1) });
    sent.length = 0;
    const worker = skiplock.worker({ jobs: [job], prune: false, pollInterval: '50ms' });
    await worker.start();
    await waitFor(async () => ran.length > 0, { what: 'a claim' });
    await worker.stop();
    const claim = sent.find((statement) => statement.text.includes("SET state = 'running'"));
    expect(claim).toBeDefined();
    const json = await plan(claim as Statement);
    expect(json).toMatch(/jobs_available_idx/);
    expect(json).toMatch(/jobs_scheduled_idx/);
    expect(json).not.toMatch(/"Node Type":"Seq Scan"[^}]*"Relation Name":"jobs"/);
    // The outcome is written through the primary key, never the lease index (see finishSql).
    const complete = sent.find((statement) => statement.text.includes("SET state = 'completed'"));
    expect(complete).toBeDefined();
    const written = await plan(complete as Statement);
    expect(written).toMatch(/jobs_pkey/);
    expect(written).not.toMatch(/jobs_lease_idx|"Seq Scan"/);
  });
});

describe('a backlog of 50,000 available jobs in five queues, analyzed', () => {
  const backlog = `${schema}_backlog`;
  let instance: Skiplock;

  beforeAll(async () => {
    instance = new Skiplock({ pool, schema: backlog, logger: pino({ level: 'silent' }), default: false });
    await instance.migrate();
    await pool.query(
      `INSERT INTO "${backlog}".jobs (name, queue, args)
       SELECT 'job.backlog', CASE i % 5 WHEN 0 THEN 'backlog' ELSE 'other' || i % 5 END, jsonb_build_object('i', i)
         FROM generate_series(1, 50000) AS i`,
    );
    await pool.query(`VACUUM ANALYZE "${backlog}".jobs`);
  }, 120_000);

  afterAll(async () => {
    await pool?.query(`DROP SCHEMA IF EXISTS "${backlog}" CASCADE`);
  });

  // A join of the picked rows with the table is planned, at this size, as a hash of the whole table.
  // The claim names its queue twice (by hash for the index, by name): unless the planner knows that
  // one implies the other, it expects a fifth of a fifth of the rows and sorts the queue's backlog.
  it('claims a batch of 500 by primary key, walking the queue in claim order, without scanning the table', async () => {
    let ran = 0;
    const job = defineJob({ name: 'job.backlog', queue: 'backlog', perform: () => void (ran += 1) });
    sent.length = 0;
    // Two claim loops, each claiming up to half the slots.
    const worker = instance.worker({ jobs: [job], prune: false, concurrency: 1000 });
    await worker.start();
    await waitFor(async () => ran >= 500, { what: 'a batch of claims' });
    await worker.stop();
    const claim = sent.find((statement) => statement.text.includes("SET state = 'running'"));
    expect(claim?.values[1]).toBe(500);
    const json = await plan(claim as Statement);
    expect(json).not.toMatch(/"Node Type":"Seq Scan"[^}]*"Relation Name":"jobs"/);
    expect(json).toMatch(/jobs_pkey/);
    expect(json).toMatch(/"Node Type":"Index Scan"[^}]*"Index Name":"jobs_available_idx"/);
    expect(json).not.toMatch(/"Sort Key":\["jobs\.priority"/);
  });
});
