// Testing your jobs: the in-memory adapter for unit tests, runJob for one handler, and the
// database helpers inside a rolled-back transaction for integration tests.
import assert from 'node:assert/strict';
import { defineJob, RetryJob, Skiplock } from 'skiplock';
import { drain, expectEnqueued, runJob, TestAdapter } from 'skiplock/testing';

const delivered: string[] = [];
const notify = defineJob<{ userId: string }>({
  name: 'notify.user',
  perform({ userId }) {
    if (userId === 'offline') throw new RetryJob('device offline', { waitMs: 60_000 });
    delivered.push(userId);
  },
});
const signup = defineJob<{ userId: string }>({
  name: 'users.signup',
  // Enqueue through ctx.db: in drain() that is the test's transaction.
  perform: async ({ userId }, ctx) => void (await notify.performLater({ userId }, { db: ctx.db })),
});

// 1. Unit test: nothing touches a database.
const adapter = new TestAdapter().install();
await signup.performLater({ userId: 'u1' });
assert.equal(adapter.enqueued(signup).length, 1);
await adapter.performEnqueued(); // runs signup, then the notify it enqueued
assert.deepEqual(delivered, ['u1']);
adapter.uninstall();

// 2. One handler, one attempt: what would a worker record?
assert.deepEqual(await runJob(notify, { userId: 'u2' }), { state: 'completed' });
assert.equal((await runJob(notify, { userId: 'offline' })).state, 'retryable');

// 3. Integration test inside a transaction that is rolled back at the end.
const skiplock = new Skiplock({ connectionString: process.env.DATABASE_URL });
await skiplock.migrate();
const client = await skiplock.pool.connect();
await client.query('BEGIN');
await skiplock.enqueue(signup, { userId: 'u3' }, { db: client });
await expectEnqueued(client, signup, { args: { userId: 'u3' } });
const { runs } = await drain(client, { only: [signup] });
assert.deepEqual(
  runs.map((r) => r.state),
  ['completed'],
);
await client.query('ROLLBACK');
client.release();
await skiplock.close();
console.log('all assertions passed');
