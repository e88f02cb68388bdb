// Type tests: checked by `pnpm typecheck` (tsc), run as ordinary tests by vitest.
import { describe, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { defineJob, type EnqueueResult, type JobContext } from 'skiplock';

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
  });

  it('narrows enqueue results on status', () => {
    const check = (result: EnqueueResult) => {
      if (result.status === 'enqueued') expectTypeOf(result.state).toEqualTypeOf<'available' | 'scheduled'>();
      // @ts-expect-error only an enqueued result has a state
      else void result.state;
    };
    expectTypeOf(check).toBeFunction();
  });
});
