import { AsyncLocalStorage } from 'node:async_hooks';
import { Kysely, PostgresDialect, sql } from 'kysely';
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineJob, DiscardJob, Skiplock, SnoozeJob, type EnqueueMiddleware, type PerformMiddleware } from 'skiplock';
import { idOf, waitFor, type TestSchema } from '../../../test/support/schema.js';
import { useTestSchema } from '../../../test/support/test-file.js';
import type { TestDatabase } from './test-database.js';

const file = useTestSchema(['jobs', 'notes']);
const { startWorker } = file;
let t: TestSchema;
beforeAll(() => {
  t = file.t;
});
beforeAll(async () => {
  await t.pool.query(`CREATE TABLE "${t.schema}".notes (id serial PRIMARY KEY, body text NOT NULL)`);
});

async function row(id: string | null) {
  const { rows } = await t.pool.query(`SELECT * FROM "${t.schema}".jobs WHERE id = $1`, [id]);
  return rows[0] as Record<string, unknown> & { errors: Array<Record<string, unknown>>; state: string };
}

const inState = (id: string | null, state: string) =>
  waitFor(async () => (await row(id)).state === state, { what: `job ${id} ${state}` });

describe('definitions', () => {
  it('aliases: rows enqueued under a former name still run, under the new definition', async () => {
    const names: string[] = [];
    const renamed = defineJob<{ n: number }>({
      name: 'api.new-name',
      aliases: ['api.old-name'],
      perform: (_, ctx) => void names.push(ctx.name),
    });
    const { rows } = await t.pool.query<{ id: string }>(
      `SELECT "${t.schema}".enqueue('api.old-name', '{"n":1}') AS id`,
    );
    await startWorker({ jobs: [renamed] });
    await inState(String(rows[0]?.id), 'completed');
    expect(names).toEqual(['api.new-name']);
  });

  it('queue and priority may be functions of the arguments', async () => {
    const routed = defineJob<{ tier: 'gold' | 'free' }>({
      name: 'api.routed',
      queue: ({ tier }) => (tier === 'gold' ? 'fast' : 'slow'),
      priority: ({ tier }) => (tier === 'gold' ? -10 : 10),
      perform: () => undefined,
    });
    const gold = await routed.performLater({ tier: 'gold' });
    const free = await routed.performLater({ tier: 'free' }, { priority: 3 });
    expect(gold).toMatchObject({ queue: 'fast' });
    expect(await row(gold.id)).toMatchObject({ queue: 'fast', priority: -10 });
    expect(await row(free.id)).toMatchObject({ queue: 'slow', priority: 3 });
    expect(() => t.skiplock.worker({ jobs: [routed] })).toThrow(/picks its queue from its arguments/);
  });

  it('version and upgrade: an old payload is upgraded before validation and perform', async () => {
    const seen: unknown[] = [];
    const v2 = defineJob({
      name: 'api.versioned',
      version: 2,
      schema: z.object({ fullName: z.string() }),
      upgrade: (raw, from) =>
        from === 1 ? { fullName: `${raw.first as string} ${raw.last as string}` } : (raw as never),
      perform: (args) => void seen.push(args),
    });
    const old = await t.pool.query<{ id: string }>(
      `SELECT "${t.schema}".enqueue('api.versioned', '{"first":"Ada","last":"Lovelace"}') AS id`,
    );
    const fresh = await v2.performLater({ fullName: 'Grace Hopper' });
    expect(await row(fresh.id)).toMatchObject({ version: 2 });
    await t.pool.query(`UPDATE "${t.schema}".jobs SET version = 3 WHERE id = $1`, [fresh.id]);
    await startWorker({ jobs: [v2] });
    await inState(String(old.rows[0]?.id), 'completed');
    expect(seen).toEqual([{ fullName: 'Ada Lovelace' }]);
    // A row written by newer code waits for a worker that knows its version, its attempt given back:
    // old workers of a rolling deploy cannot use its attempts up.
    await inState(fresh.id, 'scheduled');
    expect(await row(fresh.id)).toMatchObject({ attempt: 0, errors: [], locked_by: null });
    const { rows } = await t.pool.query<{ wait: number }>(
      `SELECT extract(epoch FROM run_at - now())::float8 AS wait FROM "${t.schema}".jobs WHERE id = $1`,
      [fresh.id],
    );
    expect(rows[0]?.wait).toBeGreaterThan(20);
    expect(() => defineJob({ name: 'api.no-upgrade', version: 2, perform: () => undefined })).toThrow(
      /version 2 needs an upgrade/,
    );
  });
});

describe('schemas', () => {
  it("a transforming schema: the row keeps the arguments as given, the handler gets the schema's output", async () => {
    const seen: Array<{ email: string; plan: string }> = [];
    const signup = defineJob({
      name: 'api.signup',
      schema: z.object({ email: z.string().trim().toLowerCase(), plan: z.string().default('free') }),
      perform: (args) => void seen.push(args),
    });
    const { id } = await signup.performLater({ email: '  Ada@Example.COM ' });
    expect((await row(id)).args).toEqual({ email: '  Ada@Example.COM ' });
    await startWorker({ jobs: [signup] });
    await inState(id, 'completed');
    expect(seen).toEqual([{ email: 'ada@example.com', plan: 'free' }]);
  });
});

describe('enqueue API', () => {
  it('performNow runs inline through validation, hooks and perform middleware, and writes no row', async () => {
    const events: string[] = [];
    const middleware: PerformMiddleware = async ({ ctx }, next) => {
      events.push(`middleware ${ctx.name}`);
      await next();
    };
    const inline = new Skiplock({
      pool: t.pool,
      schema: t.schema,
      default: true,
      middleware: { perform: [middleware] },
    });
    const job = defineJob({
      name: 'api.inline',
      schema: z.object({ n: z.number() }),
      beforePerform: () => void events.push('before'),
      afterPerform: () => void events.push('after'),
      perform: ({ n }) => void events.push(`perform ${n}`),
    });
    try {
      await job.performNow({ n: 1 });
      expect(events).toEqual(['middleware api.inline', 'before', 'perform 1', 'after']);
      await expect(job.performNow({ n: 'x' as unknown as number })).rejects.toMatchObject({ code: 'JOB_PAYLOAD' });
      expect((await t.pool.query(`SELECT count(*)::int AS n FROM "${t.schema}".jobs`)).rows[0]).toEqual({ n: 0 });
    } finally {
      await inline.close();
    }
  });

  it('enqueue middleware sees whole batches; beforeEnqueue can skip; afterEnqueue sees results', async () => {
    const batches: number[] = [];
    const stamp: EnqueueMiddleware = async (batch, next) => {
      batches.push(batch.length);
      return next(batch.map((r) => ({ ...r, options: { ...r.options, metadata: { tenant: 'acme' } } })));
    };
    const skiplock = new Skiplock({ pool: t.pool, schema: t.schema, default: false, middleware: { enqueue: [stamp] } });
    const after: string[] = [];
    const job = defineJob<{ n: number }>({
      name: 'api.hooked',
      beforeEnqueue: ({ n }) => n !== 2,
      afterEnqueue: (args, result) => void after.push(`${args.n}:${result.status}`),
      perform: () => undefined,
    });
    try {
      const results = await skiplock.performAllLater(undefined, [
        job.with({ n: 1 }),
        job.with({ n: 2 }),
        job.with({ n: 3 }),
      ]);
      expect(results.map((r) => r.status)).toEqual(['enqueued', 'skipped', 'enqueued']);
      expect(results[1]).toEqual({ status: 'skipped', id: null, name: 'api.hooked', queue: 'default' });
      expect(after).toEqual(['1:enqueued', '3:enqueued']);
      await skiplock.enqueue(job, { n: 4 });
      expect(batches).toEqual([3, 1]);
      expect(await row(results[0]?.id as string)).toMatchObject({ metadata: { tenant: 'acme' } });
    } finally {
      await skiplock.close();
    }
  });
});

class RateLimited extends Error {}
class Fatal extends Error {}
const missing = (attempt: number): number => {
  throw new Error(`no wait for attempt ${attempt}`);
};

describe('error policy', () => {
  it('retryOn retries matching errors on its own schedule, then gives up; afterDiscard runs once', async () => {
    const discarded: Array<{ args: unknown; error: unknown }> = [];
    const job = defineJob<{ n: number }>({
      name: 'api.retry-on',
      retryOn: [{ on: [RateLimited], attempts: 3, wait: 50, jitter: 0 }],
      afterDiscard: (args, error) => void discarded.push({ args, error }),
      perform() {
        throw new RateLimited('slow down');
      },
    });
    const id = idOf(await t.skiplock.enqueue(job, { n: 1 }));
    await startWorker({ jobs: [job] });
    await inState(id, 'discarded');
    const done = await row(id);
    expect(done.attempt).toBe(3);
    const times = done.errors.map((entry) => Date.parse(String(entry.at)));
    expect((times[1] as number) - (times[0] as number)).toBeGreaterThanOrEqual(45);
    expect(discarded).toEqual([{ args: { n: 1 }, error: expect.any(RateLimited) as unknown }]);
  });

  it('a retryOn wait that throws: the attempt is retried after the default backoff, the worker carries on', async () => {
    const waits = [50];
    const job = defineJob<{ n: number }>({
      name: 'api.retry-on-throwing-wait',
      retryOn: [
        { on: [RateLimited], attempts: 5, jitter: 0, wait: (attempt) => waits[attempt - 1] ?? missing(attempt) },
      ],
      perform() {
        throw new RateLimited('slow down');
      },
    });
    const id = idOf(await t.skiplock.enqueue(job, { n: 1 }));
    await startWorker({ jobs: [job] });
    // Attempt 1 waits 50 ms by the rule; attempt 2's wait throws: retryable after the default backoff.
    await waitFor(async () => (await row(id)).attempt === 2 && (await row(id)).state === 'retryable', {
      what: 'the second attempt retryable',
    });
    const done = await row(id);
    expect(done.errors.map((entry) => entry.message)).toEqual(['slow down', 'slow down']);
    const { rows } = await t.pool.query<{ delay: number }>(
      `SELECT extract(epoch FROM run_at - (errors -> 1 ->> 'at')::timestamptz) AS delay FROM "${t.schema}".jobs WHERE id = $1`,
      [id],
    );
    // The default (polynomial) backoff after attempt 2: 2⁴ = 16 s and more, not the rule's 50 ms.
    expect(Number(rows[0]?.delay)).toBeGreaterThan(10);
  });

  it('discardOn and DiscardJob give up at once; other errors follow maxAttempts', async () => {
    const seen: string[] = [];
    const job = defineJob<{ kind: 'fatal' | 'discard' | 'other' }>({
      name: 'api.discard-on',
      discardOn: [Fatal],
      backoff: 0,
      maxAttempts: 2,
      afterDiscard: ({ kind }) => void seen.push(kind),
      perform({ kind }) {
        if (kind === 'fatal') throw new Fatal('no');
        if (kind === 'discard') throw new DiscardJob('not needed');
        throw new Error('flaky');
      },
    });
    const results = await t.skiplock.performAllLater(undefined, [
      job.with({ kind: 'fatal' }),
      job.with({ kind: 'discard' }),
      job.with({ kind: 'other' }),
    ]);
    await startWorker({ jobs: [job] });
    for (const result of results) await inState(result.id, 'discarded');
    expect((await Promise.all(results.map((r) => row(r.id as string)))).map((r) => r.attempt)).toEqual([1, 1, 2]);
    expect(seen.sort()).toEqual(['discard', 'fatal', 'other']);
  });

  it('afterDiscard also runs when rescue gives up a job whose worker died on its last attempt, once the discard committed', async () => {
    const discarded: Array<{ args: unknown; error: unknown; attempt: number; state: unknown }> = [];
    const job = defineJob<{ n: number }>({
      name: 'api.rescue-discard',
      async afterDiscard(args, error, ctx) {
        // As the hook's own queries see the job: given up already, not still running.
        const { rows } = await t.pool.query(`SELECT state FROM "${t.schema}".jobs WHERE id = $1`, [ctx.id]);
        discarded.push({ args, error, attempt: ctx.attempt, state: rows[0]?.state });
      },
      perform: () => undefined,
    });
    const { rows } = await t.pool.query<{ id: string }>(
      `INSERT INTO "${t.schema}".jobs (name, args, state, attempt, max_attempts, locked_by, lease_expires_at)
       VALUES ('api.rescue-discard', '{"n":7}', 'running', 2, 2, 'dead-worker', now() - interval '1 second') RETURNING id`,
    );
    await startWorker({ jobs: [job], rescueInterval: '50ms' });
    await inState(String(rows[0]?.id), 'discarded');
    await waitFor(async () => discarded.length === 1, { what: 'afterDiscard' });
    expect(discarded[0]).toMatchObject({ args: { n: 7 }, attempt: 2, state: 'discarded' });
    expect(discarded[0]?.error).toMatchObject({ name: 'LeaseExpired', message: 'lease expired on worker dead-worker' });
  });

  it('SnoozeJob runs the job again later without using an attempt or recording an error', async () => {
    let runs = 0;
    const job = defineJob<{ n: number }>({
      name: 'api.snooze',
      maxAttempts: 1,
      perform() {
        runs += 1;
        if (runs < 3) throw new SnoozeJob(30);
      },
    });
    const id = idOf(await t.skiplock.enqueue(job, { n: 1 }));
    await startWorker({ jobs: [job] });
    await inState(id, 'completed');
    expect(runs).toBe(3);
    expect(await row(id)).toMatchObject({ attempt: 1, errors: [] });
  });
});

describe('hooks and perform middleware', () => {
  it('restores an AsyncLocalStorage context from metadata around each run, around the hooks', async () => {
    const tenant = new AsyncLocalStorage<string>();
    const events: string[] = [];
    const restore: PerformMiddleware = ({ ctx }, next) => tenant.run(ctx.metadata.tenant as string, () => next());
    const skiplock = new Skiplock({
      pool: t.pool,
      schema: t.schema,
      default: false,
      middleware: { perform: [restore] },
    });
    const job = defineJob<{ n: number }>({
      name: 'api.tenant',
      beforePerform: () => void events.push(`before ${tenant.getStore()}`),
      afterPerform: () => void events.push(`after ${tenant.getStore()}`),
      perform: () => void events.push(`perform ${tenant.getStore()}`),
    });
    try {
      const id = idOf(await skiplock.enqueue(job, { n: 1 }, { metadata: { tenant: 'acme' } }));
      await startWorker({ jobs: [job] }, skiplock);
      await inState(id, 'completed');
      expect(events).toEqual(['before acme', 'perform acme', 'after acme']);
    } finally {
      await skiplock.close();
    }
  });
});

describe('transactional jobs', () => {
  function kysely(): Kysely<TestDatabase> {
    return new Kysely<TestDatabase>({ dialect: new PostgresDialect({ pool: t.pool }) }).withSchema(t.schema);
  }

  it('commit the handler writes and "completed" together (Kysely transaction as ctx.db)', async () => {
    const db = kysely();
    const skiplock = new Skiplock({ pool: t.pool, schema: t.schema, default: false, db });
    let failFirst = true;
    const job = defineJob<{ body: string }>({
      name: 'api.tx',
      transactional: true,
      backoff: 0,
      async perform({ body }, ctx) {
        await ctx.db.insertInto('notes').values({ body }).execute();
        if (failFirst) {
          failFirst = false;
          throw new Error('after the write');
        }
      },
    });
    try {
      const id = idOf(await skiplock.enqueue(job, { body: 'hello' }));
      await startWorker({ jobs: [job] }, skiplock);
      await inState(id, 'completed');
      // The failed first attempt's insert rolled back with it; the second committed with "done".
      const notes = await t.pool.query(`SELECT body FROM "${t.schema}".notes`);
      expect(notes.rows).toEqual([{ body: 'hello' }]);
      expect(await row(id)).toMatchObject({ attempt: 2, locked_by: null });
    } finally {
      await skiplock.close();
    }
  });

  /** Whether a backend of the test database is still running `pg_sleep` with this marker. */
  async function sleeping(marker: string): Promise<boolean> {
    const { rows } = await t.pool.query(
      `SELECT 1 FROM pg_stat_activity WHERE query LIKE '%pg_sleep%' AND query LIKE $1 AND pid <> pg_backend_pid()`,
      [`%${marker}%`],
    );
    return rows.length > 0;
  }

  /** A transactional job that times out at once and fails for good. */
  const TIMES_OUT = { transactional: true, maxAttempts: 1, timeout: '300ms' } as const;

  /** 'written' when a late write succeeds, else its error's `field`. */
  const written = (write: Promise<unknown>, field: 'name' | 'message') =>
    write.then(
      () => 'written',
      (error: Error) => error[field],
    );

  it('a timed-out handler that goes on writes nothing: its query is cancelled, its connection closed (pg client)', async () => {
    let late: unknown = 'not reached';
    const job = defineJob<{ body: string }>({
      name: 'api.tx-timeout-pg',
      ...TIMES_OUT,
      async perform({ body }, ctx) {
        const client = ctx.db as unknown as pg.PoolClient;
        await client.query(`SELECT pg_sleep(3) /* tx-timeout-pg */`).catch(() => undefined);
        // The handler ignores its signal and writes on: before the fix this ran in autocommit.
        late = await written(client.query(`INSERT INTO "${t.schema}".notes (body) VALUES ($1)`, [body]), 'message');
      },
    });
    const started = Date.now();
    const id = idOf(await t.skiplock.enqueue(job, { body: 'after the timeout' }));
    await startWorker({ jobs: [job] });
    await inState(id, 'discarded');
    // Settled at the timeout, not when the query would have returned; the query was cancelled.
    expect(Date.now() - started).toBeLessThan(2500);
    expect((await row(id)).errors[0]).toMatchObject({ name: 'JobTimeoutError' });
    await waitFor(async () => !(await sleeping('tx-timeout-pg')), { what: 'the handler query cancelled' });
    await waitFor(async () => late !== 'not reached', { what: 'the handler to go on' });
    expect(late).toMatch(/not queryable|terminated|closed/i);
    expect((await t.pool.query(`SELECT * FROM "${t.schema}".notes WHERE body = 'after the timeout'`)).rows).toEqual([]);
  });

  it("a stop past its timeout ends a stubborn handler's transaction: rolled back, its query cancelled, the job back unused, the pool free to close", async () => {
    const skiplock = new Skiplock({ connectionString: t.url, schema: t.schema, default: false });
    const job = defineJob<{ body: string }>({
      name: 'api.tx-stop-pg',
      transactional: true,
      async perform({ body }, ctx) {
        const client = ctx.db as unknown as pg.PoolClient;
        await client.query(`INSERT INTO "${t.schema}".notes (body) VALUES ($1)`, [body]);
        // Ignores its signal: the query goes on unless the connection is closed under it.
        await client.query(`SELECT pg_sleep(20) /* tx-stop-pg */`);
      },
    });
    const id = idOf(await skiplock.enqueue(job, { body: 'before the stop' }));
    const worker = await startWorker({ jobs: [job] }, skiplock);
    await waitFor(() => sleeping('tx-stop-pg'), { what: 'the handler query to start' });
    await worker.stop({ timeout: '300ms' });
    const closing = Date.now();
    await skiplock.close();
    expect(Date.now() - closing).toBeLessThan(2000);
    await waitFor(async () => !(await sleeping('tx-stop-pg')), { what: 'the handler query cancelled' });
    expect(await row(id)).toMatchObject({ state: 'available', attempt: 0, locked_by: null, errors: [] });
    expect((await t.pool.query(`SELECT * FROM "${t.schema}".notes`)).rows).toEqual([]);
  }, 30_000);

  it('a timed-out handler that goes on writes nothing through its Kysely transaction', async () => {
    const db = kysely();
    const skiplock = new Skiplock({ pool: t.pool, schema: t.schema, default: false, db });
    let late: unknown = 'not reached';
    let lateEnqueue: unknown = 'not reached';
    const followUp = defineJob({ name: 'api.tx-follow-up', perform() {} });
    const job = defineJob<{ body: string }>({
      name: 'api.tx-timeout-kysely',
      ...TIMES_OUT,
      async perform({ body }, ctx) {
        await sql`SELECT pg_sleep(1.5)`.execute(ctx.db);
        // Skiplock's own enqueue runs precompiled SQL (no Kysely plugin sees it): refused too.
        lateEnqueue = await written(skiplock.enqueue(followUp, {}, { db: ctx.db }), 'name');
        late = await written(ctx.db.insertInto('notes').values({ body }).execute(), 'name');
      },
    });
    try {
      const started = Date.now();
      const id = idOf(await skiplock.enqueue(job, { body: 'after the kysely timeout' }));
      await startWorker({ jobs: [job] }, skiplock);
      await inState(id, 'discarded');
      expect(Date.now() - started).toBeLessThan(1400);
      await waitFor(async () => late !== 'not reached', { what: 'the handler to go on' });
      expect(late).toBe('JobTimeoutError');
      expect(lateEnqueue).toBe('JobTimeoutError');
      const notes = await t.pool.query(`SELECT * FROM "${t.schema}".notes WHERE body = 'after the kysely timeout'`);
      expect(notes.rows).toEqual([]);
      const followUps = await t.pool.query(`SELECT 1 FROM "${t.schema}".jobs WHERE name = 'api.tx-follow-up'`);
      expect(followUps.rows).toEqual([]);
    } finally {
      await skiplock.close();
    }
  });

  it('roll the handler writes back when the job was taken back before commit (pg client as ctx.db)', async () => {
    const job = defineJob<{ body: string }>({
      name: 'api.tx-lost',
      transactional: true,
      maxAttempts: 1,
      async perform({ body }, ctx) {
        // Without a registered Kysely, ctx.db is the pg client holding the transaction.
        const client = ctx.db as unknown as pg.PoolClient;
        await client.query(`INSERT INTO "${t.schema}".notes (body) VALUES ($1)`, [body]);
        // Another worker rescued the job meanwhile.
        await t.pool.query(`UPDATE "${t.schema}".jobs SET locked_by = 'someone-else' WHERE id = $1`, [ctx.id]);
      },
    });
    const id = idOf(await t.skiplock.enqueue(job, { body: 'twice?' }));
    await startWorker({ jobs: [job] });
    await waitFor(async () => (await row(id)).attempt === 1 && (await row(id)).locked_by === 'someone-else', {
      what: 'the job taken by another worker',
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await t.pool.query(`SELECT * FROM "${t.schema}".notes`)).rows).toEqual([]);
    expect(await row(id)).toMatchObject({ state: 'running', locked_by: 'someone-else' });
  });
});
