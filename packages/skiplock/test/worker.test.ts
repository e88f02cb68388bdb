import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { pino } from 'pino';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { defineJob, DiscardJob, RetryJob, Skiplock, type JobContext, type JobDefinition, type Worker } from 'skiplock';
import {
  createTestSchema,
  idOf,
  lockWaiters,
  stateCounts,
  waitFor,
  type TestSchema,
} from '../../../test/support/schema.js';
import { useTestSchema } from '../../../test/support/test-file.js';

const silent = pino({ level: 'silent' });
const file = useTestSchema();
const { startWorker } = file;
let t: TestSchema;
beforeAll(() => {
  t = file.t;
});

async function job(id: string | null) {
  const { rows } = await t.pool.query(`SELECT * FROM "${t.schema}".jobs WHERE id = $1`, [id]);
  return rows[0] as Record<string, unknown> & { errors: Array<Record<string, unknown>> };
}

const finished = (id: string | null, state = 'completed') =>
  waitFor(async () => (await job(id)).state === state, { what: `job ${id} ${state}` });

/**
 * Routes every statement of `skiplock`'s pool through `around`, given its text and what runs it:
 * a test's stand-in for a slow network or a reply lost on the way back.
 */
function interceptPool(skiplock: Skiplock, around: (text: string, run: () => Promise<unknown>) => Promise<unknown>) {
  const query = skiplock.pool.query.bind(skiplock.pool) as (config: unknown, values?: unknown) => Promise<unknown>;
  const intercepted = (config: string | { text: string }, values?: unknown) =>
    around(typeof config === 'string' ? config : config.text, () => query(config, values));
  Object.assign(skiplock.pool, { query: intercepted });
}

/** Makes `skiplock`'s success writes reach Postgres `ms` late. */
const delaySuccessWrites = (skiplock: Skiplock, ms: number) =>
  interceptPool(skiplock, async (text, run) => {
    if (text.includes("SET state = 'completed'")) await new Promise((resolve) => setTimeout(resolve, ms));
    return run();
  });

/**
 * Enqueues `once` through `skiplock`, whose `worker` runs it, and expects it recorded completed at
 * attempt 1 without an error, run once (`runs`); then stops the worker and closes `skiplock`.
 */
async function expectRunOnce(skiplock: Skiplock, worker: Worker, once: JobDefinition<object>, runs: () => number) {
  try {
    const { id } = await skiplock.enqueue(once, {});
    await finished(id);
    expect(runs()).toBe(1);
    expect(await job(id)).toMatchObject({ attempt: 1, errors: [] });
  } finally {
    await worker.stop();
    await skiplock.close();
  }
}

describe('running jobs', () => {
  it('runs a job with its context and records completion', async () => {
    const seen: Array<{ args: unknown; ctx: Pick<JobContext, 'id' | 'name' | 'queue' | 'attempt'> }> = [];
    let copy: JobContext | undefined;
    let keys: string[] = [];
    const hello = defineJob<{ who: string }>({
      name: 'hello',
      queue: 'greetings',
      perform(args, ctx) {
        seen.push({ args, ctx: { id: ctx.id, name: ctx.name, queue: ctx.queue, attempt: ctx.attempt } });
        keys = Object.keys(ctx).sort();
        copy = { ...ctx }; // as middleware may do: the copy keeps signal and logger
      },
    });
    await startWorker({ jobs: [hello] });
    const result = await hello.performLater({ who: 'world' });
    await finished(result.id);
    expect(seen).toEqual([
      { args: { who: 'world' }, ctx: { id: result.id, name: 'hello', queue: 'greetings', attempt: 1 } },
    ]);
    expect(keys).toEqual(['attempt', 'db', 'id', 'logger', 'maxAttempts', 'metadata', 'name', 'queue', 'signal']);
    expect(copy?.signal).toBeInstanceOf(AbortSignal);
    expect(typeof copy?.logger.info).toBe('function');
    const row = await job(result.id);
    expect(row).toMatchObject({ attempt: 1, locked_by: null, lease_expires_at: null, errors: [] });
    expect(row.finished_at).toBeInstanceOf(Date);
  });

  it('two claim loops fill the slots but never run more than concurrency jobs at once', async () => {
    let running = 0;
    let most = 0;
    let runs = 0;
    const ran = new Set<string>();
    const held = defineJob({
      name: 'held',
      async perform(_args, ctx) {
        running += 1;
        most = Math.max(most, running);
        ran.add(ctx.id);
        runs += 1;
        await new Promise((resolve) => setTimeout(resolve, 5));
        running -= 1;
      },
    });
    await t.skiplock.performAllLater(
      undefined,
      Array.from({ length: 300 }, () => held.with({})),
    );
    await startWorker({ jobs: [held], concurrency: 7 });
    await waitFor(async () => (await stateCounts(t)).completed === 300, { what: '300 jobs done' });
    expect(ran.size).toBe(300);
    expect(runs).toBe(300);
    expect(most).toBe(7);
  });

  it('claimLoops sets how many claims share the slots: one loop claims them all in one statement', async () => {
    // The jobs a worker starting on 6 waiting jobs claims, counted by statement: every job a claim
    // takes gets that statement's now() as attempted_at.
    const claimStatements = async (tag: string, options: { claimLoops?: number }) => {
      let release = () => {};
      const gate = new Promise<void>((resolve) => (release = resolve));
      let started = 0;
      const gated = defineJob({
        name: `gated.${tag}`,
        queue: `gated-${tag}`,
        async perform() {
          started += 1;
          await gate;
        },
      });
      await t.skiplock.performAllLater(
        undefined,
        Array.from({ length: 6 }, () => gated.with({})),
      );
      const worker = await startWorker({ jobs: [gated], concurrency: 6, ...options });
      await waitFor(async () => started === 6, { what: `6 ${tag} jobs started` });
      const { rows } = await t.pool.query<{ n: number }>(
        `SELECT count(DISTINCT attempted_at)::int AS n FROM "${t.schema}".jobs WHERE name = $1`,
        [gated.name],
      );
      release();
      await worker.stop();
      return rows[0]?.n;
    };
    expect(await claimStatements('one', { claimLoops: 1 })).toBe(1);
    expect(await claimStatements('default', {})).toBe(2); // two loops, 3 jobs each
  });

  it('runs lower priority numbers first, then older run_at', async () => {
    const order: string[] = [];
    const ordered = defineJob<{ label: string }>({ name: 'ordered', perform: ({ label }) => void order.push(label) });
    await t.skiplock.performAllLater(undefined, [
      ordered.with({ label: 'p5' }, { priority: 5 }),
      ordered.with({ label: 'p0-new' }, { priority: 0 }),
      ordered.with({ label: 'p-1' }, { priority: -1 }),
      ordered.with({ label: 'p0-old' }, { priority: 0, runAt: new Date(Date.now() - 60_000) }),
    ]);
    await startWorker({ jobs: [ordered], concurrency: 1 });
    await waitFor(async () => order.length === 4);
    expect(order).toEqual(['p-1', 'p0-old', 'p0-new', 'p5']);
  });

  it('serving several queues, still runs lower priority numbers first across them', async () => {
    const order: string[] = [];
    const make = (queue: string) =>
      defineJob<{ label: string }>({ name: `multi.${queue}`, queue, perform: ({ label }) => void order.push(label) });
    const [a, b, c] = [make('qa'), make('qb'), make('qc')];
    await t.skiplock.performAllLater(undefined, [
      a.with({ label: 'a3' }, { priority: 3 }),
      b.with({ label: 'b1' }, { priority: 1 }),
      c.with({ label: 'c2' }, { priority: 2 }),
      a.with({ label: 'a0' }, { priority: 0 }),
    ]);
    await startWorker({ jobs: [a, b, c], concurrency: 1 });
    await waitFor(async () => order.length === 4);
    expect(order).toEqual(['a0', 'b1', 'c2', 'a3']);
  });

  it('does not run a job before its run_at', async () => {
    const ran: number[] = [];
    const later = defineJob({ name: 'later', perform: () => void ran.push(Date.now()) });
    const enqueuedAt = Date.now();
    const result = await later.performLater({}, { wait: '1500ms' });
    await startWorker({ jobs: [later] });
    await finished(result.id);
    expect(ran[0]! - enqueuedAt).toBeGreaterThanOrEqual(1400);
    const row = await job(result.id);
    expect((row.attempted_at as Date).getTime()).toBeGreaterThanOrEqual((row.run_at as Date).getTime());
  });

  it('never claims job names it does not know, nor queues it does not serve', async () => {
    const known = defineJob({ name: 'known', perform() {} });
    const { rows } = await t.pool.query<{ id: string }>(
      `SELECT "${t.schema}".enqueue('someone.elses') AS id UNION ALL SELECT "${t.schema}".enqueue('known', queue => 'other')`,
    );
    const mine = await known.performLater({});
    await startWorker({ jobs: [known] });
    await finished(mine.id);
    for (const { id } of rows) expect(await job(id)).toMatchObject({ state: 'available', attempt: 0, errors: [] });
  });
});

describe('wake-ups', () => {
  it('a listening worker is woken by NOTIFY, not by its poll', async () => {
    const ping = defineJob({ name: 'ping', perform() {} });
    await startWorker({ jobs: [ping], pollInterval: '1h' });
    // The first claim at start finds nothing; from here on only a notification can wake the worker.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const result = await ping.performLater({});
    await waitFor(async () => (await job(result.id)).state === 'completed', {
      timeoutMs: 3000,
      what: 'a NOTIFY wake-up',
    });
  });

  it('claims while its LISTEN connection opens; once it listens, a job enqueued in between runs', async () => {
    // Hold the worker's LISTEN statement until released.
    let release = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    const query = Reflect.get<pg.Client, 'query'>(pg.Client.prototype, 'query');
    pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
      const run = () => Reflect.apply(query, this, args) as unknown;
      return typeof args[0] === 'string' && args[0].startsWith('LISTEN ') ? held.then(run) : run();
    } as typeof query;
    try {
      const ran: number[] = [];
      const early = defineJob<{ n: number }>({ name: 'early', perform: ({ n }) => void ran.push(n) });
      await early.performLater({ n: 1 });
      let started = false;
      const starting = startWorker({ jobs: [early], pollInterval: '1h' }).then(() => (started = true));
      await waitFor(async () => ran.includes(1), { what: 'the job waiting at start, claimed before LISTEN' });
      expect(started).toBe(false);
      // Committed while nobody listens: its notification reaches no one.
      const between = await early.performLater({ n: 2 });
      release();
      await starting;
      // Polling is an hour away: the claim that listening triggers finds it.
      await finished(between.id);
      expect(ran).toEqual([1, 2]);
    } finally {
      pg.Client.prototype.query = query;
      release();
    }
  });

  it('a transaction sends at most one notification per queue, carrying only the queue name', async () => {
    const listener = await t.pool.connect();
    const payloads: string[] = [];
    listener.on('notification', (message) => payloads.push(`${message.channel}|${message.payload}`));
    try {
      await listener.query(`LISTEN "${t.schema}.jobs"`);
      const quiet = defineJob({ name: 'quiet', queue: 'q1', perform() {} });
      const client = await t.pool.connect();
      await client.query('BEGIN');
      await quiet.performLater({}, { db: client });
      await quiet.performLater({}, { db: client });
      await quiet.performLater({}, { db: client, wait: '1h', queue: 'q4' }); // scheduled: no wake-up
      await t.skiplock.performAllLater(client, [
        quiet.with({}),
        quiet.with({}, { queue: 'q2' }),
        quiet.with({}, { wait: '1h', queue: 'q3' }),
      ]);
      await client.query('COMMIT');
      client.release();
      await waitFor(async () => payloads.length >= 2);
      await listener.query('SELECT 1'); // any straggler would have arrived before this reply
      expect(payloads.sort()).toEqual([`${t.schema}.jobs|q1`, `${t.schema}.jobs|q2`]);
    } finally {
      await listener.query(`UNLISTEN *`);
      listener.release();
    }
  });
});

describe('wake-ups after commit', () => {
  /** Collects `<schema>.jobs` notifications while `fn` runs, until the listener has caught up. */
  async function notificationsDuring(fn: () => Promise<void>, atLeast: number): Promise<string[]> {
    const listener = await t.pool.connect();
    const payloads: string[] = [];
    listener.on('notification', (message) => payloads.push(message.payload ?? ''));
    try {
      await listener.query(`LISTEN "${t.schema}.jobs"`);
      await fn();
      await waitFor(async () => payloads.length >= atLeast, { what: `${atLeast} notifications` });
      await listener.query('SELECT 1'); // any straggler would have arrived before this reply
      return payloads;
    } finally {
      await listener.query('UNLISTEN *');
      listener.release();
    }
  }

  it('enqueues on the pool wake the workers after their commit, many enqueues with few NOTIFYs', async () => {
    const burst = defineJob({ name: 'burst', queue: 'burst', perform() {} });
    const payloads = await notificationsDuring(async () => {
      await Promise.all(Array.from({ length: 60 }, (_, i) => burst.performLater({ i })));
      await t.skiplock.performAllLater(undefined, [burst.with({}, { wait: '1h', queue: 'later' })]);
    }, 1);
    expect(new Set(payloads)).toEqual(new Set(['burst']));
    // One NOTIFY statement in flight at a time carries every queue woken meanwhile.
    expect(payloads.length).toBeLessThan(30);
  });

  it('a batch wakes each queue it made jobs available in, and no queue when every job is scheduled', async () => {
    const batch = defineJob({ name: 'batch', queue: 'b1', perform() {} });
    // On a connection of the caller's every insert notifies (none is left to the pool's waker).
    const client = await t.pool.connect();
    try {
      const payloads = await notificationsDuring(async () => {
        await t.skiplock.performAllLater(client, [batch.with({}), batch.with({}, { queue: 'b2' }), batch.with({})]);
        await t.skiplock.performAllLater(client, [batch.with({}, { wait: '1h' }), batch.with({}, { wait: '1h' })]);
        await t.skiplock.performAllLater(client, [
          batch.with({}, { queue: 'b3', wait: '1h' }),
          batch.with({}, { queue: 'b4', wait: '1h' }),
        ]);
      }, 2);
      expect(payloads.sort()).toEqual(['b1', 'b2']);
    } finally {
      client.release();
    }
  });

  it('an enqueue with a unique key (here a duplicate) carries no owed wake-up: the owed one still goes out', async () => {
    const dedupe = defineJob<{ n?: number }>({ name: 'dedupe', queue: 'dedupe', perform() {} });
    let now = performance.now();
    const clock = vi.spyOn(performance, 'now').mockImplementation(() => now);
    try {
      const payloads = await notificationsDuring(async () => {
        await dedupe.performLater({}, { uniqueKey: 'held' }); // notifies; 2 ms of quiet follow
        now += 10;
        await dedupe.performLater({ n: 1 }); // notifies
        await dedupe.performLater({ n: 2 }); // in the quiet time: its wake-up is owed
        now += 10; // past the quiet time, before the owed wake-up's own NOTIFY (2 ms of real time)
        const duplicate = await dedupe.performLater({}, { uniqueKey: 'held' }); // inserts nothing, carries nothing
        expect(duplicate.status).toBe('duplicate');
      }, 3);
      expect(payloads).toEqual(['dedupe', 'dedupe', 'dedupe']);
    } finally {
      clock.mockRestore();
    }
  });

  it('an owed wake-up is not held by a unique-key enqueue that waits for the holder of its key', async () => {
    const woken = defineJob({ name: 'owed', queue: 'owed', perform() {} });
    const other = defineJob({ name: 'owed-other', queue: 'owed-other', perform() {} });
    await startWorker({ jobs: [woken], pollInterval: '1h' });
    await new Promise((resolve) => setTimeout(resolve, 200)); // past the worker's claims at start
    const holder = await t.pool.connect();
    let now = performance.now();
    const clock = vi.spyOn(performance, 'now').mockImplementation(() => now);
    try {
      await holder.query('BEGIN');
      await t.skiplock.enqueue(other, {}, { db: holder, uniqueKey: 'owed-key' });
      await other.performLater({}); // notifies; 2 ms of quiet follow
      const owed = await woken.performLater({}); // in the quiet time: its wake-up is owed
      now += 10;
      const blocked = other.performLater({}, { uniqueKey: 'owed-key' }); // waits for the holder
      await finished(owed.id);
      await holder.query('ROLLBACK');
      await blocked;
    } finally {
      clock.mockRestore();
      holder.release();
    }
  });

  it('an owed wake-up whose NOTIFY fails is sent again, not left to the poll', async () => {
    const flaky = new Skiplock({ connectionString: t.url, schema: t.schema, logger: silent, default: false });
    let failed = 0;
    interceptPool(flaky, (text, run) => {
      if (text.includes('pg_notify($1, queue)') && failed === 0) {
        failed++;
        return Promise.reject(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
      }
      return run();
    });
    const woken = defineJob({ name: 'renotified', queue: 'renotified', perform() {} });
    const other = defineJob({ name: 'renotified-other', queue: 'renotified-other', perform() {} });
    await startWorker({ jobs: [woken], pollInterval: '1h' });
    await new Promise((resolve) => setTimeout(resolve, 200)); // past the worker's claims at start
    const now = performance.now();
    const clock = vi.spyOn(performance, 'now').mockImplementation(() => now); // the quiet time never ends
    try {
      await flaky.enqueue(other, {}); // notifies; 2 ms of quiet follow
      const owed = await flaky.enqueue(woken, {}); // in the quiet time: sent by the waker, which fails once
      await finished(owed.id);
      expect(failed).toBe(1);
    } finally {
      clock.mockRestore();
      await flaky.close();
    }
  });

  it('overlapping enqueues to several queues wake a worker that never polls: every job runs', async () => {
    const ran: string[] = [];
    const jobs = ['wa', 'wb', 'wc'].map((queue) =>
      defineJob<{ i: number }>({ name: `wake.${queue}`, queue, perform: ({ i }) => void ran.push(`${queue}${i}`) }),
    );
    await startWorker({ jobs, pollInterval: '1h' });
    await new Promise((resolve) => setTimeout(resolve, 200)); // past the claim at start
    await Promise.all(Array.from({ length: 90 }, (_, i) => (jobs[i % 3] as (typeof jobs)[number]).performLater({ i })));
    await waitFor(async () => ran.length === 90, { timeoutMs: 5000, what: 'all 90 jobs woken by NOTIFY' });
  });

  it('a stream of enqueues notifies at most once per 2 ms; a worker that never polls runs every job', async () => {
    const ran: number[] = [];
    const stream = defineJob<{ i: number }>({ name: 'stream', queue: 'stream', perform: ({ i }) => void ran.push(i) });
    await startWorker({ jobs: [stream], pollInterval: '1h' });
    await new Promise((resolve) => setTimeout(resolve, 200)); // past the claim at start
    let elapsedMs = 0;
    // Bursts first (other queues): the wake-ups they leave owed must not stop later ones being sent.
    for (let burst = 0; burst < 3; burst++) {
      await Promise.all(Array.from({ length: 60 }, (_, i) => stream.performLater({ i }, { queue: `burst${i % 3}` })));
    }
    const payloads = await notificationsDuring(async () => {
      const start = performance.now();
      for (let i = 0; i < 100; i++) await stream.performLater({ i });
      elapsedMs = performance.now() - start;
    }, 1);
    // Every notification is followed by 2 ms in which no enqueue notifies; one more may come after.
    expect(payloads.filter((queue) => queue === 'stream').length).toBeLessThanOrEqual(Math.floor(elapsedMs / 2) + 2);
    await waitFor(async () => ran.length === 100, { timeoutMs: 5000, what: 'all 100 jobs woken by NOTIFY' });
  });

  it('close() lets enqueues in flight finish and sends their wake-ups before ending the pool', async () => {
    const closing = new Skiplock({ connectionString: t.url, schema: t.schema, default: false, logger: silent });
    const late = defineJob({ name: 'late', queue: 'closing', perform() {} });
    const payloads = await notificationsDuring(async () => {
      const pending = Array.from({ length: 20 }, (_, i) => closing.enqueue(late, { i }));
      await closing.close();
      const results = await Promise.all(pending);
      expect(results.every((r) => r.status === 'enqueued')).toBe(true);
    }, 1);
    // Only this test's queue matters: a wake-up the stream test above left owed may land here too.
    expect(payloads).toContain('closing');
  });

  it('a rolled-back transactional enqueue wakes nobody; the SQL function notifies at commit', async () => {
    const quiet = defineJob({ name: 'quiet.sql', queue: 'sqlq', perform() {} });
    const payloads = await notificationsDuring(async () => {
      const client = await t.pool.connect();
      try {
        await client.query('BEGIN');
        await quiet.performLater({}, { db: client });
        await client.query('ROLLBACK');
        await client.query('BEGIN');
        await client.query(`SELECT "${t.schema}".enqueue('quiet.sql', queue => 'sqlq')`);
        await client.query(
          `SELECT "${t.schema}".enqueue('quiet.sql', queue => 'sqllater', run_at => now() + interval '1h')`,
        );
        await client.query('COMMIT');
      } finally {
        client.release();
      }
    }, 1);
    expect(payloads).toEqual(['sqlq']);
  });
});

describe('failures', () => {
  it('retries with backoff, recording one error entry per failed attempt', async () => {
    const flaky = defineJob({
      name: 'flaky',
      backoff: 50,
      perform(_args, ctx) {
        if (ctx.attempt < 3) throw new TypeError(`attempt ${ctx.attempt} broke`);
      },
    });
    const worker = await startWorker({ jobs: [flaky] });
    const result = await flaky.performLater({});
    await finished(result.id);
    const row = await job(result.id);
    expect(row.attempt).toBe(3);
    expect(row.errors).toHaveLength(2);
    expect(row.errors[0]).toMatchObject({
      attempt: 1,
      name: 'TypeError',
      message: 'attempt 1 broke',
      worker: worker.id,
    });
    expect(row.errors[0]?.stack).toContain('TypeError: attempt 1 broke');
    expect(Date.parse(row.errors[1]?.at as string)).toBeGreaterThanOrEqual(
      Date.parse(row.errors[0]?.at as string) + 40,
    );
  });

  it('successes at different attempts written in one batch are each recorded at their own attempt', async () => {
    // A retried job (attempt 2) and a fresh one (attempt 1) finish in the same tick: one statement
    // records both, sending only the attempt that differs from the first one's.
    let release = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    const waiting = new Set<string>();
    const mixed = defineJob<{ failFirst: boolean }>({
      name: 'mixed-attempts',
      backoff: 0,
      async perform(args, ctx) {
        if (args.failFirst && ctx.attempt === 1) throw new Error('the first attempt fails');
        waiting.add(ctx.id);
        await gate;
      },
    });
    await startWorker({ jobs: [mixed], pollInterval: '50ms', completionBatchSize: 10 });
    const retried = await mixed.performLater({ failFirst: true });
    await waitFor(async () => waiting.has(retried.id as string), { what: 'the retried job running again' });
    const fresh = await mixed.performLater({ failFirst: false });
    await waitFor(async () => waiting.has(fresh.id as string), { what: 'the fresh job running' });
    release();
    await finished(retried.id);
    await finished(fresh.id);
    expect((await job(retried.id)).attempt).toBe(2);
    expect((await job(fresh.id)).attempt).toBe(1);
  });

  it('schedules the retry at now() + backoff in Postgres time', async () => {
    const slow = defineJob({ name: 'slow-retry', backoff: '1h', perform: () => Promise.reject(new Error('nope')) });
    await startWorker({ jobs: [slow] });
    const result = await slow.performLater({});
    await finished(result.id, 'retryable');
    const { rows } = await t.pool.query(
      `SELECT run_at - now() BETWEEN interval '59 minutes' AND interval '61 minutes' AS ok FROM "${t.schema}".jobs WHERE id = $1`,
      [result.id],
    );
    expect(rows[0]).toEqual({ ok: true });
  });

  it('discards after max_attempts (the row decides)', async () => {
    const doomed = defineJob({
      name: 'doomed',
      maxAttempts: 10,
      backoff: 0,
      perform: () => Promise.reject(new Error('always')),
    });
    await startWorker({ jobs: [doomed] });
    const result = await doomed.performLater({}, { maxAttempts: 3 });
    await finished(result.id, 'discarded');
    const row = await job(result.id);
    expect(row.attempt).toBe(3);
    expect(row.errors.map((e) => e.attempt)).toEqual([1, 2, 3]);
    expect(row.finished_at).toBeInstanceOf(Date);
  });

  it('DiscardJob gives up at once', async () => {
    const hopeless = defineJob({ name: 'hopeless', perform: () => Promise.reject(new DiscardJob('account deleted')) });
    await startWorker({ jobs: [hopeless] });
    const result = await hopeless.performLater({});
    await finished(result.id, 'discarded');
    expect((await job(result.id)).errors).toMatchObject([
      { attempt: 1, name: 'DiscardJob', message: 'account deleted' },
    ]);
  });

  /**
   * Starts a worker for job `name`, which throws `values[i]` when run with `{ i }`, and enqueues one
   * per value (`maxAttempts(i)` attempts each); returns their results, and a check that the worker
   * still runs a job afterwards.
   */
  async function throwEach(name: string, values: readonly unknown[], maxAttempts: (i: number) => number = () => 1) {
    const thrower = defineJob<{ i: number }>({
      name,
      perform: ({ i }) => {
        throw values[i];
      },
    });
    const ok = defineJob({ name: `${name}.ok`, perform() {} });
    await startWorker({ jobs: [thrower, ok] });
    const results = await t.skiplock.performAllLater(
      undefined,
      values.map((_, i) => thrower.with({ i }, { maxAttempts: maxAttempts(i) })),
    );
    return { results, carriesOn: async () => finished((await ok.performLater({})).id) };
  }

  it('a handler throwing a non-Error is a failed attempt with a readable message, and the worker carries on', async () => {
    const thrown: unknown[] = ['plain string', undefined, { code: 42, reason: 'weird' }, null, ''];
    const { results, carriesOn } = await throwEach('odd-throw', thrown);
    for (const r of results) await finished(r.id, 'discarded');
    const messages = await Promise.all(results.map(async (r) => (await job(r.id)).errors[0]));
    expect(messages.map((e) => e?.message)).toEqual([
      'plain string',
      'undefined was thrown',
      "{ code: 42, reason: 'weird' } was thrown",
      'null was thrown',
      'an empty string was thrown',
    ]);
    expect(messages.every((e) => e?.name === 'NonError')).toBe(true);
    await carriesOn();
  });

  it('a handler throwing a value that cannot be read (throwing getters, a revoked proxy) fails its attempt, and the worker carries on', async () => {
    const explode = () => {
      throw new Error('do not touch');
    };
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    const hostile: unknown[] = [
      Object.defineProperty({}, 'code', { get: explode }),
      Object.defineProperty(new Error('x'), 'message', { get: explode }),
      Object.assign(new Error(), { message: Object.create(null) as unknown }),
      revoked.proxy,
      { [Symbol.for('nodejs.util.inspect.custom')]: explode },
      Object.defineProperty(new RetryJob('wait unreadable'), 'waitMs', { get: explode }),
    ];
    // The last with attempts left: its wait is read (and throws), so the default backoff decides.
    const last = hostile.length - 1;
    const { results, carriesOn } = await throwEach('nasty-throw', hostile, (i) => (i === last ? 2 : 1));
    for (const [i, r] of results.entries()) await finished(r.id, i === last ? 'retryable' : 'discarded');
    const unreadable = 'a value was thrown that could not be read (reading or rendering it threw)';
    const recorded = await Promise.all(results.map(async (r) => (await job(r.id)).errors));
    expect(recorded.map((errors) => errors.map((e) => [e.attempt, e.name, e.message]))).toEqual([
      [[1, 'NonError', '{} was thrown']], // the getter is not enumerable: not read
      [[1, 'NonError', unreadable]],
      [[1, 'NonError', unreadable]],
      [[1, 'NonError', unreadable]],
      [[1, 'NonError', unreadable]],
      [[1, 'RetryJob', 'wait unreadable']],
    ]);
    await carriesOn();
  });

  it('odd failures (non-string message, lone surrogate, a pair cut at the length limit, throwing or NaN backoff) are each recorded without losing the batch', async () => {
    const weird = defineJob<{ kind: string }>({
      name: 'weird',
      maxAttempts: 2,
      backoff: (attempt) => {
        if (attempt > 0) throw new Error('backoff exploded');
        return 0;
      },
      perform: ({ kind }) => {
        if (kind === 'number-message') throw Object.assign(new Error(), { message: 42 });
        if (kind === 'surrogate') throw new Error('bad \uD800 text');
        if (kind === 'long') throw new Error(`${'a'.repeat(8191)}😀 tail`);
      },
    });
    const nan = defineJob({
      name: 'nan-backoff',
      backoff: () => Number.NaN,
      perform: () => Promise.reject(new Error('x')),
    });
    const results = await t.skiplock.performAllLater(undefined, [
      weird.with({ kind: 'number-message' }, { maxAttempts: 1 }),
      weird.with({ kind: 'surrogate' }, { maxAttempts: 1 }),
      weird.with({ kind: 'surrogate' }),
      weird.with({ kind: 'fine' }),
      nan.with({}),
      weird.with({ kind: 'long' }, { maxAttempts: 1 }),
    ]);
    await startWorker({ jobs: [weird, nan] });
    const [numberMessage, surrogate, retried, fine, nanDelay, long] = results.map((r) => r.id);
    await finished(numberMessage!, 'discarded');
    await finished(surrogate!, 'discarded');
    await finished(retried!, 'retryable');
    await finished(fine!);
    await finished(nanDelay!, 'retryable');
    expect((await job(numberMessage!)).errors[0]?.message).toBe('42');
    expect((await job(surrogate!)).errors[0]?.message).toBe('bad \uFFFD text');
    await finished(long!, 'discarded');
    expect((await job(long!)).errors[0]?.message).toMatch(/^a{8191}\uFFFD… \(6 more characters\)$/);
    // A backoff that returns no number is one that fails: the default backoff (attempt 1: 1–2 s).
    const { rows } = await t.pool.query(
      `SELECT run_at - attempted_at < interval '3 seconds' AS defaulted FROM "${t.schema}".jobs WHERE id = $1`,
      [nanDelay],
    );
    expect(rows[0]).toEqual({ defaulted: true });
  });

  it("an afterDiscard that never settles is not waited for past the job's timeout or a cancel: the discard is written, the slot freed", async () => {
    const hookSignals: AbortSignal[] = [];
    const stuck = {
      queue: 'stuck-hook',
      maxAttempts: 1,
      afterDiscard: (_args: object, _error: unknown, ctx: JobContext) => {
        hookSignals.push(ctx.signal);
        return new Promise<void>(() => undefined); // never ends
      },
      perform() {
        throw new Error('no way');
      },
    };
    const timed = defineJob({ name: 'stuck-hook.timed', timeout: '300ms', ...stuck });
    const untimed = defineJob({ name: 'stuck-hook.untimed', ...stuck });
    // Discarded by its timeout: the hook gets the timeout afresh.
    const hangs = defineJob({
      name: 'stuck-hook.hangs',
      timeout: '300ms',
      ...stuck,
      perform: () => new Promise<void>(() => undefined),
    });
    let ran = 0;
    const next = defineJob({ name: 'stuck-hook.next', queue: 'stuck-hook', perform: () => void ran++ });
    await startWorker({ jobs: [timed, untimed, hangs, next], concurrency: 1 });
    const first = await t.skiplock.enqueue(timed, {});
    await finished(first.id, 'discarded');
    expect(await job(first.id)).toMatchObject({ attempt: 1, locked_by: null });
    // Its slot is free again (concurrency 1).
    const after = await t.skiplock.enqueue(next, {});
    await finished(after.id);
    expect(ran).toBe(1);
    // Without a timeout, an operator's cancel ends the wait.
    const second = await t.skiplock.enqueue(untimed, {});
    await waitFor(async () => hookSignals.length === 2, { what: 'the second afterDiscard to start' });
    await t.skiplock.admin.cancelJob(second.id as string);
    await finished(second.id, 'discarded');
    const third = await t.skiplock.enqueue(hangs, {});
    await finished(third.id, 'discarded');
    expect(await job(third.id)).toMatchObject({ errors: [expect.objectContaining({ name: 'JobTimeoutError' })] });
    expect(hookSignals.map((signal) => signal.aborted)).toEqual([true, true, true]);
  });

  it('a payload that fails the schema at perform time is discarded, not retried', async () => {
    const strict = defineJob({
      name: 'strict',
      schema: {
        '~standard': {
          version: 1,
          vendor: 'test',
          validate: (v: unknown) =>
            (v as { n?: unknown }).n === 1
              ? { value: v as { n: 1 } }
              : { issues: [{ message: 'n must be 1', path: ['n'] }] },
        },
      },
      perform() {},
    });
    const { rows } = await t.pool.query<{ id: string }>(`SELECT "${t.schema}".enqueue('strict', '{"n": 2}') AS id`);
    await startWorker({ jobs: [strict] });
    await finished(rows[0]!.id, 'discarded');
    expect((await job(rows[0]!.id)).errors).toMatchObject([
      { name: 'JobPayloadError', message: expect.stringContaining('args.n') },
    ]);
  });

  it('a job past its timeout has its signal aborted and fails with JobTimeoutError', async () => {
    let aborted: unknown;
    const hang = defineJob({
      name: 'hang',
      timeout: '200ms',
      maxAttempts: 1,
      perform: (_args, ctx) =>
        new Promise<void>(() => {
          ctx.signal.addEventListener('abort', () => (aborted = ctx.signal.reason));
        }),
    });
    await startWorker({ jobs: [hang] });
    const result = await hang.performLater({});
    await finished(result.id, 'discarded');
    expect((aborted as Error).name).toBe('JobTimeoutError');
    expect((await job(result.id)).errors).toMatchObject([
      { name: 'JobTimeoutError', message: expect.stringContaining('200 ms') },
    ]);
  });

  it('a timeout while the arguments are still being validated ends the attempt; the handler never starts', async () => {
    let performed = 0;
    const slowSchema = defineJob({
      name: 'slow-schema',
      timeout: '100ms',
      maxAttempts: 1,
      schema: {
        '~standard': {
          version: 1,
          vendor: 'test',
          validate: async (v: unknown) => {
            await new Promise((resolve) => setTimeout(resolve, 400));
            return { value: v as Record<string, never> };
          },
        },
      },
      perform() {
        performed += 1;
      },
    });
    await startWorker({ jobs: [slowSchema] });
    const { id } = await slowSchema.performLater({});
    await finished(id, 'discarded');
    expect((await job(id)).errors).toMatchObject([{ name: 'JobTimeoutError' }]);
    await new Promise((resolve) => setTimeout(resolve, 500)); // the validation has finished by now
    expect(performed).toBe(0);
  });
});

describe('leases', () => {
  it("a definition's lease overrides the worker's, and heartbeats keep a long run from being rescued", async () => {
    const leases: number[] = [];
    const long = defineJob({
      name: 'long-lease',
      lease: '600ms',
      async perform(_args, ctx) {
        for (let i = 0; i < 8; i++) {
          const { rows } = await t.pool.query<{ ms: number }>(
            `SELECT extract(epoch FROM lease_expires_at - now())::float8 * 1000 AS ms FROM "${t.schema}".jobs WHERE id = $1`,
            [ctx.id],
          );
          leases.push(rows[0]!.ms);
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
      },
    });
    await startWorker({ jobs: [long], lease: '30s', rescueInterval: '100ms' });
    const result = await long.performLater({});
    await finished(result.id);
    // Two seconds of running under a 600 ms lease: renewed all along, never expired, never rescued.
    expect(Math.max(...leases)).toBeLessThanOrEqual(600);
    expect(Math.min(...leases)).toBeGreaterThan(0);
    expect(await job(result.id)).toMatchObject({ attempt: 1, errors: [] });
  });

  it('a success whose write outlasts the lease keeps its job leased until written: not rescued, run once', async () => {
    const slow = new Skiplock({ connectionString: t.url, schema: t.schema, logger: silent, default: false });
    let runs = 0;
    const once = defineJob({ name: 'slow-write', queue: 'slow-write', perform: () => void runs++ });
    // The success write reaches Postgres 2 s late: more than three leases of 600 ms.
    delaySuccessWrites(slow, 2000);
    const worker = await startWorker({ jobs: [once], lease: '600ms', rescueInterval: '100ms' }, slow);
    await expectRunOnce(slow, worker, once, () => runs);
  });

  it("an outcome waiting to be written is kept leased for its definition's lease, not the worker's shorter one", async () => {
    const slow = new Skiplock({ connectionString: t.url, schema: t.schema, logger: silent, default: false });
    let runs = 0;
    // Beats every third of the shortest lease a job has (500 ms): the worker's own 300 ms would lapse between two.
    const once = defineJob({ name: 'long-lease', queue: 'long-lease', lease: '1500ms', perform: () => void runs++ });
    delaySuccessWrites(slow, 2000);
    const worker = await startWorker({ jobs: [once], lease: '300ms' }, slow);
    // Another replica, rescuing every 100 ms.
    await startWorker({ jobs: [once], lease: '300ms', rescueInterval: '100ms', queues: ['elsewhere'] });
    await expectRunOnce(slow, worker, once, () => runs);
  });

  it('a claim that committed but whose reply was lost gives its jobs back at once, attempt not used', async () => {
    const lossy = new Skiplock({ connectionString: t.url, schema: t.schema, logger: silent, default: false });
    let runs = 0;
    const once = defineJob({ name: 'lost-reply', queue: 'lost-reply', maxAttempts: 1, perform: () => void runs++ });
    // The first claim runs and commits in Postgres, then its reply is lost on the way back.
    let lost = false;
    interceptPool(lossy, async (text, run) => {
      const result = await run();
      if (!lost && text.includes("SET state = 'running'") && (result as { rowCount: number }).rowCount > 0) {
        lost = true;
        throw new Error('Connection terminated unexpectedly');
      }
      return result;
    });
    // A job held by an earlier process with the same worker id (a stable id), claimed an hour ago:
    // not this claim's, so not given back.
    const { rows } = await t.pool.query<{ id: string }>(
      `INSERT INTO "${t.schema}".jobs (name, queue, state, attempt, attempted_at, locked_by, lease_expires_at)
       VALUES ('lost-reply.older', 'elsewhere', 'running', 1, now() - interval '1 hour', 'stable-id', now() + interval '1 hour')
       RETURNING id`,
    );
    // Rescue would take the job back once its lease expired and, its only attempt used, discard it.
    const options = { jobs: [once], lease: '1s', rescueInterval: '100ms', id: 'stable-id' } as const;
    const worker = await startWorker(options, lossy);
    await expectRunOnce(lossy, worker, once, () => runs);
    expect(lost).toBe(true);
    expect(await job(rows[0]?.id ?? null)).toMatchObject({ state: 'running', attempt: 1, locked_by: 'stable-id' });
  });

  it('handlers holding every pooled connection past the lease do not hold the heartbeat back: not rescued, run once', async () => {
    const busy = new Skiplock({
      connectionString: t.url,
      schema: t.schema,
      logger: silent,
      default: false,
      poolSize: 3,
    });
    let runs = 0;
    const hog = defineJob({
      name: 'pool-hog',
      queue: 'pool-hog',
      async perform() {
        runs++;
        // Long queries on ctx.db look like this to the pool: every connection taken for 2 s.
        const held = [await busy.pool.connect(), await busy.pool.connect(), await busy.pool.connect()];
        await new Promise((resolve) => setTimeout(resolve, 2000));
        for (const client of held) client.release();
      },
    });
    const options = { jobs: [hog], lease: '600ms', rescueInterval: '100ms' } as const;
    const worker = await startWorker(options, busy);
    // Another replica, free to rescue the job if its lease lapsed, and then to run it again.
    await startWorker(options);
    try {
      const { id } = await busy.enqueue(hog, {});
      await finished(id);
      expect(runs).toBe(1);
      expect(await job(id)).toMatchObject({ attempt: 1, errors: [] });
    } finally {
      await worker.stop();
      await busy.close();
    }
  });

  it("a success written while the user's pool times out waiting for a connection is written once one is free: not rescued, run once", async () => {
    // The user's pool gives up on a connection after 100 ms ("timeout exceeded when trying to connect").
    const pool = new pg.Pool({ connectionString: t.url, max: 3, connectionTimeoutMillis: 100 });
    const busy = new Skiplock({ pool, schema: t.schema, logger: silent, default: false });
    let holding!: () => void;
    const allHeld = new Promise<void>((resolve) => (holding = resolve));
    const hog = defineJob({
      name: 'connection-hog',
      queue: 'connection-hog',
      async perform() {
        const held: pg.PoolClient[] = [];
        while (held.length < 3) {
          const client = await pool.connect().catch(() => undefined);
          if (client) held.push(client);
        }
        holding();
        // Longer than the completer's five tries (~3.5 s with their backoff).
        await new Promise((resolve) => setTimeout(resolve, 5000));
        for (const client of held) client.release();
      },
    });
    let runs = 0;
    const quick = defineJob({
      name: 'connection-quick',
      queue: 'connection-hog',
      async perform() {
        runs++;
        await allHeld;
      },
    });
    const worker = await startWorker(
      { jobs: [hog, quick], concurrency: 2, lease: '2s', rescueInterval: '100ms' },
      busy,
    );
    try {
      await busy.enqueue(hog, {});
      await expectRunOnce(busy, worker, quick, () => runs);
    } finally {
      await pool.end();
    }
  }, 20_000);

  it('after a batch failed for good, an outcome whose own write meets a dropped connection is written again, not dropped', async () => {
    const flaky = new Skiplock({ connectionString: t.url, schema: t.schema, logger: silent, default: false });
    let writes = 0;
    interceptPool(flaky, (text, run) => {
      if (!text.includes("SET state = 'completed'")) return run();
      writes++;
      // Five failures of the batch (not transient: it is written one by one), then a dropped connection.
      if (writes <= 5) return Promise.reject(new Error('boom'));
      if (writes === 6) return Promise.reject(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
      return run();
    });
    let runs = 0;
    const once = defineJob({ name: 'written-again', queue: 'written-again', perform: () => void runs++ });
    const worker = await startWorker({ jobs: [once], lease: '1s', rescueInterval: '100ms' }, flaky);
    await expectRunOnce(flaky, worker, once, () => runs);
    expect(writes).toBe(7);
  }, 20_000);

  it('a job row that an open transaction references by foreign key is still claimed, extended and recorded', async () => {
    await t.pool.query(`CREATE TABLE "${t.schema}".job_refs (job_id bigint REFERENCES "${t.schema}".jobs (id))`);
    const referenced = defineJob({
      name: 'referenced',
      queue: 'referenced',
      perform: () => new Promise((resolve) => setTimeout(resolve, 500)),
    });
    const { id } = await t.skiplock.enqueue(referenced, {});
    const holder = await t.pool.connect();
    try {
      // The insert's foreign key check holds FOR KEY SHARE on the job's row until this transaction ends:
      // claims, heartbeats and outcome writes change no key, so none of them conflicts with it.
      await holder.query('BEGIN');
      await holder.query(`INSERT INTO "${t.schema}".job_refs VALUES ($1)`, [id]);
      await startWorker({ jobs: [referenced], lease: '300ms', rescueInterval: '100ms' });
      await finished(id);
      expect(await job(id)).toMatchObject({ attempt: 1, errors: [] });
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
    }
  });

  it("a heartbeat neither waits for nor extends a held job whose row another transaction locked; the others' go on", async () => {
    let release = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    const parked = defineJob({ name: 'parked', queue: 'parked', perform: () => gate });
    await startWorker({ jobs: [parked], lease: '600ms', rescueInterval: '1h' });
    const [a, b] = [await t.skiplock.enqueue(parked, {}), await t.skiplock.enqueue(parked, {})];
    await waitFor(async () => (await job(a.id)).state === 'running' && (await job(b.id)).state === 'running', {
      what: 'both jobs running',
    });
    const leaseOf = async (id: string | null) => (await job(id)).lease_expires_at as Date;
    const locker = await t.pool.connect();
    try {
      await locker.query('BEGIN');
      await locker.query(`SELECT 1 FROM "${t.schema}".jobs WHERE id = $1 FOR UPDATE`, [a.id]);
      const lockedLease = await leaseOf(a.id);
      // Beats every 200 ms: a beat that waited for the locked row would extend neither lease.
      for (let beat = 0; beat < 2; beat++) {
        const otherLease = await leaseOf(b.id);
        await waitFor(async () => (await leaseOf(b.id)) > otherLease, { timeoutMs: 3000, what: "b's lease extended" });
      }
      expect(await leaseOf(a.id)).toEqual(lockedLease);
    } finally {
      await locker.query('ROLLBACK');
      locker.release();
      release();
    }
    await finished(a.id);
    await finished(b.id);
  });

  it('a job taken back while it runs (another worker holds it now) has its signal aborted at the next heartbeat; its outcome is not written', async () => {
    let reason: unknown;
    const long = defineJob({
      name: 'taken-back',
      queue: 'taken-back',
      perform: (_args, ctx) =>
        new Promise<void>((resolve) => {
          ctx.signal.addEventListener('abort', () => {
            reason = ctx.signal.reason;
            resolve();
          });
        }),
    });
    // No rescue here: the row must stay as the test leaves it.
    await startWorker({ jobs: [long], lease: '300ms', rescueInterval: '1h' });
    const { id } = await t.skiplock.enqueue(long, {});
    await finished(id, 'running');
    // As if this worker had stalled past its lease and another had rescued and claimed the job.
    await t.pool.query(`UPDATE "${t.schema}".jobs SET locked_by = 'other-worker', attempt = 2 WHERE id = $1`, [id]);
    await waitFor(async () => reason !== undefined, { what: 'the handler aborted' });
    expect(reason).toMatchObject({ code: 'JOB_LEASE_LOST', name: 'JobLeaseLostError' });
    await new Promise((resolve) => setTimeout(resolve, 200)); // past the outcome's flush
    expect(await job(id)).toMatchObject({ state: 'running', locked_by: 'other-worker', attempt: 2, errors: [] });
  });

  it('a job taken back and claimed again by the same worker: the earlier run is aborted as lost, the new one runs on untouched', async () => {
    const runs: Array<{ attempt: number; signal: AbortSignal }> = [];
    let finish: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (finish = resolve));
    const again = defineJob({
      name: 'claimed-again',
      queue: 'claimed-again',
      perform: (_args, ctx) => {
        runs.push({ attempt: ctx.attempt, signal: ctx.signal });
        return new Promise<void>((resolve) => {
          ctx.signal.addEventListener('abort', () => resolve());
          void done.then(resolve);
        });
      },
    });
    await startWorker({ jobs: [again], lease: '300ms', rescueInterval: '1h' });
    const { id } = await t.skiplock.enqueue(again, {});
    await waitFor(async () => runs.length === 1, { what: 'the first run' });
    // As a rescue would after a stall: back to available, then this worker claims it again.
    await t.pool.query(
      `UPDATE "${t.schema}".jobs SET state = 'available', locked_by = NULL, lease_expires_at = NULL WHERE id = $1`,
      [id],
    );
    await t.pool.query(`SELECT pg_notify($1, 'claimed-again')`, [`${t.schema}.jobs`]);
    await waitFor(async () => runs.length === 2, { what: 'the second claim' });
    expect(runs[0]?.signal.reason).toMatchObject({ code: 'JOB_LEASE_LOST' });
    // Heartbeats (every 100 ms) hold the new run at its attempt: it is not taken for lost.
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(runs.map((run) => [run.attempt, run.signal.aborted])).toEqual([
      [1, true],
      [2, false],
    ]);
    finish();
    await finished(id);
    expect(await job(id)).toMatchObject({ attempt: 2, errors: [] });
  });

  it('registers the worker with its queues and heartbeats, and removes it at stop', async () => {
    const w = await startWorker({ jobs: [defineJob({ name: 'reg', queue: 'reg-q', perform() {} })], lease: '300ms' });
    const row = () => t.pool.query(`SELECT * FROM "${t.schema}".workers WHERE id = $1`, [w.id]).then((r) => r.rows[0]);
    const first = await row();
    expect(first).toMatchObject({ queues: ['reg-q'], pid: process.pid });
    await waitFor(async () => (await row()).last_heartbeat_at > first.last_heartbeat_at, { what: 'a heartbeat' });
    await w.stop();
    expect(await row()).toBeUndefined();
  });
});

describe('configuration', () => {
  it('refuses to start on a pool too small for a worker, with a clear error', async () => {
    const small = new Skiplock({ connectionString: t.url, schema: t.schema, poolSize: 2, default: false });
    try {
      const worker = small.worker({ jobs: [defineJob({ name: 'tiny', perform() {} })] });
      await expect(worker.start()).rejects.toMatchObject({
        code: 'CONFIG',
        message: expect.stringMatching(/allows 2 connections; a worker needs at least 3/),
      });
    } finally {
      await small.close();
    }
  });

  it('a stop() while start() is under way waits for it and stops the worker for good', async () => {
    const w = t.skiplock.worker({ jobs: [defineJob({ name: 'racy', perform() {} })] });
    const starting = w.start();
    await w.stop();
    await starting;
    const { rows } = await t.pool.query(`SELECT 1 FROM "${t.schema}".workers WHERE id = $1`, [w.id]);
    expect(rows).toEqual([]);
    await expect(w.start()).rejects.toThrow(/already started/);
  });

  it('runs on a schema of the longest allowed name, two workers of different queue counts sharing its connections', async () => {
    // Statement names that spelled out the schema passed Postgres's 63-byte cut, and the two
    // workers' claims, cut alike, failed on a connection that had prepared the other one's.
    const schema = `t_${randomBytes(5).toString('hex')}_`.padEnd(50, 'x');
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    const long = await createTestSchema({ schema, poolSize: 3, default: false, logger });
    // pg warns on the console about any statement name over 63 characters.
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      const ran: string[] = [];
      const one = defineJob({ name: 'long.one', queue: 'a', perform: (_args, ctx) => void ran.push(ctx.queue) });
      const two = defineJob<{ queue: string }>({
        name: 'long.two',
        queue: (args) => args.queue,
        perform: (_args, ctx) => void ran.push(ctx.queue),
      });
      await startWorker({ jobs: [one, two], queues: ['a'], concurrency: 2 }, long.skiplock);
      await startWorker({ jobs: [one, two], queues: ['b', 'c'], concurrency: 2 }, long.skiplock);
      // Both workers poll every 50 ms on the 3 connections: each connection serves both claims.
      await new Promise((resolve) => setTimeout(resolve, 500));
      await long.skiplock.performAllLater(undefined, [
        ...Array.from({ length: 10 }, () => one.with({})),
        ...Array.from({ length: 10 }, (_, i) => two.with({ queue: i % 2 ? 'b' : 'c' })),
      ]);
      await waitFor(async () => ran.length === 20, { what: '20 jobs run' });
      // Run, then recorded: the last outcomes are written a moment after their handlers return.
      await waitFor(async () => (await stateCounts(long)).completed === 20, { what: '20 jobs recorded' });
      expect(await stateCounts(long)).toEqual({ completed: 20 });
      expect(ran.sort()).toEqual([...Array(10).fill('a'), ...Array(5).fill('b'), ...Array(5).fill('c')]);
      expect(lines).toEqual([]); // no claim failed
      expect(warn).not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
      await long.drop();
    }
  });

  it('refuses two different definitions with one name, bad queues, concurrency, claim loops and batch size', () => {
    const a = defineJob({ name: 'same', perform() {} });
    const b = defineJob({ name: 'same', perform() {} });
    expect(() => t.skiplock.worker({ jobs: [a, b] })).toThrow(/two different definitions claim the name "same"/);
    expect(() => t.skiplock.worker({ jobs: [a], queues: ['bad queue'] })).toThrow(/queue name "bad queue"/);
    expect(() => t.skiplock.worker({ jobs: [a], concurrency: 0 })).toThrow(/concurrency must be a positive integer/);
    expect(() => t.skiplock.worker({ jobs: [a], claimLoops: 1.5 })).toThrow(/claimLoops must be a positive integer/);
    expect(() => t.skiplock.worker({ jobs: [a], completionBatchSize: 0 })).toThrow(
      /completionBatchSize must be a positive integer, got 0/,
    );
  });

  it('refuses timers longer than Node keeps (~24.8 days: they would fire after 1 ms) and leases or intervals of nothing; a lease of months beats at that limit', async () => {
    const a = defineJob({ name: 'timers', perform() {} });
    expect(() => t.skiplock.worker({ jobs: [a], pollInterval: '365d' })).toThrow(
      /pollInterval must be at most 2147483647 ms \(about 24.8 days\), got 31536000000 ms/,
    );
    expect(() => t.skiplock.worker({ jobs: [a], jobTimeout: '30d' })).toThrow(/jobTimeout must be at most/);
    // Nor intervals or leases of nothing: the worker would poll, or rescue its own running jobs, in a loop.
    expect(() => t.skiplock.worker({ jobs: [a], lease: 0 })).toThrow(/lease must be at least 100 ms, got 0 ms/);
    expect(() => t.skiplock.worker({ jobs: [a], pollInterval: '0ms' })).toThrow(/pollInterval must be at least 10 ms/);
    expect(() => t.skiplock.worker({ jobs: [a], rescueInterval: 1 })).toThrow(/rescueInterval must be at least 10 ms/);
    expect(() => t.skiplock.worker({ jobs: [a], pruneInterval: 0 })).toThrow(/pruneInterval must be at least 10 ms/);
    expect(() => defineJob({ name: 'blink', lease: '10ms', perform() {} })).toThrow(
      /job "blink" lease must be at least/,
    );
    expect(() => defineJob({ name: 'too-long', timeout: '25d', perform() {} })).toThrow(
      /job "too-long" timeout must be at most/,
    );
    // 24 days is kept as it is: a job with that timeout completes rather than timing out at once.
    const patient = defineJob({ name: 'patient', queue: 'patient', timeout: '24d', lease: '100d', perform() {} });
    const id = idOf(await t.skiplock.enqueue(patient, {}));
    const worker = await startWorker({ jobs: [patient], lease: '100d' });
    await finished(id);
    // A third of a 100-day lease is past the limit: beating every millisecond would move this.
    const beat = async () =>
      (
        await t.pool.query<{ at: Date }>(`SELECT last_heartbeat_at AS at FROM "${t.schema}".workers WHERE id = $1`, [
          worker.id,
        ])
      ).rows[0]?.at.getTime();
    const first = await beat();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await beat()).toBe(first);
  });
});

describe('graceful stop', () => {
  it('claim loops take turns: with one claim stuck in Postgres the other waits for its turn, and a stop ends both at once', async () => {
    const held = defineJob({ name: 'held', queue: 'held', perform() {} });
    const worker = await startWorker({ jobs: [held], pollInterval: '1h', concurrency: 2 });
    await new Promise((resolve) => setTimeout(resolve, 200)); // past the claims at start: both loops asleep
    const claimsInPostgres = () => lockWaiters(t.pool, `"${t.schema}".jobs`, 'SKIP LOCKED');
    const locker = await t.pool.connect();
    try {
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE "${t.schema}".jobs IN EXCLUSIVE MODE`); // the claim's UPDATE waits
      // A notification wakes one loop: two of them, one per loop.
      for (let i = 0; i < 2; i++) await t.pool.query(`SELECT pg_notify($1, 'held')`, [`${t.schema}.jobs`]);
      await waitFor(async () => (await claimsInPostgres()) >= 1, { what: 'a claim waiting on the lock' });
      await new Promise((resolve) => setTimeout(resolve, 300)); // time for a second claim to arrive, were there one
      expect(await claimsInPostgres()).toBe(1);
      const stopped = worker.stop({ timeout: '5s' });
      await locker.query('COMMIT');
      const started = performance.now();
      await stopped;
      expect(performance.now() - started).toBeLessThan(2000);
    } finally {
      await locker.query('ROLLBACK'); // a no-op after the COMMIT; else the lock must not go back to the pool
      locker.release();
    }
  });

  it('a stop ends within its timeouts while a claim, a heartbeat and a rescue wait on a lock that is never released; the worker is deregistered for good', async () => {
    const held = defineJob({ name: 'held-forever', queue: 'held-forever', perform() {} });
    const worker = await startWorker({ jobs: [held], pollInterval: '1h', lease: '300ms', rescueInterval: '100ms' });
    const waitingOnLock = () => lockWaiters(t.pool, `"${t.schema}".jobs`);
    const registered = async (w: Worker) =>
      (await t.pool.query(`SELECT 1 FROM "${t.schema}".workers WHERE id = $1`, [w.id])).rows.length > 0;
    const locker = await t.pool.connect();
    try {
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE "${t.schema}".jobs IN EXCLUSIVE MODE`); // claims and heartbeats wait
      await t.pool.query(`SELECT pg_notify($1, 'held-forever')`, [`${t.schema}.jobs`]);
      await waitFor(async () => (await waitingOnLock()) >= 3, { what: 'a claim, a heartbeat and a rescue waiting' });
      const started = performance.now();
      await worker.stop({ timeout: '500ms' });
      // At most a timeout for the claim, a second for the outcomes (none here) and one for teardown.
      expect(performance.now() - started).toBeLessThan(3500);
      // Deregistered at once, although the rescue still waits, and for good: the heartbeat that waited
      // on the lock was cancelled, it does not write the worker's row back once the lock is gone.
      expect(await registered(worker)).toBe(false);
    } finally {
      await locker.query('ROLLBACK');
      locker.release();
    }
    await waitFor(async () => (await waitingOnLock()) === 0, { what: 'the claim and the rescue to end' });
    expect(await registered(worker)).toBe(false);
  });

  it('a stop whose deregistration waits on a lock stops rescue and prune first: none runs after it returns', async () => {
    const pruned = new Skiplock({ connectionString: t.url, schema: t.schema, logger: silent, default: false });
    let prunes = 0;
    interceptPool(pruned, (text, run) => {
      if (text.includes('pg_try_advisory_xact_lock')) prunes++;
      return run();
    });
    const idle = defineJob({ name: 'idle', queue: 'idle', perform() {} });
    const worker = await startWorker({ jobs: [idle], pruneInterval: '50ms' }, pruned);
    await waitFor(async () => prunes > 0, { what: 'a prune' });
    const locker = await t.pool.connect();
    try {
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE "${t.schema}".workers IN EXCLUSIVE MODE`); // the deregistration waits
      await worker.stop({ timeout: '100ms' });
      const afterStop = prunes;
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(prunes).toBe(afterStop);
    } finally {
      await locker.query('ROLLBACK');
      locker.release();
      await pruned.close();
    }
  });

  it('a stop past the timeout while afterDiscard still runs records the discard, not a release', async () => {
    let hookStarted = false;
    const doomed = defineJob({
      name: 'doomed',
      queue: 'doomed',
      maxAttempts: 1,
      afterDiscard: () => {
        hookStarted = true;
        return new Promise<void>(() => undefined); // never ends
      },
      perform() {
        throw new Error('no way');
      },
    });
    const worker = await startWorker({ jobs: [doomed] });
    const { id } = await t.skiplock.enqueue(doomed, {});
    await waitFor(async () => hookStarted, { what: 'afterDiscard started' });
    await worker.stop({ timeout: '300ms' });
    expect(await job(id)).toMatchObject({ state: 'discarded', attempt: 1, locked_by: null });
    expect((await job(id)).errors).toEqual([expect.objectContaining({ message: 'no way' })]);
  });

  it('lets running jobs finish, stops claiming, leaves the rest available', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const started: string[] = [];
    const gated = defineJob({
      name: 'gated',
      async perform(_args, ctx) {
        started.push(ctx.id);
        await gate;
      },
    });
    const results = await t.skiplock.performAllLater(
      undefined,
      Array.from({ length: 4 }, () => gated.with({})),
    );
    const worker = await startWorker({ jobs: [gated], concurrency: 2 });
    await waitFor(async () => started.length === 2);
    const stopping = worker.stop({ timeout: '10s' });
    setTimeout(release, 100);
    await stopping;
    expect(await stateCounts(t)).toEqual({ completed: 2, available: 2 });
    const untouched = results.filter((r) => !started.includes(idOf(r)));
    for (const r of untouched) expect(await job(r.id)).toMatchObject({ attempt: 0, locked_by: null });
    expect((await t.pool.query(`SELECT count(*)::int AS n FROM "${t.schema}".workers`)).rows[0]).toEqual({ n: 0 });
  });

  it('at the timeout aborts the signal and puts the job back without charging the attempt', async () => {
    let abortedWith: unknown;
    const stubborn = defineJob({
      name: 'stubborn',
      perform: (_args, ctx) =>
        new Promise<void>(() => {
          ctx.signal.addEventListener('abort', () => (abortedWith = ctx.signal.reason));
        }),
    });
    const result = await stubborn.performLater({});
    const worker = await startWorker({ jobs: [stubborn] });
    await finished(result.id, 'running');
    await worker.stop({ timeout: '200ms' });
    expect(abortedWith).toBeInstanceOf(Error);
    expect(await job(result.id)).toMatchObject({ state: 'available', attempt: 0, locked_by: null, errors: [] });
  });
});
