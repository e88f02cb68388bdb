import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { defineJob, Skiplock } from 'skiplock';
import { beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './support/ports.js';
import { waitFor, type TestSchema, idOf } from './support/schema.js';
import { fixtureJobs, runCli, spawnCli, useProcessTestSchema, type CliResult } from './support/processes.js';

const { record, sleepy } = await fixtureJobs();

const file = useProcessTestSchema(async (t) => {
  await t.pool.query(`DELETE FROM "${t.schema}".jobs; DELETE FROM "${t.schema}".queues`);
});
let t: TestSchema;
beforeAll(() => {
  t = file.t;
});

/** `skiplock <args> --schema <test schema>` against the test database. */
const cli = (...args: string[]): Promise<CliResult> =>
  runCli([...args, '--schema', t.schema], { DATABASE_URL: t.url, SKIPLOCK_LOG_LEVEL: 'warn' });

async function discardedJob(message: string): Promise<string> {
  const id = idOf(await record.performLater({ n: 1 }));
  const error = { attempt: 1, at: '2026-12-01T10:00:00Z', name: 'Error', message, stack: null, worker: 'w' };
  await t.pool.query(
    `UPDATE "${t.schema}".jobs SET state = 'discarded', attempt = 1, finished_at = now(), errors = jsonb_build_array($2::jsonb) WHERE id = $1`,
    [id, JSON.stringify(error)],
  );
  return id;
}

const runsOf = async (id: string | null) =>
  (await t.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${t.schema}".runs WHERE job_id = $1`, [id]))
    .rows[0]?.n;

const state = async (id: string | null) =>
  (await t.pool.query<{ state: string }>(`SELECT state FROM "${t.schema}".jobs WHERE id = $1`, [id])).rows[0]?.state;

describe('skiplock --help', () => {
  it.each([
    ['jobs', '--help'],
    ['jobs', 'list', '--help'],
    ['jobs', 'show', '--help'],
    ['jobs', 'retry', '--help'],
    ['jobs', 'cancel', '--help'],
    ['jobs', 'delete', '--help'],
    ['queues', '--help'],
    ['stats', '--help'],
    ['workers', '--help'],
    ['prune', '--help'],
  ])('%s %s %s prints usage and exits 0', async (...args) => {
    const result = await runCli(args);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(/^Usage: skiplock /);
  });

  it('ends quietly when its reader closes the pipe early (`skiplock --help | head -1`)', async () => {
    const p = spawnCli(['--help']);
    p.child.stdout?.destroy(); // closed before the CLI writes: its write fails with EPIPE
    expect(await p.exited).toBe(0);
    expect(p.output()).toBe('');
  });

  it('skiplock dev whose reader closes the pipe stops as on SIGTERM: its embedded Postgres is not left running', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skiplock-dev-pipe-'));
    chmodSync(dir, 0o755); // as root, Postgres runs as another user, who must reach .skiplock/ inside
    const port = await freePort();
    try {
      const p = spawnCli(['dev', '--port', String(port)], { DATABASE_URL: '' }, dir);
      p.child.stdout?.destroy(); // its first progress line fails with EPIPE
      expect(await p.exited).toBe(0);
      const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'skiplock' });
      await expect(client.connect()).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('skiplock dev --once on a database holding jobs of its own ends once the demo jobs have finished', async () => {
    const database = `dev_once_${Math.random().toString(36).slice(2, 10)}`;
    await t.pool.query(`CREATE DATABASE ${database}`);
    const url = new URL(t.url);
    url.pathname = `/${database}`;
    const theirs = new Skiplock({
      connectionString: url.toString(),
      logger: pino({ level: 'silent' }),
      default: false,
    });
    try {
      await theirs.migrate();
      const foreign = defineJob({ name: 'theirs.nightly', queue: 'nightly', perform() {} });
      await theirs.enqueue(foreign, {});
      const p = spawnCli(['dev', '--once'], { DATABASE_URL: url.toString() });
      expect(await p.exited).toBe(0);
      expect(p.output()).toContain('every demo job has finished');
    } finally {
      await theirs.close();
      await t.pool.query(`DROP DATABASE ${database} WITH (FORCE)`);
    }
  }, 60_000);

  it('names every operations command in the main help', async () => {
    const { stdout } = await runCli(['--help']);
    for (const command of ['jobs', 'queues', 'stats', 'workers', 'prune']) expect(stdout).toContain(`  ${command} `);
  });
});

describe('skiplock jobs', () => {
  it('lists as a table for people and as JSON for scripts, paging with --after', async () => {
    const failed = await discardedJob('SMTP refused');
    await record.performLater({ n: 2 });
    const table = await cli('jobs', 'list', '--state', 'discarded');
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+NAME\s+QUEUE\s+STATE\s+ATTEMPT/);
    expect(table.stdout).toMatch(
      new RegExp(`^${failed}\\s+fixture.record\\s+fixture\\s+discarded\\s+1/25.*SMTP refused`, 'm'),
    );
    const page1 = JSON.parse((await cli('jobs', 'list', '--limit', '1', '--json')).stdout) as {
      jobs: Array<{ id: string }>;
      nextCursor: string;
    };
    expect(page1.jobs).toHaveLength(1);
    const page2 = JSON.parse((await cli('jobs', 'list', '--limit', '1', '--after', page1.nextCursor, '--json')).stdout);
    expect(page2).toMatchObject({ jobs: [{ id: failed }], nextCursor: null });
    expect((await cli('jobs', 'list', '--limit', '1')).stdout).toContain(`--after ${page1.nextCursor}`);
  });

  it('shows a job with its error history', async () => {
    const id = await discardedJob('SMTP refused');
    const { code, stdout } = await cli('jobs', 'show', id);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^state\s+discarded$/m);
    expect(stdout).toContain('errors (1):');
    expect(stdout).toContain('#1 2026-12-01T10:00:00Z on w: Error: SMTP refused');
    expect(JSON.parse((await cli('jobs', 'show', id, '--json')).stdout)).toMatchObject({ id, args: { n: 1 } });
  });

  it('retries, cancels and deletes by id and by filter', async () => {
    const a = await discardedJob('x');
    const b = await discardedJob('y');
    expect(await cli('jobs', 'retry', a)).toMatchObject({ code: 0, stdout: `job ${a}: available\n` });
    expect(await cli('jobs', 'retry', '--state', 'discarded', '--name', 'fixture.record')).toMatchObject({
      code: 0,
      stdout: '1 jobs retried\n',
    });
    expect(await state(b)).toBe('available');
    expect(await cli('jobs', 'cancel', a)).toMatchObject({ code: 0, stdout: `job ${a}: cancelled\n` });
    expect(await cli('jobs', 'cancel', '--queue', 'fixture')).toMatchObject({
      stdout: '1 jobs cancelled; 0 running jobs told to cancel\n',
    });
    expect(await cli('jobs', 'delete', a, b)).toMatchObject({
      code: 0,
      stdout: `job ${a}: deleted\njob ${b}: deleted\n`,
    });
    expect(await state(a)).toBeUndefined();
    // A later id failing (no such job) does not hide what was done before it.
    const c = await discardedJob('z');
    expect(await cli('jobs', 'delete', c, '987654321')).toMatchObject({
      code: 1,
      stdout: `job ${c}: deleted\n`,
      stderr: expect.stringContaining('no job with id 987654321') as string,
    });
  });

  it('cancels a job running in another process within a second', async () => {
    await file.startWorker();
    const id = idOf(await sleepy.performLater({ ms: 60_000 }));
    await waitFor(async () => (await state(id)) === 'running' && (await runsOf(id)) === 1, { what: 'running' });
    const result = await cli('jobs', 'cancel', id);
    expect(result.code).toBe(0);
    expect({ stdout: result.stdout, worker: file.processes[0]?.output() }).toMatchObject({
      stdout: expect.stringMatching(new RegExp(`^job ${id}: running; its worker was told to cancel it`)) as string,
    });
    await waitFor(async () => (await state(id)) === 'cancelled', { intervalMs: 10, what: 'cancelled' });
    // From the request to the worker's record of it, in Postgres time.
    const { rows } = await t.pool.query<{ ms: number }>(
      `SELECT extract(epoch FROM finished_at - cancel_requested_at)::float8 * 1000 AS ms FROM "${t.schema}".jobs WHERE id = $1`,
      [id],
    );
    expect(rows[0]?.ms).toBeLessThan(1000);
  });

  it('says what was wrong, with exit 2 for usage and 1 for runtime failures', async () => {
    expect(await cli('jobs', 'list', '--state', 'stuck')).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('unknown job state "stuck": expected one of available,') as string,
    });
    expect(await cli('jobs', 'show', '987654321')).toMatchObject({
      code: 1,
      stderr: 'skiplock: no job with id 987654321 (JOB_NOT_FOUND)\n',
    });
    expect(await cli('jobs', 'show', 'abc')).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('job id must be') as string,
    });
    expect((await cli('jobs', 'retry')).code).toBe(2);
    expect((await cli('jobs', 'list', '--since', 'yesterday')).code).toBe(2);
    // A forgotten unit is refused, not read as a date (Date reads 7 as 2001, 45 as 2045): nothing deleted.
    const kept = idOf(await record.performLater({ n: 4 }));
    for (const value of ['7', '45', 'Dec 1']) {
      expect((await cli('jobs', 'delete', '--since', value, '--queue', 'fixture')).code).toBe(2);
      expect((await cli('jobs', 'delete', '--until', value, '--queue', 'fixture')).code).toBe(2);
    }
    expect((await t.pool.query(`SELECT 1 FROM "${t.schema}".jobs WHERE id = $1`, [kept])).rows).toHaveLength(1);
    expect((await cli('jobs', 'list', '--since', '2026-01-01', '--until', '2999-12-31T00:00:00Z')).code).toBe(0);
    expect((await cli('jobs', 'frobnicate')).code).toBe(2);
    const done = { id: idOf(await record.performLater({ n: 3 })) };
    await t.pool.query(`UPDATE "${t.schema}".jobs SET state = 'completed', finished_at = now() WHERE id = $1`, [
      done.id,
    ]);
    expect(await cli('jobs', 'retry', done.id)).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('is completed') as string,
    });
    const refused = await runCli(['stats'], { DATABASE_URL: 'postgres://nobody:secret@127.0.0.1:1/none' });
    expect(refused).toMatchObject({ code: 1 });
    expect(refused.stderr).toContain('cannot connect to PostgreSQL at postgres://nobody:***@127.0.0.1:1/none');
    const unset = await runCli(['stats'], { DATABASE_URL: '' });
    expect(unset).toMatchObject({ code: 2, stderr: expect.stringContaining('DATABASE_URL is not set') as string });
    const unmigrated = await runCli(['stats', '--schema', 'not_migrated_here'], { DATABASE_URL: t.url });
    expect(unmigrated).toMatchObject({ code: 1, stderr: expect.stringContaining('run skiplock migrate') as string });
  });
});

describe('skiplock queues, stats, workers, prune', () => {
  it('pauses and resumes a queue that a worker process serves', async () => {
    await file.startWorker();
    expect(await cli('queues', 'pause', 'fixture')).toMatchObject({ code: 0, stdout: 'queue fixture: paused\n' });
    const id = idOf(await record.performLater({ n: 4 }));
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await state(id)).toBe('available');
    expect((await cli('queues', 'list')).stdout).toMatch(/^fixture\s+paused\s+1\s+0\s+0$/m);
    expect(await cli('queues', 'resume', 'fixture')).toMatchObject({ code: 0, stdout: 'queue fixture: resumed\n' });
    await waitFor(async () => (await state(id)) === 'completed', { timeoutMs: 3000, what: 'completed after resume' });
    expect((await cli('queues', 'pause', 'no such queue!')).code).toBe(2);
  });

  it('prints stats per queue, and JSON with --json', async () => {
    await discardedJob('x');
    await record.performLater({ n: 5 }, { wait: '1h' });
    const { code, stdout } = await cli('stats');
    expect(code).toBe(0);
    expect(stdout).toMatch(
      /^QUEUE\s+AVAILABLE\s+SCHEDULED\s+RUNNING\s+RETRYABLE\s+DISCARDED\s+CANCELLED\s+OLDEST WAIT/,
    );
    expect(stdout).toMatch(/^fixture\s+0\s+1\s+0\s+0\s+1\s+0\s+-/m);
    expect(JSON.parse((await cli('stats', '--json')).stdout)).toMatchObject([
      { queue: 'fixture', scheduled: 1, discarded: 1, paused: false },
    ]);
  });

  it('a worker writes JSON log lines when its output is not a terminal, job lines with job fields', async () => {
    const p = await file.startWorker();
    const id = idOf(await sleepy.performLater({ ms: 60_000 }));
    await waitFor(async () => (await state(id)) === 'running', { what: 'running' });
    await t.skiplock.admin.cancelJob(id);
    await waitFor(async () => p.output().includes('"msg":"job cancelled"'), { what: 'the cancel line' });
    const parsed = p
      .output()
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(parsed.find((line) => line.msg === 'job cancelled')).toMatchObject({
      jobId: id,
      name: 'fixture.sleepy',
      queue: 'fixture',
      attempt: 1,
      outcome: 'cancelled',
    });
    expect(parsed.find((line) => line.msg === 'worker started')).toMatchObject({ level: 30, queues: ['fixture'] });
  });

  it('lists live workers', async () => {
    const p = await file.startWorker();
    const workers = JSON.parse((await cli('workers', '--json')).stdout) as Array<{ pid: number; queues: string[] }>;
    expect(workers).toContainEqual(expect.objectContaining({ pid: p.child.pid, queues: ['fixture'] }));
    expect((await cli('workers')).stdout).toMatch(new RegExp(`\\s${p.child.pid}\\s+fixture\\s+0\\s`));
  });

  it('prunes by the retention given on the command line', async () => {
    const old = await discardedJob('x');
    await t.pool.query(`UPDATE "${t.schema}".jobs SET finished_at = now() - interval '3 days' WHERE id = $1`, [old]);
    expect(await cli('prune', '--discarded', 'forever')).toMatchObject({ code: 0, stdout: 'pruned 0 finished jobs\n' });
    expect(await cli('prune', '--discarded', '2d')).toMatchObject({ code: 0, stdout: 'pruned 1 finished jobs\n' });
    expect(JSON.parse((await cli('prune', '--json')).stdout)).toEqual({ deleted: 0, ran: true });
    expect(await cli('prune', '--completed', 'never')).toMatchObject({
      code: 2,
      stderr: expect.stringContaining(
        '--completed must look like 500ms, 30s, 10m, 2h or 1d, got "never", or be "forever"',
      ) as string,
    });
  });
});
