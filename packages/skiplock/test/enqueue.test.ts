import { Kysely, PostgresDialect, sql } from 'kysely';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { pino } from 'pino';
import { defineJob, Skiplock, type JobPayloadError } from 'skiplock';
import { createTestSchema, idOf, lockWaiters, waitFor, type TestSchema } from '../../../test/support/schema.js';

let t: TestSchema;
beforeAll(async () => {
  t = await createTestSchema({ maxPayloadBytes: 10_000 });
});
afterAll(() => t.drop());

const welcome = defineJob({
  name: 'mailer.welcome',
  schema: z.object({ userId: z.string(), tags: z.array(z.string()).optional() }),
  queue: 'mailers',
  priority: 3,
  maxAttempts: 7,
  perform() {},
});
const untyped = defineJob<Record<string, unknown>>({ name: 'any.payload', perform() {} });

async function jobRows(where = 'true', params: unknown[] = []) {
  const { rows } = await t.pool.query(`SELECT * FROM "${t.schema}".jobs WHERE ${where} ORDER BY id`, params);
  return rows as Array<Record<string, unknown>>;
}

describe('enqueue inside the caller transaction', () => {
  it('pg client: commit keeps the job, rollback means it never existed', async () => {
    const client = await t.pool.connect();
    try {
      await client.query('BEGIN');
      const kept = await welcome.performLater({ userId: 'commit' }, { db: client });
      await client.query('COMMIT');
      await client.query('BEGIN');
      const gone = await welcome.performLater({ userId: 'rollback' }, { db: client });
      expect(gone.status).toBe('enqueued');
      await client.query('ROLLBACK');
      const rows = await jobRows(`args->>'userId' IN ('commit', 'rollback')`);
      expect(rows.map((r) => r.id)).toEqual([kept.id]);
      expect(rows[0]).toMatchObject({
        name: 'mailer.welcome',
        queue: 'mailers',
        priority: 3,
        max_attempts: 7,
        state: 'available',
        attempt: 0,
      });
    } finally {
      client.release();
    }
  });

  it('Kysely: a rolled-back transaction leaves no job, a committed one does', async () => {
    const db = new Kysely<{ notes: { id: number } }>({ dialect: new PostgresDialect({ pool: t.pool }) });
    await expect(
      db.transaction().execute(async (trx) => {
        await welcome.performLater({ userId: 'kysely-rollback' }, { db: trx });
        throw new Error('domain write failed');
      }),
    ).rejects.toThrow('domain write failed');
    const committed = await db.transaction().execute(async (trx) => {
      await sql`SELECT 1`.execute(trx);
      return welcome.performLater({ userId: 'kysely-commit' }, { db: trx });
    });
    const rows = await jobRows(`args->>'userId' LIKE 'kysely-%'`);
    expect(rows.map((r) => r.id)).toEqual([committed.id]);
  });
});

describe('bulk enqueue', () => {
  it('inserts many jobs in one call, each with its own options, results in order', async () => {
    const requests = Array.from({ length: 500 }, (_, i) =>
      welcome.with({ userId: `bulk-${i}` }, { priority: i % 3, ...(i === 7 ? { wait: '1h' } : {}) }),
    );
    const results = await t.skiplock.performAllLater(undefined, requests);
    expect(results).toHaveLength(500);
    expect(results.every((r) => r.status === 'enqueued')).toBe(true);
    expect(results[7]).toMatchObject({ status: 'enqueued', state: 'scheduled' });
    const rows = await jobRows(`args->>'userId' LIKE 'bulk-%'`);
    expect(rows).toHaveLength(500);
    const byId = new Map(rows.map((r) => [String(r.id), r]));
    results.forEach((result, i) => expect(byId.get(idOf(result))?.args).toEqual({ userId: `bulk-${i}` }));
  });

  it('an empty list enqueues nothing, on the pool and in a transaction (which stays usable)', async () => {
    const before = await jobRows('true');
    expect(await t.skiplock.performAllLater(undefined, [])).toEqual([]);
    const client = await t.pool.connect();
    try {
      await client.query('BEGIN');
      expect(await t.skiplock.performAllLater(client, [])).toEqual([]);
      await client.query('SELECT 1'); // the transaction is still usable
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    expect(await jobRows('true')).toHaveLength(before.length);
  });

  it('a batch of one kind of job (same queue, priority, attempts, metadata) stores each job whole', async () => {
    const options = { queue: 'shared', priority: 5, maxAttempts: 3, metadata: { tenant: 't1' } };
    const requests = Array.from({ length: 300 }, (_, i) =>
      welcome.with({ userId: `shared-${i}` }, { ...options, ...(i === 42 ? { wait: '1h' } : {}) }),
    );
    const results = await t.skiplock.performAllLater(undefined, requests);
    expect(results.map((r) => r.status === 'enqueued' && r.state)).toEqual(
      results.map((_, i) => (i === 42 ? 'scheduled' : 'available')),
    );
    const rows = await jobRows(`args->>'userId' LIKE 'shared-%'`);
    const byId = new Map(rows.map((r) => [String(r.id), r]));
    results.forEach((result, i) =>
      expect(byId.get(idOf(result))).toMatchObject({
        name: 'mailer.welcome',
        args: { userId: `shared-${i}` },
        queue: 'shared',
        priority: 5,
        max_attempts: 3,
        metadata: { tenant: 't1' },
        version: 1,
        state: i === 42 ? 'scheduled' : 'available',
      }),
    );
  });

  it('returns the right ids when they do not follow the batch order, and ids past 2^53 exactly', async () => {
    const seq = `"${t.schema}".jobs_id_seq`;
    const runAt = () => new Date('2099-01-01T00:00:00Z'); // the same time in a new Date per job
    const check = async (prefix: string) => {
      const results = await t.skiplock.performAllLater(
        undefined,
        Array.from({ length: 40 }, (_, i) => welcome.with({ userId: `${prefix}-${i}` }, { runAt: runAt() })),
      );
      expect(results.every((r) => r.status === 'enqueued' && r.state === 'scheduled')).toBe(true);
      const { rows } = await t.pool.query<{ id: string; user: string }>(
        `SELECT id::text, args->>'userId' AS user FROM "${t.schema}".jobs WHERE args->>'userId' LIKE $1`,
        [`${prefix}-%`],
      );
      const byId = new Map(rows.map((r) => [r.id, r.user]));
      results.forEach((result, i) => expect(byId.get(idOf(result))).toBe(`${prefix}-${i}`));
      return results.map(idOf);
    };
    // Another session drawing from the sequence in between looks, to the batch, like a step of 3.
    await t.pool.query(`ALTER SEQUENCE ${seq} INCREMENT BY 3`);
    await check('stepped');
    await t.pool.query(`ALTER SEQUENCE ${seq} INCREMENT BY 1`);
    await t.pool.query(`SELECT setval('${seq}', 9007199254740990)`);
    const ids = await check('huge');
    expect(ids.slice(0, 3)).toEqual(['9007199254740991', '9007199254740992', '9007199254740993']);
  });

  it('batches that vary in different columns each get their own statement on one connection', async () => {
    const client = await t.pool.connect();
    try {
      const varying = (extra: object) =>
        [1, 2].map((i) =>
          welcome.with({ userId: `vary-${i}` }, { queue: `vary-${i}`, priority: i, maxAttempts: i, ...extra }),
        );
      // Same leading varying columns, then run_at in one batch and metadata in the other.
      const byRunAt = await t.skiplock.performAllLater(client, varying({ runAt: new Date() }));
      const byMeta = await t.skiplock.performAllLater(client, [
        welcome.with({ userId: 'vary-m1' }, { queue: 'vary-1', priority: 1, maxAttempts: 1, metadata: { m: 1 } }),
        welcome.with({ userId: 'vary-m2' }, { queue: 'vary-2', priority: 2, maxAttempts: 2, metadata: { m: 2 } }),
      ]);
      expect([...byRunAt, ...byMeta].every((r) => r.status === 'enqueued')).toBe(true);
      const rows = await jobRows(`args->>'userId' LIKE 'vary-m%'`);
      expect(rows.map((r) => r.metadata)).toEqual([{ m: 1 }, { m: 2 }]);
    } finally {
      client.release();
    }
  });

  it('a batch in which only the last job differs, in any one column, stores that job its own value', async () => {
    type Args = { userId: string };
    const base = { queue: 'mailers', priority: 3, maxAttempts: 7, perform() {} };
    const renamed = defineJob<Args>({ ...base, name: 'mailer.renamed' });
    const newer = defineJob<Args>({ ...base, name: 'mailer.welcome', version: 2, upgrade: (raw) => raw as Args });
    const at = new Date('2099-01-01T00:00:00Z');
    // Per column: the last job's request, and what its row holds there (the first two share the default).
    const cases = [
      ['name', (userId: string) => renamed.with({ userId }), { name: 'mailer.renamed' }],
      ['version', (userId: string) => newer.with({ userId }), { version: 2 }],
      ['queue', (userId: string) => welcome.with({ userId }, { queue: 'other' }), { queue: 'other' }],
      ['priority', (userId: string) => welcome.with({ userId }, { priority: 9 }), { priority: 9 }],
      ['max_attempts', (userId: string) => welcome.with({ userId }, { maxAttempts: 2 }), { max_attempts: 2 }],
      ['run_at', (userId: string) => welcome.with({ userId }, { runAt: at }), { run_at: at, state: 'scheduled' }],
      ['wait_ms', (userId: string) => welcome.with({ userId }, { wait: '1h' }), { state: 'scheduled' }],
      [
        'unique_key',
        (userId: string) => welcome.with({ userId }, { uniqueKey: userId }),
        { unique_key: 'one-unique_key-2' },
      ],
      ['metadata', (userId: string) => welcome.with({ userId }, { metadata: { m: 1 } }), { metadata: { m: 1 } }],
    ] as const;
    for (const [column, last, expected] of cases) {
      const ids = (
        await t.skiplock.performAllLater(undefined, [
          welcome.with({ userId: `one-${column}-0` }),
          welcome.with({ userId: `one-${column}-1` }),
          last(`one-${column}-2`),
        ])
      ).map(idOf);
      const rows = await jobRows('id = ANY($1::bigint[])', [ids]);
      const shared = { name: 'mailer.welcome', version: 1, queue: 'mailers', priority: 3, max_attempts: 7 };
      expect(rows.slice(0, 2), column).toEqual([
        expect.objectContaining({ ...shared, state: 'available', unique_key: null, metadata: {} }),
        expect.objectContaining({ ...shared, state: 'available', unique_key: null, metadata: {} }),
      ]);
      expect(rows[2], column).toMatchObject({
        ...shared,
        state: 'available',
        args: { userId: `one-${column}-2` },
        ...expected,
      });
    }
  });

  it('inserts nothing when one request of the batch is invalid', async () => {
    const before = (await jobRows()).length;
    await expect(
      t.skiplock.performAllLater(undefined, [
        welcome.with({ userId: 'ok' }),
        welcome.with({ userId: 42 as unknown as string }),
      ]),
    ).rejects.toMatchObject({ code: 'JOB_PAYLOAD', jobName: 'mailer.welcome', path: 'args.userId' });
    expect((await jobRows()).length).toBe(before);
  });
});

describe('scheduling', () => {
  it('wait and runAt in the future make the job scheduled; the past makes it available', async () => {
    const later = await welcome.performLater({ userId: 'wait' }, { wait: '10m' });
    const at = new Date(Date.now() + 3_600_000);
    const exact = await welcome.performLater({ userId: 'runAt' }, { runAt: at });
    const past = await welcome.performLater({ userId: 'past' }, { runAt: new Date(Date.now() - 60_000) });
    expect([later, exact, past].map((r) => r.status === 'enqueued' && r.state)).toEqual([
      'scheduled',
      'scheduled',
      'available',
    ]);
    const [row] = await jobRows('id = $1', [exact.id]);
    expect((row?.run_at as Date).getTime()).toBe(at.getTime());
    const [waited] = await jobRows(
      `id = $1 AND run_at BETWEEN now() + interval '9 minutes' AND now() + interval '11 minutes'`,
      [later.id],
    );
    expect(waited).toBeDefined();
  });
});

describe('unique keys', () => {
  it('a second unfinished job with the same key is a duplicate pointing at the first', async () => {
    const first = await welcome.performLater({ userId: 'u1' }, { uniqueKey: 'welcome:u1' });
    const second = await welcome.performLater({ userId: 'u1' }, { uniqueKey: 'welcome:u1' });
    expect(first.status).toBe('enqueued');
    expect(second).toEqual({ status: 'duplicate', id: first.id, name: 'mailer.welcome', queue: 'mailers' });
    const batch = await t.skiplock.performAllLater(undefined, [
      welcome.with({ userId: 'u2' }, { uniqueKey: 'welcome:u2' }),
      welcome.with({ userId: 'u2' }, { uniqueKey: 'welcome:u2' }),
      welcome.with({ userId: 'u1' }, { uniqueKey: 'welcome:u1' }),
    ]);
    expect(batch.map((r) => r.status)).toEqual(['enqueued', 'duplicate', 'duplicate']);
    expect(batch[1]?.id).toBe(batch[0]?.id);
    expect(batch[2]?.id).toBe(first.id);
    expect(await jobRows(`unique_key LIKE 'welcome:%'`)).toHaveLength(2);
  });

  it("a definition's unique.key computes the key from the arguments; an enqueue's uniqueKey overrides it", async () => {
    const sync = defineJob<{ account: string; full?: boolean }>({
      name: 'unique.sync',
      unique: { key: ({ account }) => `sync:${account}` },
      perform() {},
    });
    const first = await sync.performLater({ account: 'a1' });
    const batch = await t.skiplock.performAllLater(undefined, [
      sync.with({ account: 'a1', full: true }),
      sync.with({ account: 'a2' }),
      sync.with({ account: 'a1' }, { uniqueKey: 'sync:a1:again' }),
    ]);
    expect(batch.map((r) => r.status)).toEqual(['duplicate', 'enqueued', 'enqueued']);
    expect(batch[0]?.id).toBe(first.id);
    const rows = await jobRows(`name = 'unique.sync'`);
    expect(rows.map((row) => row.unique_key)).toEqual(['sync:a1', 'sync:a2', 'sync:a1:again']);
    // A key function must be given as one; what it returns is checked as any uniqueKey.
    expect(() =>
      defineJob({ name: 'unique.bad', unique: { key: 'x' } as unknown as { key: () => string }, perform() {} }),
    ).toThrow(/unique.key must be a function/);
    const empty = defineJob<{ a: string }>({ name: 'unique.empty', unique: { key: () => '' }, perform() {} });
    await expect(empty.performLater({ a: 'x' })).rejects.toMatchObject({
      code: 'ENQUEUE',
      message: expect.stringMatching(/uniqueKey must be a non-empty string/),
    });
  });

  it('a finished job frees its key', async () => {
    const first = await welcome.performLater({ userId: 'u3' }, { uniqueKey: 'welcome:u3' });
    await t.pool.query(`UPDATE "${t.schema}".jobs SET state = 'completed', finished_at = now() WHERE id = $1`, [
      first.id,
    ]);
    const again = await welcome.performLater({ userId: 'u3' }, { uniqueKey: 'welcome:u3' });
    expect(again.status).toBe('enqueued');
    expect(again.id).not.toBe(first.id);
  });

  it('a key whose holder commits during the insert and finishes before it is read is free: the job is enqueued', async () => {
    const holder = await t.pool.connect();
    const racer = await t.pool.connect();
    try {
      await holder.query('BEGIN');
      const held = await t.skiplock.enqueue(welcome, { userId: 'u4' }, { db: holder, uniqueKey: 'welcome:u4' });
      // The insert's conflict waits for the holder's transaction; once it commits, the holder is
      // not in the insert's snapshot, so the key's holder is read in a statement of its own. Here
      // the holder finishes just before that read.
      const finishHolderFirst = {
        query: async (config: { text: string; values?: unknown[]; name?: string }) => {
          if (config.text.includes('unique_key = ANY')) {
            await t.pool.query(`UPDATE "${t.schema}".jobs SET state = 'completed', finished_at = now() WHERE id = $1`, [
              held.id,
            ]);
          }
          return racer.query(config);
        },
      };
      const racing = t.skiplock.enqueue(
        welcome,
        { userId: 'u4', tags: ['second'] },
        { db: finishHolderFirst, uniqueKey: 'welcome:u4' },
      );
      await waitFor(async () => (await lockWaiters(t.pool, `"${t.schema}".jobs`)) > 0);
      await holder.query('COMMIT');
      const result = await racing;
      expect(result).toMatchObject({ status: 'enqueued', state: 'available' });
      expect(result.id).not.toBe(held.id);
      expect(await jobRows(`unique_key = 'welcome:u4' AND state = 'available'`)).toEqual([
        expect.objectContaining({ args: { userId: 'u4', tags: ['second'] } }),
      ]);
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
      racer.release();
    }
  });
});

describe('unique keys on the pool', () => {
  type QueryCallback = (error: Error | null, result?: unknown) => void;

  /**
   * Routes every statement of `skiplock`'s pool, on whichever of its clients, through `around`
   * (pg-pool's own query calls its clients with a callback, a transaction with promises).
   */
  function interceptClients(skiplock: Skiplock, around: (text: string) => Promise<void>): void {
    const pool = skiplock.pool;
    const connect = pool.connect.bind(pool) as () => Promise<pg.PoolClient>;
    const patched = new WeakSet<pg.PoolClient>();
    const patch = (client: pg.PoolClient) => {
      if (patched.has(client)) return client;
      patched.add(client);
      const query = client.query.bind(client) as (config: unknown, values?: unknown) => Promise<unknown>;
      Object.assign(client, {
        query: (config: unknown, values?: unknown, callback?: QueryCallback) => {
          const done = typeof values === 'function' ? (values as QueryCallback) : callback;
          const text = typeof config === 'string' ? config : ((config as { text?: string }).text ?? '');
          const result = around(text).then(() => query(config, typeof values === 'function' ? undefined : values));
          if (!done) return result;
          result.then(
            (value) => done(null, value),
            (error: Error) => done(error),
          );
          return undefined;
        },
      });
      return client;
    };
    Object.assign(pool, {
      connect: (callback?: (error: Error | undefined, client?: pg.PoolClient, done?: () => void) => void) => {
        const connected = connect().then(patch);
        if (!callback) return connected;
        connected.then(
          (client) => callback(undefined, client, () => client.release()),
          (error: Error) => callback(error),
        );
        return undefined;
      },
    });
  }

  it('a batch whose key turned free needs a second insert; when that fails, none of the batch is enqueued', async () => {
    const own = new Skiplock({ connectionString: t.url, schema: t.schema, default: false });
    const holder = await t.pool.connect();
    try {
      await holder.query('BEGIN');
      const held = await own.enqueue(welcome, { userId: 'u6' }, { db: holder, uniqueKey: 'welcome:u6' });
      let keyRead = false;
      interceptClients(own, async (text) => {
        if (text.includes('unique_key = ANY')) {
          // The holder committed during the insert and finishes before its key is read: the key is free.
          await t.pool.query(`UPDATE "${t.schema}".jobs SET state = 'completed', finished_at = now() WHERE id = $1`, [
            held.id,
          ]);
          keyRead = true;
        } else if (keyRead && text.includes('INSERT INTO')) {
          keyRead = false;
          throw new Error('connection lost (test)');
        }
      });
      const racing = own.performAllLater(undefined, [
        welcome.with({ userId: 'u6-free' }),
        welcome.with({ userId: 'u6', tags: ['second'] }, { uniqueKey: 'welcome:u6' }),
      ]);
      racing.catch(() => undefined);
      await waitFor(async () => (await lockWaiters(t.pool, `"${t.schema}".jobs`)) > 0);
      await holder.query('COMMIT');
      await expect(racing).rejects.toThrow('connection lost (test)');
      expect(await jobRows(`args->>'userId' = 'u6-free'`)).toEqual([]);
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
      await own.close();
    }
  });
});

describe('the SQL enqueue function', () => {
  it('works from a trigger, joins its transaction, takes named arguments and honours unique keys', async () => {
    const s = `"${t.schema}"`;
    await t.pool.query(`
      CREATE TABLE ${s}.users (id serial PRIMARY KEY, email text NOT NULL);
      CREATE FUNCTION ${s}.user_created() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM ${s}.enqueue('mailer.welcome', jsonb_build_object('userId', NEW.id::text),
                             queue => 'mailers', priority => 5, unique_key => 'signup:' || NEW.email);
        RETURN NEW;
      END $$;
      CREATE TRIGGER user_created AFTER INSERT ON ${s}.users FOR EACH ROW EXECUTE FUNCTION ${s}.user_created();`);
    await t.pool.query(`INSERT INTO ${s}.users (email) VALUES ('a@example.com')`);
    await t.pool.query(`BEGIN; INSERT INTO ${s}.users (email) VALUES ('b@example.com'); ROLLBACK;`);
    const rows = await jobRows(`unique_key LIKE 'signup:%'`);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      queue: 'mailers',
      priority: 5,
      state: 'available',
      unique_key: 'signup:a@example.com',
    });
    const dup = await t.pool.query<{ id: string }>(
      `SELECT ${s}.enqueue('mailer.welcome', '{"userId":"x"}', unique_key => 'signup:a@example.com')::text AS id`,
    );
    expect(dup.rows[0]?.id).toBe(String(rows[0]?.id));
    const later = await t.pool.query<{ id: string }>(
      `SELECT ${s}.enqueue('later', run_at => now() + interval '1 hour') AS id`,
    );
    expect(await jobRows('id = $1', [later.rows[0]?.id])).toMatchObject([
      { state: 'scheduled', queue: 'default', max_attempts: 25 },
    ]);
  });

  it('rejects a hostile queue name', async () => {
    await expect(
      t.pool.query(`SELECT "${t.schema}".enqueue('x', queue => 'a''; DROP TABLE jobs; --')`),
    ).rejects.toThrow(/check constraint/);
  });

  it('refuses a job due at -infinity, which no claim could order (+infinity parks a job)', async () => {
    await expect(t.pool.query(`SELECT "${t.schema}".enqueue('x', run_at => '-infinity')`)).rejects.toMatchObject({
      code: '23514',
      constraint: 'jobs_run_at_check',
    });
    await expect(
      t.pool.query(`INSERT INTO "${t.schema}".jobs (name, run_at) VALUES ('x', '-infinity')`),
    ).rejects.toMatchObject({ code: '23514' });
    const { rows } = await t.pool.query<{ id: string }>(
      `SELECT "${t.schema}".enqueue('parked', run_at => 'infinity') AS id`,
    );
    expect(await jobRows('id = $1', [rows[0]?.id])).toEqual([expect.objectContaining({ state: 'scheduled' })]);
  });
});

describe('bad input is refused with a typed error and nothing is stored', () => {
  class Money {
    cents = 5;
  }
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  const cases: Array<[string, unknown, string, RegExp]> = [
    ['BigInt', { n: 10n }, 'args.n', /BigInt/],
    ['NaN', { x: { y: [1, Number.NaN] } }, 'args.x.y[1]', /NaN/],
    ['Infinity', { x: Infinity }, 'args.x', /Infinity/],
    ['Date', { at: new Date() }, 'args.at', /Date/],
    ['class instance', { price: new Money() }, 'args.price', /Money/],
    ['Map', { m: new Map() }, 'args.m', /Map/],
    ['function', { f: () => 1 }, 'args.f', /function/],
    ['cycle', cyclic, 'args.self', /cycle/],
    ['NUL character', { s: 'a\u0000b' }, 'args.s', /NUL/],
    ['lone surrogate', { s: 'a\uD800b' }, 'args.s', /surrogate/],
    ['NUL in a key', { 'a\u0000b': 1 }, 'args.a\u0000b', /has a key that contains a NUL/],
    ['lone surrogate in a nested key', { x: { ['k\uDC00']: [1] } }, 'args.x.k\uDC00', /key that contains a lone/],
    ['array instead of object', [1, 2], 'args', /plain object/],
    // eslint-disable-next-line no-sparse-arrays -- the hole is what is tested
    ['sparse array', { l: [1, , 3] }, 'args.l[1]', /hole in a sparse array/],
    ['array with its own toJSON', { l: Object.assign([1], { toJSON: () => 'x' }) }, 'args.l', /own toJSON/],
    ['array subclass', { l: new (class Tags extends Array<string> {})() }, 'args.l', /Tags/],
    ['oversized', { blob: 'x'.repeat(20_000) }, 'args', /over the limit of 10000 bytes/],
  ];
  it.each(cases)('%s', async (_label, args, path, message) => {
    const before = (await jobRows()).length;
    const error = (await untyped
      .performLater(args as Record<string, unknown>)
      .catch((e: unknown) => e)) as JobPayloadError;
    expect(error).toMatchObject({ code: 'JOB_PAYLOAD', name: 'JobPayloadError', jobName: 'any.payload', path });
    expect(error.message).toMatch(message);
    expect(error.message).toContain('any.payload');
    expect((await jobRows()).length).toBe(before);
  });

  it('accepted arguments are stored as JSON.stringify writes them, flat or nested, any prototype', async () => {
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { kind: 'bare', n: 1 });
    const inherited = Object.assign(Object.create({ hidden: 'inherited' }) as Record<string, unknown>, {
      kind: 'inherited',
    });
    const cases: Array<Record<string, unknown>> = [
      { kind: 'flat', s: 'é \uD83D\uDE00', n: -0.5, b: false, z: null, gone: undefined },
      { kind: 'nested', list: [1, 'two', { three: [null] }], inner: { deep: { deeper: true } } },
      bare,
    ];
    const results = await t.skiplock.performAllLater(
      undefined,
      cases.map((args) => untyped.with(args)),
    );
    const rows = await jobRows(`id = ANY($1::bigint[])`, [results.map(idOf)]);
    expect(rows.map((row) => row.args)).toEqual(cases.map((args) => JSON.parse(JSON.stringify(args)) as unknown));
    // Only plain objects are arguments: an object with another prototype is refused, whatever it holds.
    await expect(untyped.performLater(inherited)).rejects.toMatchObject({ code: 'JOB_PAYLOAD', path: 'args' });
  });

  it('a unique key with a lone surrogate is refused (sent as U+FFFD it would collide with others)', async () => {
    await expect(untyped.performLater({}, { uniqueKey: 'x\uD800' })).rejects.toMatchObject({
      code: 'ENQUEUE',
      message: expect.stringMatching(/uniqueKey contains a lone UTF-16 surrogate/),
    });
    // In a caller's transaction nothing reached Postgres: the transaction is still usable.
    const client = await t.pool.connect();
    try {
      await client.query('BEGIN');
      await expect(untyped.performLater({ 'a\u0000': 1 }, { db: client })).rejects.toMatchObject({
        code: 'JOB_PAYLOAD',
      });
      await expect(client.query('SELECT 1')).resolves.toMatchObject({ rowCount: 1 });
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
  });

  it('schema violations name the field', async () => {
    await expect(welcome.performLater({ userId: 'x', tags: ['ok', 3 as unknown as string] })).rejects.toMatchObject({
      code: 'JOB_PAYLOAD',
      path: 'args.tags[1]',
    });
  });

  it('hostile queue names, bad priorities and wait with runAt are EnqueueErrors', async () => {
    await expect(welcome.performLater({ userId: 'x' }, { queue: "x'; DROP TABLE jobs; --" })).rejects.toMatchObject({
      code: 'ENQUEUE',
      message: expect.stringMatching(/queue name/),
    });
    await expect(welcome.performLater({ userId: 'x' }, { priority: 1.5 })).rejects.toMatchObject({ code: 'ENQUEUE' });
    await expect(welcome.performLater({ userId: 'x' }, { maxAttempts: 0 })).rejects.toMatchObject({ code: 'ENQUEUE' });
    // @ts-expect-error wait and runAt exclude each other
    await expect(welcome.performLater({ userId: 'x' }, { wait: 5, runAt: new Date() })).rejects.toMatchObject({
      code: 'ENQUEUE',
    });
    expect(() => defineJob({ name: 'bad.queue', queue: 'no spaces', perform() {} })).toThrow(/queue name/);
    // A queue function that misses (undefined) or returns a number: an EnqueueError, not a NOT NULL violation.
    const routes: Record<string, string> = { a: 'queue-a' };
    const routed = defineJob<{ tenant: string }>({
      name: 'bad.routed',
      queue: ({ tenant }) => routes[tenant] as string,
      perform() {},
    });
    await expect(routed.performLater({ tenant: 'b' })).rejects.toMatchObject({
      code: 'ENQUEUE',
      message: expect.stringMatching(/queue name undefined is not allowed/),
    });
    await expect(welcome.performLater({ userId: 'x' }, { queue: 5 as unknown as string })).rejects.toMatchObject({
      code: 'ENQUEUE',
    });
    const nowhere = defineJob({ name: 'bad.nowhere', queue: () => null as unknown as string, perform() {} });
    await expect(nowhere.performLater({})).rejects.toMatchObject({ code: 'ENQUEUE', message: /queue name null/ });
    // Values JSON cannot show are named by their kind, not a TypeError of the message's own.
    const big = defineJob({ name: 'bad.big-queue', queue: () => 10n as unknown as string, perform() {} });
    await expect(big.performLater({})).rejects.toMatchObject({ code: 'ENQUEUE', message: /queue name 10n/ });
    await expect(welcome.performLater({ userId: 'x' }, { priority: 5n as unknown as number })).rejects.toMatchObject({
      code: 'ENQUEUE',
      message: /priority must be an integer from -32768 to 32767, got 5n/,
    });
    await expect(
      welcome.performLater({ userId: 'x' }, { priority: Symbol('p') as unknown as number }),
    ).rejects.toMatchObject({ code: 'ENQUEUE', message: /got Symbol\(p\)/ });
    await expect(welcome.performLater({ userId: 'x' }, { maxAttempts: Number.NaN })).rejects.toMatchObject({
      code: 'ENQUEUE',
      message: /maxAttempts must be an integer from 1 to 1000000, got NaN/,
    });
    // What every enqueue would refuse is refused when the job is defined.
    expect(() => defineJob({ name: 'bad\u0000name', perform() {} })).toThrow(/name contains a NUL character/);
    expect(() => defineJob({ name: 'bad.attempts', maxAttempts: 0, perform() {} })).toThrow(
      /maxAttempts must be an integer from 1 to 1000000, got 0/,
    );
  });

  it("a wait past Postgres's range, a runAt before it and a uniqueKey too long to index are EnqueueErrors naming the job", async () => {
    const before = (await jobRows()).length;
    const refused = [
      [{ wait: 1e16 }, /wait must be at most/],
      [{ wait: -1 }, /wait must be a non-negative number/],
      [{ wait: 'soon' as '1s' }, /wait must look like/],
      [{ runAt: new Date(-8.64e15) }, /runAt must be no earlier than 4713 BC/],
      [{ uniqueKey: 'k'.repeat(2001) }, /uniqueKey is 2001 bytes, over the limit of 2000/],
      [{ uniqueKey: 'é'.repeat(1001) }, /uniqueKey is 2002 bytes/],
    ] as const;
    for (const [options, message] of refused) {
      await expect(untyped.performLater({}, options)).rejects.toMatchObject({
        code: 'ENQUEUE',
        jobName: 'any.payload',
        message: expect.stringMatching(message),
      });
    }
    expect((await jobRows()).length).toBe(before);
    // At the limits: stored.
    const kept = await t.skiplock.performAllLater(undefined, [
      untyped.with({}, { uniqueKey: 'k'.repeat(2000) }),
      untyped.with({}, { runAt: new Date(Date.parse('-004712-01-01T00:00:00Z')) }),
      untyped.with({}, { wait: 1e15 }),
    ]);
    expect(kept.map((result) => result.id)).not.toContain(null);
  });

  it('metadata must be plain JSON too', async () => {
    await expect(
      untyped.performLater({}, { metadata: { trace: 1n } as unknown as Record<string, never> }),
    ).rejects.toMatchObject({ code: 'JOB_PAYLOAD', path: 'metadata.trace' });
  });
});

describe('concurrent enqueues on the pool share statements', () => {
  /** Makes the insert of a job whose args have `key` run `action` (plpgsql) for the duration of `fn`. */
  async function withInsertTrigger(key: string, action: string, fn: () => Promise<void>): Promise<void> {
    const s = `"${t.schema}"`;
    await t.pool.query(`
      CREATE FUNCTION ${s}.on_${key}() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.args ? '${key}' THEN ${action}; END IF; RETURN NEW; END $$;
      CREATE TRIGGER on_${key} BEFORE INSERT ON ${s}.jobs FOR EACH ROW EXECUTE FUNCTION ${s}.on_${key}()`);
    try {
      await fn();
    } finally {
      await t.pool.query(`DROP TRIGGER on_${key} ON ${s}.jobs; DROP FUNCTION ${s}.on_${key}()`);
    }
  }

  it('enqueues started together go out in one statement, and each caller gets its own job', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => untyped.performLater({ shared: i })));
    const rows = await jobRows(`args ? 'shared'`);
    expect(rows).toHaveLength(20);
    for (const [i, result] of results.entries()) {
      expect(rows.find((row) => row.id === idOf(result))?.args).toEqual({ shared: i });
    }
    const { rows: transactions } = await t.pool.query(
      `SELECT count(DISTINCT xmin::text)::int AS n FROM "${t.schema}".jobs WHERE args ? 'shared'`,
    );
    expect(transactions[0]).toEqual({ n: 1 });
  });

  it('a statement takes at most 16 MiB of JSON: large jobs go out in statements of their own', async () => {
    const roomy = new Skiplock({
      connectionString: t.url,
      schema: t.schema,
      default: false,
      maxPayloadBytes: 10 * 1024 * 1024,
      logger: pino({ level: 'silent' }),
    });
    try {
      const big = 'x'.repeat(9 * 1024 * 1024);
      await Promise.all([
        roomy.enqueue(untyped, { large: 1, big }),
        roomy.enqueue(untyped, { large: 2, big }),
        roomy.enqueue(untyped, { large: 3 }),
      ]);
    } finally {
      await roomy.close();
    }
    const { rows } = await t.pool.query(
      `SELECT args->>'large' AS large, xmin::text AS tx FROM "${t.schema}".jobs WHERE args ? 'large' ORDER BY args->>'large'`,
    );
    // The first fills a statement; the second would overflow it and opens the next, the third joins it
    // (the two statements run side by side: either may draw its ids first).
    expect(rows.map((row) => row.large)).toEqual(['1', '2', '3']);
    expect(new Set(rows.map((row) => row.tx)).size).toBe(2);
    expect(rows[1].tx).toBe(rows[2].tx);
  });

  it('a job Postgres refuses fails alone: the rest of its statement is enqueued, a batch all or nothing', async () => {
    await withInsertTrigger('poison', `RAISE EXCEPTION 'poisoned job %', NEW.args->>'poison'`, async () => {
      const settled = await Promise.allSettled([
        ...Array.from({ length: 8 }, (_, i) => untyped.performLater({ survivor: i })),
        untyped.performLater({ poison: 'p1' }),
        t.skiplock.performAllLater(undefined, [untyped.with({ survivor: 'batch' }), untyped.with({ poison: 'p2' })]),
      ]);
      expect(settled.slice(0, 8).every((s) => s.status === 'fulfilled')).toBe(true);
      expect(settled[8]).toMatchObject({ status: 'rejected', reason: { message: 'poisoned job p1' } });
      expect(settled[9]).toMatchObject({ status: 'rejected', reason: { message: 'poisoned job p2' } });
    });
    const rows = await jobRows(`args ? 'survivor' OR args ? 'poison'`);
    expect(rows.map((row) => (row.args as { survivor: number }).survivor)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('a statement whose connection is terminated fails every enqueue in it, and none of its jobs committed', async () => {
    await withInsertTrigger('slow', 'PERFORM pg_sleep(30)', async () => {
      const pending = Promise.allSettled([
        ...Array.from({ length: 4 }, (_, i) => untyped.performLater({ doomed: i })),
        untyped.performLater({ slow: true, doomed: 4 }),
      ]);
      const backend = await waitFor(async () => {
        const { rows } = await t.pool.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND strpos(query, $1) > 0`,
          [t.schema],
        );
        return rows[0]?.pid;
      });
      await t.pool.query('SELECT pg_terminate_backend($1)', [backend]);
      const settled = await pending;
      expect(settled.map((s) => s.status)).toEqual(Array(5).fill('rejected'));
    });
    expect(await jobRows(`args ? 'doomed'`)).toEqual([]);
    // The pool replaced the connection: the next enqueue works.
    expect((await untyped.performLater({ after: 'terminate' })).status).toBe('enqueued');
  });
});
