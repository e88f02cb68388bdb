// Type tests: checked by `pnpm typecheck` (tsc), run as ordinary tests by vitest.
import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import type { Kysely } from 'kysely';
import { defineJob, type EnqueueResult, type JobContext } from 'skiplock';
import { expectEnqueued, runJob } from 'skiplock/testing';
import type { TestDatabase } from './test-database.js';

describe('types flow from the definition to enqueue and perform', () => {
  it('infers the handler arguments from the schema, and the enqueue input from its input type', () => {
    const job = defineJob({
      name: 'types.schema',
      schema: z.object({ userId: z.string(), count: z.number().default(1) }),
      perform(args, ctx) {
        expectTypeOf(args).toEqualTypeOf<{ userId: string; count: number }>();
        expectTypeOf(ctx).toEqualTypeOf<JobContext>();
        expectTypeOf(ctx.id).toBeString();
        expectTypeOf(ctx.attempt).toBeNumber();
        expectTypeOf(ctx.signal).toEqualTypeOf<AbortSignal>();
      },
    });
    expectTypeOf(job.performLater).parameter(0).toEqualTypeOf<{ userId: string; count?: number | undefined }>();
    expectTypeOf(job.performLater).returns.resolves.toEqualTypeOf<EnqueueResult>();
    // A wrong payload does not compile.
    // @ts-expect-error userId must be a string
    void (() => job.performLater({ userId: 1 }));
    // @ts-expect-error userId is required
    void (() => job.performLater({}));
  });

  it('takes the argument type from the type parameter when there is no schema', () => {
    const job = defineJob<{ orderId: number }>({
      name: 'types.generic',
      perform(args) {
        expectTypeOf(args).toEqualTypeOf<{ orderId: number }>();
      },
    });
    expectTypeOf(job.with).parameter(0).toEqualTypeOf<{ orderId: number }>();
    // @ts-expect-error orderId must be a number
    void (() => job.performLater({ orderId: '1' }));
  });

  it('rejects wait together with runAt at compile time', () => {
    const job = defineJob<{ a: string }>({ name: 'types.options', perform() {} });
    void (() => job.performLater({ a: 'x' }, { wait: '10m' }));
    void (() => job.performLater({ a: 'x' }, { runAt: new Date() }));
    // @ts-expect-error wait and runAt exclude each other
    void (() => job.performLater({ a: 'x' }, { wait: 1000, runAt: new Date() }));
    // @ts-expect-error not a duration
    void (() => job.performLater({ a: 'x' }, { wait: '10 minutes' }));
    // A request for performAllLater too.
    void job.with({ a: 'x' }, { wait: '10m' });
    // @ts-expect-error wait and runAt exclude each other
    void job.with({ a: 'x' }, { wait: 1000, runAt: new Date() });
  });

  it("types unique.key's argument as the job's input", () => {
    void defineJob<{ userId: string }>({
      name: 'types.unique',
      unique: { key: (a) => `user:${a.userId}` },
      perform() {},
    });
    void defineJob<{ userId: string }>({
      name: 'types.unique-bad',
      // @ts-expect-error the arguments have no accountId
      unique: { key: (a) => `user:${a.accountId}` },
      perform() {},
    });
  });

  it('narrows enqueue results on status', () => {
    const check = (result: EnqueueResult) => {
      if (result.status === 'enqueued') expectTypeOf(result.state).toEqualTypeOf<'available' | 'scheduled'>();
      // @ts-expect-error only an enqueued result has a state
      else void result.state;
    };
    expectTypeOf(check).toBeFunction();
  });

  it('a result may be skipped, and then has no id', () => {
    const check = (result: EnqueueResult) => {
      if (result.status === 'skipped') expectTypeOf(result.id).toBeNull();
      else expectTypeOf(result.id).toBeString();
    };
    expectTypeOf(check).toBeFunction();
  });
});

describe('the Active Job options are typed from the arguments', () => {
  it("ctx.db has the type the app registered (here: the tests' Kysely)", () => {
    defineJob<{ body: string }>({
      name: 'types.db',
      transactional: true,
      async perform({ body }, ctx) {
        expectTypeOf(ctx.db).toEqualTypeOf<Kysely<TestDatabase>>();
        await ctx.db.insertInto('notes').values({ body }).execute();
        // @ts-expect-error no such table in the registered database
        void ctx.db.selectFrom('nope');
      },
    });
  });

  it('refuses argument types that would not survive JSON, at compile time', () => {
    // @ts-expect-error a Date does not survive JSON
    defineJob({ name: 'types.date', schema: z.object({ at: z.date() }), perform() {} });
    // @ts-expect-error a bigint cannot be stored as JSON
    defineJob({ name: 'types.bigint', schema: z.object({ n: z.bigint() }), perform() {} });
    // @ts-expect-error a Map does not survive JSON
    defineJob<{ tags: Map<string, string> }>({ name: 'types.map', perform() {} });
    // @ts-expect-error functions cannot be stored
    defineJob<{ callback: () => void }>({ name: 'types.fn', perform() {} });
    defineJob<{ nested: { list: Array<{ ok: boolean | null }> }; optional?: string }>({
      name: 'types.ok',
      perform() {},
    });
  });

  it('queue, priority, upgrade and hooks receive the enqueue input type', () => {
    const job = defineJob({
      name: 'types.hooks',
      schema: z.object({ tier: z.enum(['gold', 'free']), n: z.number().default(1) }),
      queue: (args) => {
        expectTypeOf(args).toEqualTypeOf<{ tier: 'gold' | 'free'; n?: number | undefined }>();
        return args.tier;
      },
      priority: ({ tier }) => (tier === 'gold' ? 0 : 5),
      version: 2,
      upgrade: (raw) => ({ tier: raw.level === 'high' ? ('gold' as const) : ('free' as const) }),
      beforeEnqueue: (args) => args.tier !== 'free',
      afterPerform: (args) => {
        expectTypeOf(args.n).toEqualTypeOf<number>();
      },
      afterDiscard: (args, error) => {
        expectTypeOf(args).toEqualTypeOf<{ tier: 'gold' | 'free'; n: number }>();
        expectTypeOf(error).toBeUnknown();
      },
      perform() {},
    });
    expectTypeOf(job.performNow).parameter(0).toEqualTypeOf<{ tier: 'gold' | 'free'; n?: number | undefined }>();
    // @ts-expect-error upgrade must return the enqueue input
    defineJob<{ a: string }>({ name: 'types.bad-upgrade', version: 2, upgrade: () => ({ b: 1 }), perform() {} });
    expect(() =>
      // @ts-expect-error retryOn takes error classes (and refuses anything else at run time too)
      defineJob<{ a: string }>({ name: 'types.bad-retry', retryOn: [{ on: ['TypeError'] }], perform() {} }),
    ).toThrow(/retryOn\[0\]\.on must be a non-empty array of error classes/);
  });

  it('test helpers check expectations against the job arguments', () => {
    const job = defineJob<{ email: string; plan: string }>({ name: 'types.helpers', perform() {} });
    void (() => expectEnqueued(null as never, job, { args: { email: 'a' } }));
    // @ts-expect-error no such argument
    void (() => expectEnqueued(null as never, job, { args: { mail: 'a' } }));
    // @ts-expect-error wrong argument type
    void (() => runJob(job, { email: 1, plan: 'x' }));
  });
});
