// Active Job, the Skiplock way: retry_on / discard_on, callbacks, middleware, snooze, perform_now.
// Run: DATABASE_URL=postgres://… pnpm examples   (docs/jobs.md walks through it)
import { AsyncLocalStorage } from 'node:async_hooks';
import { defineJob, DiscardJob, Skiplock, SnoozeJob, type PerformMiddleware } from 'skiplock';
import { z } from 'zod';
import { untilIdle } from './until-idle.js';

class RateLimited extends Error {}
class AccountClosed extends Error {}

const attempts = new Map<string, number>();

export const chargeCard = defineJob({
  name: 'billing.charge', // stable: rows store it; rename with `aliases: ['old.name']`
  schema: z.object({ accountId: z.string(), cents: z.number().int().positive() }),
  queue: ({ cents }) => (cents > 100_000 ? 'billing-large' : 'billing'), // per-args routing
  priority: ({ cents }) => (cents > 100_000 ? -1 : 0),
  retryOn: [{ on: [RateLimited], attempts: 5, wait: '50ms', jitter: 0.1 }], // retry_on RateLimited
  discardOn: [AccountClosed], // discard_on AccountClosed
  afterDiscard: ({ accountId }, error) => console.log(`gave up on ${accountId}: ${String(error)}`),
  beforeEnqueue: ({ cents }) => cents >= 50, // below 50 cents: skipped, never stored
  perform({ accountId, cents }, ctx) {
    const n = (attempts.get(accountId) ?? 0) + 1;
    attempts.set(accountId, n);
    if (accountId === 'closed') throw new AccountClosed(accountId);
    if (accountId === 'busy' && n < 3) throw new RateLimited('try again');
    if (accountId === 'later' && n === 1) throw new SnoozeJob('100ms'); // not an attempt, not an error
    if (accountId === 'fraud') throw new DiscardJob('flagged'); // give up now
    ctx.logger.info({ accountId, cents, tenant: tenant.getStore() }, 'charged');
  },
});

// Perform middleware: restore the enqueuing request's tenant around every run.
const tenant = new AsyncLocalStorage<string>();
const withTenant: PerformMiddleware = ({ ctx }, next) =>
  tenant.run(typeof ctx.metadata.tenant === 'string' ? ctx.metadata.tenant : 'none', () => next());

const skiplock = new Skiplock({
  connectionString: process.env.DATABASE_URL,
  middleware: {
    perform: [withTenant],
    // Enqueue middleware sees whole batches: stamp the tenant on every job.
    enqueue: [
      (batch, next) => next(batch.map((r) => ({ ...r, options: { ...r.options, metadata: { tenant: 'acme' } } }))),
    ],
  },
});
await skiplock.migrate();

const results = await skiplock.performAllLater(undefined, [
  chargeCard.with({ accountId: 'ok', cents: 1200 }),
  chargeCard.with({ accountId: 'busy', cents: 900 }),
  chargeCard.with({ accountId: 'later', cents: 500 }),
  chargeCard.with({ accountId: 'closed', cents: 700 }),
  chargeCard.with({ accountId: 'fraud', cents: 250_000 }),
  chargeCard.with({ accountId: 'tiny', cents: 10 }),
]);
console.log(results.map((r) => `${r.status}${r.status === 'enqueued' ? ` → ${r.queue}` : ''}`).join(', '));

await chargeCard.performNow({ accountId: 'inline', cents: 100 }); // perform_now: same validation, hooks, middleware; no row

const worker = skiplock.worker({ jobs: [chargeCard], queues: ['billing', 'billing-large'], pollInterval: '50ms' });
await worker.start();
await untilIdle(skiplock);
const byState = await skiplock.pool.query<{ state: string; n: number }>(
  `SELECT state, count(*)::int AS n FROM skiplock.jobs WHERE name = 'billing.charge' GROUP BY state ORDER BY state`,
);
console.log(byState.rows.map((r) => `${r.n} ${r.state}`).join(', '));
await worker.stop();
await skiplock.close();
