import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineJob, DiscardJob, RetryJob, SnoozeJob, type JobContext } from 'skiplock';
import { drain, expectEnqueued, expectNotEnqueued, runJob, TestAdapter } from 'skiplock/testing';
import type pg from 'pg';
import { createTestSchema, type TestSchema } from '../../../test/support/schema.js';

const sent: string[] = [];
const welcome = defineJob({
  name: 'testing.welcome',
  schema: z.object({ email: z.string(), plan: z.string().default('free') }),
  queue: 'mailers',
  perform: ({ email, plan }) => void sent.push(`${email}:${plan}`),
});
const signup = defineJob<{ email: string }>({
  name: 'testing.signup',
  async perform({ email }) {
    await welcome.performLater({ email });
  },
});
const later = defineJob<{ n: number }>({ name: 'testing.later', perform: () => void sent.push('later') });

afterEach(() => {
  sent.length = 0;
});

describe('TestAdapter (in memory)', () => {
  const adapter = new TestAdapter();
  beforeAll(() => adapter.install());
  afterAll(() => adapter.uninstall());
  afterEach(() => adapter.clear());

  it('holds JSON-round-tripped, validated jobs instead of rows', async () => {
    const result = await welcome.performLater({ email: 'ada@example.com' }, { priority: 2 });
    expect(result).toMatchObject({ status: 'enqueued', state: 'available', queue: 'mailers' });
    const [held] = adapter.enqueued(welcome);
    expect(held).toMatchObject({ name: 'testing.welcome', args: { email: 'ada@example.com' }, priority: 2 });
    await expect(welcome.performLater({ email: 1 as unknown as string })).rejects.toMatchObject({
      code: 'JOB_PAYLOAD',
    });
    await expect(later.performLater({ n: Number.NaN })).rejects.toMatchObject({ code: 'JOB_PAYLOAD' });
    expect(adapter.enqueued()).toHaveLength(1);
  });

  it('performs enqueued jobs, including those they enqueue, filtered by only/except/queue/at', async () => {
    await signup.performLater({ email: 'grace@example.com' });
    await later.performLater({ n: 1 }, { wait: '1h' });
    expect(await adapter.performEnqueued({ except: [later] })).toBe(2);
    expect(sent).toEqual(['grace@example.com:free']);
    expect(adapter.enqueued().map((job) => job.name)).toEqual(['testing.later']);
    expect(await adapter.performEnqueued({ only: [later] })).toBe(0);
    expect(await adapter.performEnqueued({ only: [later], at: new Date(Date.now() + 2 * 3600_000) })).toBe(1);
    await welcome.performLater({ email: 'x@example.com' });
    expect(await adapter.performEnqueued({ queue: 'default' })).toBe(0);
    expect(await adapter.performEnqueued({ queue: 'mailers' })).toBe(1);
  });

  it("runs a held job with its own id, queue and max attempts in ctx, as a worker gives a row's", async () => {
    const seen: Array<Pick<JobContext, 'id' | 'queue' | 'maxAttempts'>> = [];
    const routed = defineJob<{ big: boolean }>({
      name: 'testing.routed',
      queue: ({ big }) => (big ? 'large' : 'small'),
      perform: (_args, { id, queue, maxAttempts }) => void seen.push({ id, queue, maxAttempts }),
    });
    const first = await routed.performLater({ big: true }, { maxAttempts: 3 });
    await routed.performLater({ big: false });
    expect(await adapter.performEnqueued()).toBe(2);
    expect(seen).toEqual([
      { id: first.id, queue: 'large', maxAttempts: 3 },
      { id: expect.not.stringMatching(first.id as string) as string, queue: 'small', maxAttempts: 25 },
    ]);
    await routed.performNow({ big: true });
    expect(seen[2]).toMatchObject({ queue: 'large', maxAttempts: 25 });
    const lost = defineJob({ name: 'testing.lost', queue: () => undefined as unknown as string, perform() {} });
    await expect(lost.performNow({})).rejects.toMatchObject({ code: 'ENQUEUE', message: /queue name undefined/ });
  });

  it('answers duplicate for a held unique key', async () => {
    const first = await later.performLater({ n: 1 }, { uniqueKey: 'k' });
    expect(await later.performLater({ n: 2 }, { uniqueKey: 'k' })).toEqual({
      ...first,
      status: 'duplicate',
      state: undefined,
    });
  });
});

describe('database helpers, inside a rolled-back transaction', () => {
  let t: TestSchema;
  let client: pg.PoolClient;
  beforeAll(async () => {
    t = await createTestSchema({ default: false });
  });
  afterAll(() => t.drop());

  async function inRolledBackTransaction(fn: () => Promise<void>): Promise<void> {
    client = await t.pool.connect();
    await client.query('BEGIN');
    try {
      await fn();
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  }

  it('expectEnqueued and expectNotEnqueued see the uncommitted rows', async () => {
    await inRolledBackTransaction(async () => {
      await t.skiplock.enqueue(welcome, { email: 'ada@example.com', plan: 'pro' }, { db: client, wait: '10m' });
      const [found] = await expectEnqueued(client, welcome, {
        args: { email: 'ada@example.com' },
        queue: 'mailers',
        runAt: new Date(Date.now() + 600_000),
        schema: t.schema,
      });
      expect(found).toMatchObject({ state: 'scheduled', args: { plan: 'pro' } });
      await expectNotEnqueued(client, welcome, { args: { email: 'grace@example.com' }, schema: t.schema });
      await expect(expectEnqueued(client, welcome, { args: { email: 'nobody' }, schema: t.schema })).rejects.toThrow(
        /expected a "testing.welcome" job matching .*nobody.*; of that name:\n {2}#\d+ scheduled queue=mailers/,
      );
      await expect(expectNotEnqueued(client, welcome, { schema: t.schema })).rejects.toThrow(/found:/);
    });
    const { rows } = await t.pool.query(`SELECT count(*)::int AS n FROM "${t.schema}".jobs`);
    expect(rows[0]).toEqual({ n: 0 });
  });

  it('drain runs due jobs through the real pipeline, and the jobs they enqueue', async () => {
    const flaky = defineJob<{ n: number }>({
      name: 'testing.flaky',
      maxAttempts: 1,
      perform() {
        throw new Error('nope');
      },
    });
    await inRolledBackTransaction(async () => {
      // Handlers enqueue through the default instance: hand them this transaction.
      const nested = defineJob<{ email: string }>({
        name: 'testing.signup-in-tx',
        perform: async ({ email }) => void (await t.skiplock.enqueue(welcome, { email }, { db: client })),
      });
      await t.skiplock.performAllLater(client, [
        nested.with({ email: 'linus@example.com' }),
        flaky.with({ n: 1 }, { priority: -1 }),
        later.with({ n: 1 }, { wait: '1h' }),
      ]);
      const first = await drain(client, { schema: t.schema });
      // In the order a worker claims them: priority first, then run_at.
      expect(first.runs.map((run) => [run.name, run.state])).toEqual([
        ['testing.flaky', 'discarded'],
        ['testing.signup-in-tx', 'completed'],
        ['testing.welcome', 'completed'],
      ]);
      expect(sent).toEqual(['linus@example.com:free']);
      const scheduled = await drain(client, { schema: t.schema, only: [later], at: new Date(Date.now() + 7200_000) });
      expect(scheduled.runs).toEqual([expect.objectContaining({ name: 'testing.later', state: 'completed' })]);
      const states = await client.query(`SELECT name, state FROM "${t.schema}".jobs ORDER BY id`);
      expect(states.rows.map((r: { state: string }) => r.state)).toEqual([
        'completed',
        'discarded',
        'completed',
        'completed',
      ]);
    });
  });

  it("drain gives each job a savepoint: a failed transactional job's writes roll back, a failed statement does not stop the drain", async () => {
    const note = (text: string) => client.query(`INSERT INTO "${t.schema}".drain_notes VALUES ($1)`, [text]);
    const atomic = defineJob({
      name: 'testing.atomic',
      transactional: true,
      maxAttempts: 1,
      async perform() {
        await note('atomic');
        throw new Error('after the write');
      },
    });
    const badSql = defineJob({
      name: 'testing.bad-sql',
      maxAttempts: 1,
      async perform() {
        await note('bad-sql');
        await client.query('SELECT 1 / 0');
      },
    });
    const halfway = defineJob({
      name: 'testing.halfway',
      maxAttempts: 1,
      async perform() {
        await note('halfway');
        throw new Error('after the write');
      },
    });
    const fine = defineJob({ name: 'testing.fine', perform: async () => void (await note('fine')) });
    await inRolledBackTransaction(async () => {
      await client.query(`CREATE TABLE "${t.schema}".drain_notes (text text)`);
      await t.skiplock.performAllLater(client, [atomic.with({}), badSql.with({}), halfway.with({}), fine.with({})]);
      const { runs } = await drain(client, { schema: t.schema, only: [atomic, badSql, halfway, fine] });
      expect(runs.map((run) => [run.name, run.state])).toEqual([
        ['testing.atomic', 'discarded'],
        ['testing.bad-sql', 'discarded'],
        ['testing.halfway', 'discarded'],
        ['testing.fine', 'completed'],
      ]);
      const { rows } = await client.query(`SELECT text FROM "${t.schema}".drain_notes ORDER BY text`);
      // As on a worker: a transactional job's writes went with it; a plain job's write before a
      // JavaScript error stays. (A failed statement takes the job's earlier writes with it here:
      // on a worker each statement commits on its own.)
      expect(rows.map((row: { text: string }) => row.text)).toEqual(['fine', 'halfway']);
    });
  });
  it('drain also runs on a pool, outside any transaction (no savepoints then)', async () => {
    const once = defineJob({ name: 'testing.on-pool', maxAttempts: 1, perform: () => Promise.reject(new Error('no')) });
    const ok = defineJob({ name: 'testing.on-pool-ok', perform() {} });
    await t.skiplock.performAllLater(undefined, [once.with({}), ok.with({})]);
    try {
      const { runs } = await drain(t.pool, { schema: t.schema, only: [once, ok] });
      expect(runs.map((run) => run.state)).toEqual(['discarded', 'completed']);
    } finally {
      await t.pool.query(`DELETE FROM "${t.schema}".jobs`);
    }
  });
});

describe('runJob (unit-testing a handler)', () => {
  const picky = defineJob<{ mode: string }>({
    name: 'testing.picky',
    backoff: '5s',
    perform({ mode }) {
      if (mode === 'retry') throw new RetryJob('later', { waitMs: 1234 });
      if (mode === 'retry-wait') throw new RetryJob({ wait: '2m' });
      if (mode === 'retry-nan') throw new RetryJob('rate limited', { waitMs: Number('Wed, 21 Oct 2015') * 1000 });
      if (mode === 'retry-past') throw new RetryJob('rate limited', { waitMs: -5 });
      if (mode === 'discard') throw new DiscardJob('never');
      if (mode === 'snooze') throw new SnoozeJob('1m');
      if (mode === 'fail') throw new Error('boom');
    },
  });

  it('returns what the attempt ended in, as a worker would record it', async () => {
    expect(await runJob(picky, { mode: 'ok' })).toEqual({ state: 'completed' });
    expect(await runJob(picky, { mode: 'retry' })).toMatchObject({ state: 'retryable', delayMs: 1234 });
    expect(await runJob(picky, { mode: 'retry-wait' })).toMatchObject({
      state: 'retryable',
      delayMs: 120_000,
      error: { name: 'RetryJob', message: 'retry requested by handler' },
    });
    expect(await runJob(picky, { mode: 'fail' })).toMatchObject({
      state: 'retryable',
      delayMs: 5000,
      error: { message: 'boom', attempt: 1 },
    });
    // A wait already past is none; one that is no number is refused where it is written, and the
    // job's backoff decides.
    expect(await runJob(picky, { mode: 'retry-past' })).toMatchObject({ state: 'retryable', delayMs: 0 });
    expect(await runJob(picky, { mode: 'retry-nan' })).toMatchObject({
      state: 'retryable',
      delayMs: 5000,
      error: { name: 'ConfigError', message: 'RetryJob waitMs must be a finite number of milliseconds, got NaN' },
    });
    expect(await runJob(picky, { mode: 'fail' }, { attempt: 25 })).toMatchObject({ state: 'discarded' });
    expect(await runJob(picky, { mode: 'discard' })).toMatchObject({ state: 'discarded', error: { message: 'never' } });
    expect(await runJob(picky, { mode: 'snooze' })).toEqual({ state: 'snoozed', delayMs: 60_000 });
    expect(await runJob(welcome, { email: 3 as unknown as string })).toMatchObject({
      state: 'discarded',
      error: { name: 'JobPayloadError' },
    });
  });

  it("runs afterDiscard when the run discards, and fails at the definition's timeout with its signal aborted", async () => {
    const discarded: unknown[] = [];
    let aborted: unknown;
    const guarded = defineJob<{ mode: string }>({
      name: 'testing.guarded',
      timeout: '50ms',
      afterDiscard: (args, error) => void discarded.push([args, (error as Error).message]),
      perform: ({ mode }, { signal }) => {
        if (mode === 'discard') throw new DiscardJob('gone');
        if (mode === 'fail') throw new Error('transient');
        return new Promise<void>((resolve) => {
          signal.addEventListener('abort', () => (aborted = signal.reason));
          setTimeout(resolve, 2000);
        });
      },
    });
    expect(await runJob(guarded, { mode: 'fail' })).toMatchObject({ state: 'retryable' });
    expect(await runJob(guarded, { mode: 'discard' })).toMatchObject({ state: 'discarded' });
    expect(discarded).toEqual([[{ mode: 'discard' }, 'gone']]);
    const started = performance.now();
    expect(await runJob(guarded, { mode: 'hang' })).toMatchObject({
      state: 'retryable',
      error: { name: 'JobTimeoutError' },
    });
    expect(performance.now() - started).toBeLessThan(1000);
    expect(aborted).toMatchObject({ name: 'JobTimeoutError' });
  });

  it('returns, as a worker records, when the backoff returns no number: the default backoff decides', async () => {
    const broken = defineJob({
      name: 'testing.nan-backoff',
      backoff: () => Number.NaN,
      perform: () => Promise.reject(new Error('x')),
    });
    const result = await runJob(broken, {});
    expect(result).toMatchObject({ state: 'retryable', error: { message: 'x' } });
    expect((result as { delayMs: number }).delayMs).toBeGreaterThanOrEqual(1000);
    expect((result as { delayMs: number }).delayMs).toBeLessThanOrEqual(2000);
  });
});
