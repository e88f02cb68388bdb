// Real faults injected into real worker processes, checked afterwards against an oracle: every
// committed job ran at least once, none from a rolled-back transaction ever ran, none is left
// running, and without faults none ran twice.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres, type RunningPostgres } from '@skiplock/cli';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkOracle, enqueueWithRollback, resetJobs } from './support/oracle.js';
import { freePort } from './support/ports.js';
import { createRunsTable, fixtureJobs, useProcessTestSchema } from './support/processes.js';
import { createTestSchema, testPool, waitFor, type TestSchema } from './support/schema.js';

const { record, sleepy, dieAfterReturn, poison, hang } = await fixtureJobs();

const file = useProcessTestSchema(resetJobs);
const { processes, startWorker: worker } = file;
let t: TestSchema;
beforeAll(() => {
  t = file.t;
});

const APP = () => `skiplock-${t.schema}`;

async function value<T>(sql: string, params: unknown[] = [], on = t): Promise<T> {
  const { rows } = await on.pool.query(sql.replaceAll('$s', `"${on.schema}"`), params);
  return Object.values(rows[0] as object)[0] as T;
}

const completed = (on = t) => value<number>(`SELECT count(*)::int FROM $s.jobs WHERE state = 'completed'`, [], on);
const runPids = () => value<number[]>(`SELECT coalesce(array_agg(DISTINCT pid), '{}') FROM $s.runs`);

async function stopAll(): Promise<void> {
  const alive = processes.filter((p) => p.child.exitCode === null && p.child.signalCode === null);
  for (const p of alive) p.child.kill('SIGTERM');
  for (const p of alive) expect(await p.exited).toBe(0);
}

describe('faults', () => {
  it('SIGKILL mid-handler: with default settings the job runs again within 45 s', async () => {
    const [a, b] = await Promise.all([worker(), worker()]);
    const job = await sleepy.performLater({ ms: 10, firstMs: 120_000 });
    await waitFor(async () => (await runPids()).length === 1, { what: 'the first run' });
    const [pid] = await runPids();
    const victim = [a, b].find((p) => p.child.pid === pid)!;
    const killedAt = await value<Date>('SELECT clock_timestamp()');
    victim.child.kill('SIGKILL');
    await waitFor(async () => (await completed()) === 1, { timeoutMs: 50_000, what: 'the rescued job to complete' });
    const rerunAfter = await value<number>(
      `SELECT extract(epoch FROM (SELECT at FROM $s.runs WHERE attempt = 2) - $1::timestamptz)::float8`,
      [killedAt],
    );
    console.log(`SIGKILL → job running again: ${rerunAfter.toFixed(1)} s (lease 30 s, rescue every 5 s)`);
    expect(rerunAfter).toBeLessThan(45);
    const errors = await value<Array<{ message: string; attempt: number }>>(
      `SELECT errors FROM $s.jobs WHERE id = $1`,
      [job.id],
    );
    expect(errors).toMatchObject([{ attempt: 1, message: expect.stringMatching(/^lease expired on worker /) }]);
    await checkOracle(t, { jobs: 1, faults: true });
    await stopAll();
  }, 90_000);

  it('SIGKILL right after handlers return, before their completions are written: nothing is lost', async () => {
    await Promise.all([worker(['--lease', '2s']), worker(['--lease', '2s'])]);
    await enqueueWithRollback(t, (db) =>
      t.skiplock.performAllLater(db, [
        ...Array.from({ length: 300 }, (_, n) => record.with({ n })),
        dieAfterReturn.with({}),
      ]),
    );
    await waitFor(async () => (await completed()) === 301, { timeoutMs: 30_000, what: 'all 301 jobs' });
    // Whether the dying process's own outcome reached Postgres before the kill is a race; the
    // outcomes still buffered for its other jobs are not, and those jobs must have been rescued.
    const repeats = await checkOracle(t, { jobs: 301, faults: true });
    // All 301 can be recorded before this process has seen the dying worker's exit event.
    await waitFor(async () => processes.some((p) => p.child.signalCode === 'SIGKILL'), { what: 'the SIGKILL' });
    expect(processes.filter((p) => p.child.signalCode === 'SIGKILL')).toHaveLength(1);
    console.log(`SIGKILL after return: ${repeats} job(s) ran again after their outcome was lost`);
    await stopAll();
  });

  it('SIGSTOP past the lease, then SIGCONT: the stale worker cannot overwrite the rescued run', async () => {
    const stale = await worker(['--lease', '1s']);
    const job = await sleepy.performLater({ ms: 10, firstMs: 2500 });
    await waitFor(async () => (await runPids()).length === 1, { what: 'the first run' });
    stale.child.kill('SIGSTOP');
    await worker(['--lease', '1s']);
    await waitFor(async () => (await completed()) === 1, { what: 'the rescued run to complete' });
    const before = (await t.pool.query(`SELECT * FROM "${t.schema}".jobs WHERE id = $1`, [job.id])).rows[0];
    stale.child.kill('SIGCONT');
    // Its heartbeat finds the job taken back and aborts it, or (if the handler ends first) its write is refused.
    await waitFor(async () => /stale write ignored|lease lost/.test(stale.output()), {
      what: 'the stale worker to give the job up',
    });
    const after = (await t.pool.query(`SELECT * FROM "${t.schema}".jobs WHERE id = $1`, [job.id])).rows[0];
    expect(after).toEqual(before);
    expect(after).toMatchObject({ state: 'completed', attempt: 2, locked_by: null });
    await checkOracle(t, { jobs: 1, faults: true });
    await stopAll();
  });

  it('pg_terminate_backend on every worker connection, again and again: workers stay up, every job runs', async () => {
    const env = ['--lease', '2s'];
    process.env.PGAPPNAME = APP();
    const workers = await Promise.all([worker(env), worker(env)]);
    delete process.env.PGAPPNAME;
    await enqueueWithRollback(t, (db) =>
      t.skiplock.performAllLater(
        db,
        Array.from({ length: 3000 }, (_, n) => record.with({ n })),
      ),
    );
    let kills = 0;
    await waitFor(
      async () => {
        kills += await value<number>(
          `SELECT count(pg_terminate_backend(pid))::int FROM pg_stat_activity WHERE application_name LIKE $1`,
          [`${APP()}%`],
        );
        await new Promise((resolve) => setTimeout(resolve, 150));
        return (await completed()) === 3000;
      },
      { timeoutMs: 90_000, what: 'all 3,000 jobs despite the terminations' },
    );
    expect(kills).toBeGreaterThan(5);
    for (const w of workers) expect(w.child.exitCode, w.output().slice(-3000)).toBeNull();
    await checkOracle(t, { jobs: 3000, faults: true });
    await stopAll();
  }, 120_000);

  it('killing only the LISTEN connection: it is re-established and notifications wake the worker again', async () => {
    process.env.PGAPPNAME = APP();
    await worker(['--poll-interval', '1h']);
    delete process.env.PGAPPNAME;
    const listener = () =>
      value<number | null>(`SELECT max(pid) FROM pg_stat_activity WHERE application_name = $1`, [`${APP()}-listener`]);
    const first = await waitFor(listener, { what: 'the LISTEN connection' });
    await t.pool.query('SELECT pg_terminate_backend($1)', [first]);
    await waitFor(
      async () => {
        const pid = await listener();
        return pid !== null && pid !== first;
      },
      { what: 'a new LISTEN connection' },
    );
    const job = await record.performLater({ n: 1 });
    // Polling is an hour away: only the new LISTEN connection can have woken the worker.
    await waitFor(async () => (await completed()) === 1, { timeoutMs: 5000, what: `job ${job.id} via NOTIFY` });
    await checkOracle(t, { jobs: 1, faults: false });
    await stopAll();
  });

  it('a poison pill that kills its worker every time ends discarded after its max attempts', async () => {
    await worker(['--lease', '1s']);
    const job = await poison.performLater({});
    for (let attempt = 1; attempt <= 2; attempt++) {
      await waitFor(
        async () =>
          processes.some((p) => p.child.signalCode === 'SIGKILL') &&
          (await value<number>(`SELECT count(*)::int FROM $s.runs`)) === attempt,
        { timeoutMs: 20_000, what: `attempt ${attempt} to kill its worker` },
      );
      processes.splice(0);
      await worker(['--lease', '1s']);
    }
    await waitFor(
      async () => (await value<string>(`SELECT state FROM $s.jobs WHERE id = $1`, [job.id])) === 'discarded',
      { timeoutMs: 20_000, what: 'the poison pill discarded' },
    );
    const errors = await value<Array<{ message: string }>>(`SELECT errors FROM $s.jobs WHERE id = $1`, [job.id]);
    expect(errors.map((e) => e.message)).toEqual([
      expect.stringMatching(/lease expired/),
      expect.stringMatching(/lease expired/),
    ]);
    await stopAll();
  });

  it('a hanging handler fails at its timeout, does not hold a slot, and does not block shutdown', async () => {
    const p = await worker(['--concurrency', '2']);
    const stuck = await hang.performLater({});
    await t.skiplock.performAllLater(
      undefined,
      Array.from({ length: 20 }, (_, n) => record.with({ n })),
    );
    await waitFor(
      async () =>
        (await completed()) === 20 &&
        (await value<string>(`SELECT state FROM $s.jobs WHERE id = $1`, [stuck.id])) === 'discarded',
      { what: 'the hang discarded and the rest done' },
    );
    const errors = await value<Array<{ name: string }>>(`SELECT errors FROM $s.jobs WHERE id = $1`, [stuck.id]);
    expect(errors.map((e) => e.name)).toEqual(['JobTimeoutError', 'JobTimeoutError']);
    const stopAt = Date.now();
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    expect(Date.now() - stopAt).toBeLessThan(5000);
  });

  it('8 worker processes × 20,000 jobs: every job exactly once', async () => {
    const workers = await Promise.all(Array.from({ length: 8 }, () => worker(['--concurrency', '20'])));
    await enqueueWithRollback(t, async (db) => {
      for (let from = 0; from < 20_000; from += 5000) {
        await t.skiplock.performAllLater(
          db,
          Array.from({ length: 5000 }, (_, i) => record.with({ n: from + i })),
        );
      }
    });
    await waitFor(async () => (await completed()) === 20_000, {
      timeoutMs: 120_000,
      intervalMs: 200,
      what: '20,000 jobs',
    });
    await checkOracle(t, { jobs: 20_000, faults: false });
    expect((await runPids()).length).toBeGreaterThan(1);
    expect(workers.every((w) => w.child.exitCode === null)).toBe(true);
    await stopAll();
  }, 180_000);
});

describe('a Postgres restart mid-run', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'skiplock-restart-'));
  let server: RunningPostgres | undefined;
  let pool: pg.Pool | undefined;
  afterAll(async () => {
    await pool?.end();
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('a worker rides out the outage and resumes within 10 s of the server coming back', async () => {
    const port = await freePort();
    const start = () =>
      startEmbeddedPostgres({ dataDir, port, database: 'restart', fast: true, logger: pino({ level: 'silent' }) });
    server = await start();
    const own = await createTestSchema({ default: false }, server.url);
    await createRunsTable(own);
    await own.skiplock.performAllLater(
      undefined,
      Array.from({ length: 600 }, () => sleepy.with({ ms: 20 })),
    );
    const view = { schema: own.schema, url: own.url } as TestSchema;
    const p = await worker(['--lease', '5s'], own);
    await waitFor(async () => (await completed(own)) >= 50, { what: 'the run to be under way' });
    await own.skiplock.close();
    await own.pool.end();
    await server.stop();
    // The outage itself: the server stays away for three seconds.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    server = await start();
    const backAt = Date.now();
    pool = testPool(server.url, 2);
    view.pool = pool;
    const before = await completed(view);
    await waitFor(async () => (await completed(view)) > before, {
      timeoutMs: 10_000,
      what: 'progress after the restart',
    });
    console.log(`Postgres back → worker completing jobs again after ${Date.now() - backAt} ms`);
    await waitFor(async () => (await completed(view)) === 600, { timeoutMs: 60_000, what: 'all 600 jobs' });
    expect(p.child.exitCode).toBeNull();
    await checkOracle(view, { jobs: 600, faults: true });
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  }, 120_000);
});
