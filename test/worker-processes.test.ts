import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { waitFor, type TestSchema } from './support/schema.js';
import {
  FIXTURE_JOBS as JOBS,
  fixtureJobs,
  spawnCli,
  useProcessTestSchema,
  type CliProcess,
} from './support/processes.js';

const { record, sleepy, transactional, stubbornQuery, stubbornTransactional } = await fixtureJobs();

const file = useProcessTestSchema();
let t: TestSchema;
beforeAll(() => {
  t = file.t;
});

const worker = (extra: string[] = []): Promise<CliProcess> => file.startWorker(['--concurrency', '20', ...extra]);

async function count(sql: string): Promise<number> {
  const { rows } = await t.pool.query<{ n: number }>(sql.replaceAll('$s', `"${t.schema}"`));
  return rows[0]?.n ?? -1;
}

describe('skiplock worker processes', () => {
  it('two processes on one queue run 5,000 jobs, every job exactly once, then stop cleanly on SIGTERM', async () => {
    const enqueue = (from: number, n: number) =>
      t.skiplock.performAllLater(
        undefined,
        Array.from({ length: n }, (_, i) => record.with({ n: from + i })),
      );
    await enqueue(0, 2500);
    const [a, b] = await Promise.all([worker(), worker()]);
    await enqueue(2500, 2500);
    await waitFor(
      async () => (await count(`SELECT count(*)::int AS n FROM $s.jobs WHERE state = 'completed'`)) === 5000,
      {
        timeoutMs: 120_000,
        what: '5,000 completed jobs',
      },
    );
    expect(await count(`SELECT count(*)::int AS n FROM $s.runs`)).toBe(5000);
    expect(await count(`SELECT count(DISTINCT job_id)::int AS n FROM $s.runs`)).toBe(5000);
    expect(await count(`SELECT count(*)::int AS n FROM $s.jobs WHERE attempt <> 1 OR errors <> '[]'`)).toBe(0);
    // Both processes took part.
    expect(await count(`SELECT count(DISTINCT pid)::int AS n FROM $s.runs`)).toBe(2);
    a.child.kill('SIGTERM');
    b.child.kill('SIGTERM');
    expect(await a.exited).toBe(0);
    expect(await b.exited).toBe(0);
    expect(await count(`SELECT count(*)::int AS n FROM $s.workers`)).toBe(0);
    await t.pool.query(`DELETE FROM "${t.schema}".jobs; DELETE FROM "${t.schema}".runs`);
  });

  it('--claim-loops and --completion-batch-size reach the worker (its start log reports them)', async () => {
    const p = await worker(['--claim-loops', '1', '--completion-batch-size', '250']);
    const started = p
      .output()
      .split('\n')
      .find((line) => line.includes('worker started'));
    expect(JSON.parse(started ?? '{}')).toMatchObject({ concurrency: 20, claimLoops: 1, completionBatchSize: 250 });
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  });

  it('with a transactional job the pool has a connection per slot and three more: no warning, the job commits', async () => {
    const p = await file.startWorker(['--concurrency', '5']);
    const { id } = await t.skiplock.enqueue(transactional, {});
    await waitFor(async () => (await count(`SELECT count(*)::int AS n FROM $s.jobs WHERE state = 'completed'`)) === 1, {
      what: 'the transactional job completed',
    });
    expect(await count(`SELECT count(*)::int AS n FROM $s.runs WHERE job_id = ${Number(id)}`)).toBe(1);
    expect(p.output()).not.toMatch(/transactional jobs hold a pool connection/);
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    await t.pool.query(`DELETE FROM "${t.schema}".jobs; DELETE FROM "${t.schema}".runs`);
  });

  it('SIGTERM with a job longer than the shutdown timeout: aborts it, puts it back uncharged, exits 0', async () => {
    const p = await worker(['--shutdown-timeout', '300ms']);
    const long = await sleepy.performLater({ ms: 60_000 });
    await waitFor(async () => (await count(`SELECT count(*)::int AS n FROM $s.runs`)) === 1, {
      what: 'the long job to start',
    });
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    const { rows } = await t.pool.query(`SELECT state, attempt, locked_by FROM "${t.schema}".jobs WHERE id = $1`, [
      long.id,
    ]);
    expect(rows[0]).toEqual({ state: 'available', attempt: 0, locked_by: null });
    expect(p.output()).toContain('shutdown timeout');
  });

  it.each([
    ['a query on ctx.db', stubbornQuery, 'stubborn-query', 1],
    // Its transaction is rolled back (the run it logged in it with it) and its connection closed.
    ['a transactional job', stubbornTransactional, 'stubborn-transactional', 0],
  ])(
    'SIGTERM while %s ignores its signal in a 30 s query: puts it back uncharged, exits 0 within seconds',
    async (_, job, marker, runsKept) => {
      const sleepers = `FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%pg_sleep(30) /* ${marker} */%' AND pid <> pg_backend_pid()`;
      try {
        const p = await worker(['--shutdown-timeout', '300ms']);
        const stuck = await job.performLater({});
        await waitFor(async () => (await count(`SELECT count(*)::int AS n ${sleepers}`)) > 0, {
          what: 'the stubborn query to start',
        });
        const signalled = Date.now();
        p.child.kill('SIGTERM');
        expect(await p.exited).toBe(0);
        expect(Date.now() - signalled).toBeLessThan(10_000);
        // A transactional job's connection was closed by the stop itself, not left to the exit.
        expect(p.output().includes('still holds a database connection')).toBe(runsKept === 1);
        const { rows } = await t.pool.query(`SELECT state, attempt, locked_by FROM "${t.schema}".jobs WHERE id = $1`, [
          stuck.id,
        ]);
        expect(rows[0]).toEqual({ state: 'available', attempt: 0, locked_by: null });
        expect(await count(`SELECT count(*)::int AS n FROM $s.runs WHERE job_id = ${Number(stuck.id)}`)).toBe(runsKept);
      } finally {
        // The exited worker's query of its own runs on in Postgres until it notices.
        await t.pool.query(`SELECT pg_terminate_backend(pid) ${sleepers}`);
        await t.pool.query(`DELETE FROM "${t.schema}".jobs; DELETE FROM "${t.schema}".runs`);
      }
    },
    20_000,
  );
});

describe('skiplock CLI', () => {
  it('migrate applies the migrations to the --schema', async () => {
    const p = spawnCli(['migrate', '--schema', `${t.schema}_cli`], { DATABASE_URL: t.url });
    expect(await p.exited).toBe(0);
    expect(
      await count(`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = '${t.schema}_cli'`),
    ).toBeGreaterThan(0);
    await t.pool.query(`DROP SCHEMA "${t.schema}_cli" CASCADE`);
  });

  it.each([
    [['worker', '--jobs', JOBS], {}, /DATABASE_URL is not set/],
    [['worker'], { DATABASE_URL: 'postgres://x' }, /--jobs <module> is required/],
    [['worker', '--jobs', 'nope.mjs'], { DATABASE_URL: 'postgres://x' }, /no such file/],
    [
      ['worker', '--jobs', fileURLToPath(import.meta.url).replace(/[^/]+$/, 'support/processes.ts')],
      { DATABASE_URL: 'postgres://x' },
      /exports no job definitions|cannot import .*processes\.ts as it is: compile it to \.js, or run with a loader/,
    ],
    [
      ['worker', '--jobs', JOBS, '--concurrency', 'lots'],
      { DATABASE_URL: 'postgres://x' },
      /--concurrency must be a positive integer/,
    ],
    [
      ['worker', '--jobs', JOBS, '--claim-loops', '0'],
      { DATABASE_URL: 'postgres://x' },
      /--claim-loops must be a positive integer, got "0"/,
    ],
    [
      ['worker', '--jobs', JOBS, '--completion-batch-size', '1e9.5'],
      { DATABASE_URL: 'postgres://x' },
      /--completion-batch-size must be a positive integer/,
    ],
    [['worker', '--frobnicate'], {}, /Unknown option '--frobnicate'/],
    [['migrate', '--schema', 'Bad-Name'], { DATABASE_URL: 'postgres://x' }, /schema name "Bad-Name" is not allowed/],
    [['frobnicate'], {}, /unknown command "frobnicate"/],
    [['stats'], { DATABASE_URL: '127.0.0.1:5432/test' }, /DATABASE_URL is not a postgres:\/\/ URL/],
    [
      ['stats'],
      { DATABASE_URL: 'postgres://x', SKIPLOCK_LOG_LEVEL: 'verbose' },
      /SKIPLOCK_LOG_LEVEL must be one of trace, .*silent, got "verbose"/,
    ],
  ])('%j fails with a message that says what was wrong', async (args, env, message) => {
    const p = spawnCli(args, { DATABASE_URL: '', ...env });
    const code = await p.exited;
    expect(p.output()).toMatch(message);
    expect(code === 1 || code === 2).toBe(true);
  });

  it('usage errors exit 2, runtime failures exit 1, --help exits 0', async () => {
    expect(await spawnCli(['worker']).exited).toBe(2);
    // Settings no worker can have are usage errors too: a lease of nothing, a hostile schema name.
    const env = { DATABASE_URL: t.url, FIXTURE_SCHEMA: t.schema };
    const zeroLease = spawnCli(['worker', '--jobs', JOBS, '--schema', t.schema, '--lease', '0s'], env);
    expect(await zeroLease.exited).toBe(2);
    expect(zeroLease.output()).toContain('lease must be at least 100 ms, got 0 ms');
    expect(await spawnCli(['worker', '--jobs', JOBS, '--schema', 'Bad Schema'], env).exited).toBe(2);
    const shutdown = ['--shutdown-timeout', '25d'];
    expect(await spawnCli(['worker', '--jobs', JOBS, '--schema', t.schema, ...shutdown], env).exited).toBe(2);
    expect(await spawnCli(['migrate'], { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' }).exited).toBe(1);
    expect(await spawnCli(['stats'], { DATABASE_URL: 'localhost/test' }).exited).toBe(2);
    // A socket URL with credentials and no host is one pg reads: not a usage error, a failed connect.
    expect(await spawnCli(['stats'], { DATABASE_URL: 'postgres://nobody:x@/none?host=/nonexistent' }).exited).toBe(1);
    expect(await spawnCli(['stats'], { ...env, SKIPLOCK_LOG_LEVEL: 'loud' }).exited).toBe(2);
    // A jobs module that does not load: a runtime failure that names the module, and where.
    const broken = join(mkdtempSync(join(tmpdir(), 'skiplock-jobs-')), 'broken.mjs');
    writeFileSync(broken, 'export const sendWelcome = defineJob({\n  name: ;\n');
    const loading = spawnCli(['worker', '--jobs', broken, '--schema', t.schema], env);
    expect(await loading.exited).toBe(1);
    expect(loading.output()).toContain(`--jobs: ${broken} failed to load (${broken}:2): Unexpected token ';'`);
    for (const args of [['--help'], ['worker', '--help'], ['migrate', '--help'], ['dev', '--help']]) {
      const p = spawnCli(args);
      expect(await p.exited).toBe(0);
      expect(p.output()).toContain('Usage: skiplock');
    }
  });
});
