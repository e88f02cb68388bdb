import { beforeAll, describe, expect, it } from 'vitest';
import { defineJob, InvalidArgumentError, JobNotFoundError, JobStateError, type JobState } from 'skiplock';
import {
  createTestSchema,
  idOf,
  lockWaiters,
  stateCounts,
  waitFor,
  type TestSchema,
} from '../../../test/support/schema.js';
import { useTestSchema } from '../../../test/support/test-file.js';

const file = useTestSchema(['jobs', 'queues']);
const { startWorker } = file;
let t: TestSchema;
beforeAll(() => {
  t = file.t;
});

const noop = defineJob<{ n: number }>({ name: 'admin.noop', queue: 'alpha', perform: () => undefined });
const other = defineJob<{ n: number }>({ name: 'admin.other', queue: 'beta', perform: () => undefined });

/** Enqueues `count` noop jobs and returns their ids, oldest first. */
async function seed(count: number, job = noop): Promise<string[]> {
  const results = await t.skiplock.performAllLater(
    undefined,
    Array.from({ length: count }, (_, n) => job.with({ n })),
  );
  return results.map(idOf);
}

/** Puts jobs into a state directly, as a worker would have left them. */
async function setState(ids: string[], state: JobState, extra = ''): Promise<void> {
  const finished = ['completed', 'discarded', 'cancelled'].includes(state) ? 'now()' : 'NULL';
  // A running job always holds a lease (and only a running one does).
  const lease = state === 'running' ? `now() + interval '1 hour'` : 'NULL';
  await t.pool.query(
    `UPDATE "${t.schema}".jobs SET state = $2, finished_at = ${finished}, lease_expires_at = ${lease}${extra} WHERE id = ANY($1::bigint[])`,
    [ids, state],
  );
}

describe('listing and showing jobs', () => {
  it('pages newest first with a keyset cursor, without gaps or repeats', async () => {
    const ids = await seed(25);
    const seen: string[] = [];
    let after: string | undefined;
    let pages = 0;
    do {
      const page = await t.skiplock.admin.listJobs({ limit: 10, after });
      seen.push(...page.jobs.map((job) => job.id));
      after = page.nextCursor ?? undefined;
      pages += 1;
    } while (after);
    expect(pages).toBe(3);
    expect(seen).toEqual([...ids].reverse());
  });

  it('filters by state, queue, name and creation time', async () => {
    const alpha = await seed(3);
    const beta = await seed(2, other);
    await setState([alpha[0] as string], 'discarded');
    await t.pool.query(`UPDATE "${t.schema}".jobs SET created_at = now() - interval '2 hours' WHERE id = $1`, [
      alpha[1],
    ]);
    const ids = async (filter: Parameters<typeof t.skiplock.admin.listJobs>[0]) =>
      (await t.skiplock.admin.listJobs(filter)).jobs.map((job) => job.id).sort();
    expect(await ids({ state: 'discarded' })).toEqual([alpha[0]]);
    expect(await ids({ state: ['discarded', 'available'], queue: 'beta' })).toEqual([...beta].sort());
    expect(await ids({ name: 'admin.noop' })).toEqual([...alpha].sort());
    expect(await ids({ since: '1h', name: 'admin.noop' })).toEqual([alpha[0], alpha[2]].sort());
    expect(await ids({ until: '1h' })).toEqual([alpha[1]]);
    expect(await ids({ since: new Date(Date.now() - 3 * 3600_000), until: new Date(Date.now() - 3600_000) })).toEqual([
      alpha[1],
    ]);
    const [summary] = (await t.skiplock.admin.listJobs({ ids: [alpha[0] as string] })).jobs;
    expect(summary).toMatchObject({ id: alpha[0], name: 'admin.noop', queue: 'alpha', state: 'discarded' });
    expect(summary?.createdAt).toBeInstanceOf(Date);
  });

  it('rejects bad filters with an error that names the problem', async () => {
    const admin = t.skiplock.admin;
    await expect(admin.listJobs({ state: 'stuck' as JobState })).rejects.toThrow(
      /unknown job state "stuck": expected one of available, scheduled/,
    );
    await expect(admin.listJobs({ queue: "x'; DROP TABLE jobs; --" })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(admin.listJobs({ limit: 0 })).rejects.toThrow(/limit must be an integer from 1 to 1000/);
    await expect(admin.listJobs({ since: 'yesterday' as '1d' })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(admin.getJob('12; DELETE')).rejects.toThrow(/job id must be a positive integer/);
    // A number past 2^53 is already another id (…993 reads as …992); past bigint no id exists.
    await expect(admin.deleteJob(Number('9007199254740993'))).rejects.toThrow(
      /job id 9007199254740992 is not a safe integer: pass ids past 2\^53 as strings/,
    );
    await expect(admin.retryJobs({ ids: [Number('9007199254740993')] })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(admin.getJob('9223372036854775808')).rejects.toThrow(
      /job id must be a positive integer of at most 9223372036854775807, got "9223372036854775808"/,
    );
    await expect(admin.listJobs({ after: 'foo' })).rejects.toThrow(
      /^after \(a nextCursor\) must be a positive integer of at most 9223372036854775807, got "foo"$/,
    );
    await expect(admin.getJob(2 ** 64)).rejects.toThrow(/job id must be a positive integer of at most/);
    await expect(admin.getJob('9223372036854775807')).rejects.toMatchObject({ code: 'JOB_NOT_FOUND' });
  });

  it('shows one job with its arguments and full error history', async () => {
    let calls = 0;
    const flaky = defineJob<{ to: string }>({
      name: 'admin.flaky',
      maxAttempts: 2,
      backoff: 0,
      perform() {
        calls += 1;
        throw new Error(`boom ${calls}`);
      },
    });
    const id = idOf(await flaky.performLater({ to: 'ada' }));
    await startWorker({ jobs: [flaky] });
    await waitFor(async () => (await t.skiplock.admin.getJob(id)).state === 'discarded', { what: 'discarded' });
    const job = await t.skiplock.admin.getJob(id);
    expect(job).toMatchObject({ id, args: { to: 'ada' }, attempt: 2, maxAttempts: 2, lastError: 'boom 2' });
    expect(job.errors.map((entry) => [entry.attempt, entry.message])).toEqual([
      [1, 'boom 1'],
      [2, 'boom 2'],
    ]);
    expect(Date.parse(job.errors[0]?.at ?? '')).not.toBeNaN();
    await expect(t.skiplock.admin.getJob('999999999')).rejects.toBeInstanceOf(JobNotFoundError);
    await expect(t.skiplock.admin.getJob('999999999')).rejects.toThrow('no job with id 999999999');
  });
});

describe('retry, cancel, delete', () => {
  it('retries a discarded job now, with an attempt to spare, and refuses a completed one', async () => {
    const [discarded, completed] = await seed(2);
    await setState([discarded as string], 'discarded', `, attempt = 25, run_at = now() + interval '1 day'`);
    await setState([completed as string], 'completed');
    const retried = await t.skiplock.admin.retryJob(discarded as string);
    expect(retried).toMatchObject({ state: 'available', finishedAt: null, maxAttempts: 26 });
    expect(retried.runAt.getTime()).toBeLessThanOrEqual(Date.now() + 1000);
    await expect(t.skiplock.admin.retryJob(completed as string)).rejects.toThrow(
      `job ${completed} is completed: only retryable, discarded, cancelled jobs can be retried`,
    );
    await expect(t.skiplock.admin.retryJob(completed as string)).rejects.toBeInstanceOf(JobStateError);
    await expect(t.skiplock.admin.retryJob('424242424')).rejects.toBeInstanceOf(JobNotFoundError);
  });

  it('wakes a worker when it retries, and the job runs', async () => {
    const ran: number[] = [];
    const recorder = defineJob<{ n: number }>({ name: 'admin.recorder', perform: ({ n }) => void ran.push(n) });
    const id = idOf(await recorder.performLater({ n: 7 }));
    await setState([id], 'discarded');
    await startWorker({ jobs: [recorder], pollInterval: '1m' });
    await t.skiplock.admin.retryJob(id);
    await waitFor(async () => ran.length === 1, { timeoutMs: 3000, what: 'the retried job to run' });
  });

  it('does not retry a job whose unique key another unfinished job holds', async () => {
    const old = { id: idOf(await noop.performLater({ n: 1 }, { uniqueKey: 'k' })) };
    await setState([old.id], 'discarded');
    await noop.performLater({ n: 2 }, { uniqueKey: 'k' });
    await expect(t.skiplock.admin.retryJob(old.id)).rejects.toThrow(
      'cannot be retried while another unfinished job holds its unique key "k"',
    );
    expect(await t.skiplock.admin.retryJobs({ state: 'discarded' })).toBe(0);
  });

  /**
   * Runs `retry` while an enqueue of `key` waits uncommitted, once the retry waits on it, then
   * commits the enqueue; returns how the retry ended.
   */
  async function retryRacingEnqueue<T>(key: string, retry: () => Promise<T>): Promise<PromiseSettledResult<T>> {
    const enqueuer = await t.pool.connect();
    try {
      await enqueuer.query('BEGIN');
      await t.skiplock.enqueue(noop, { n: 2 }, { db: enqueuer, uniqueKey: key });
      const retrying = Promise.allSettled([retry()]);
      await waitFor(async () => (await lockWaiters(t.pool, 'candidates')) > 0, {
        what: 'the retry waiting on the uncommitted key',
      });
      await enqueuer.query('COMMIT');
      return (await retrying)[0];
    } finally {
      enqueuer.release();
    }
  }

  it('a retry that meets an enqueue of the same unique key committing meanwhile leaves that job, retries the rest', async () => {
    const keyed = idOf(await noop.performLater({ n: 1 }, { uniqueKey: 'race' }));
    const [plain] = await seed(1);
    await setState([keyed, plain as string], 'discarded');
    expect(await retryRacingEnqueue('race', () => t.skiplock.admin.retryJobs({ state: 'discarded' }))).toEqual({
      status: 'fulfilled',
      value: 1,
    });
    expect((await t.skiplock.admin.getJob(keyed)).state).toBe('discarded');
    expect((await t.skiplock.admin.getJob(plain as string)).state).toBe('available');
    // One job: the error a held key gets, not the database's.
    const alone = idOf(await noop.performLater({ n: 3 }, { uniqueKey: 'race-alone' }));
    await setState([alone], 'discarded');
    const single = await retryRacingEnqueue('race-alone', () => t.skiplock.admin.retryJob(alone));
    expect(single).toMatchObject({ status: 'rejected', reason: expect.any(JobStateError) as unknown });
    expect((single as PromiseRejectedResult).reason).toMatchObject({
      message: `job ${alone} cannot be retried while another unfinished job holds its unique key "race-alone"`,
    });
  });

  it('a second cancel of a running job keeps the time of the first request', async () => {
    const [id] = (await seed(1)) as [string];
    await setState([id], 'running');
    expect(await t.skiplock.admin.cancelJob(id)).toEqual({ cancelled: 0, requested: 1 });
    const first = (await t.skiplock.admin.getJob(id)).cancelRequestedAt;
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await t.skiplock.admin.cancelJob(id)).toEqual({ cancelled: 0, requested: 1 });
    expect((await t.skiplock.admin.getJob(id)).cancelRequestedAt).toEqual(first);
  });

  it('retries, cancels and deletes in bulk by filter, across batches', async () => {
    const ids = await seed(2500);
    await seed(10, other);
    await setState(ids, 'discarded');
    expect(await t.skiplock.admin.retryJobs({ state: 'discarded', name: 'admin.noop' })).toBe(2500);
    expect(await stateCounts(t)).toEqual({ available: 2510 });
    expect(await t.skiplock.admin.cancelJobs({ queue: 'alpha' })).toEqual({ cancelled: 2500, requested: 0 });
    expect(await stateCounts(t)).toEqual({ available: 10, cancelled: 2500 });
    expect(await t.skiplock.admin.deleteJobs({ state: 'cancelled' })).toBe(2500);
    expect(await stateCounts(t)).toEqual({ available: 10 });
  });

  it('cancels a queued job at once and refuses a finished one', async () => {
    const [queued, done] = await seed(2);
    await setState([done as string], 'completed');
    expect(await t.skiplock.admin.cancelJob(queued as string)).toEqual({ cancelled: 1, requested: 0 });
    const cancelled = await t.skiplock.admin.getJob(queued as string);
    expect(cancelled).toMatchObject({ state: 'cancelled' });
    expect(cancelled.finishedAt).toBeInstanceOf(Date);
    await expect(t.skiplock.admin.cancelJob(done as string)).rejects.toThrow(/is completed: only available/);
  });

  it('cancels a running job: its signal aborts within a second and it is recorded cancelled', async () => {
    let aborted: unknown;
    const slow = defineJob<{ n: number }>({
      name: 'admin.slow',
      perform: (_, ctx) =>
        new Promise<void>((resolve) => {
          ctx.signal.addEventListener('abort', () => {
            aborted = ctx.signal.reason;
            resolve();
          });
        }),
    });
    const id = idOf(await slow.performLater({ n: 1 }));
    await startWorker({ jobs: [slow] });
    await waitFor(async () => (await t.skiplock.admin.getJob(id)).state === 'running', { what: 'running' });
    const requested = Date.now();
    expect(await t.skiplock.admin.cancelJob(id)).toEqual({ cancelled: 0, requested: 1 });
    await waitFor(async () => (await t.skiplock.admin.getJob(id)).state === 'cancelled', {
      timeoutMs: 1000,
      intervalMs: 10,
      what: 'cancelled within a second',
    });
    expect(Date.now() - requested).toBeLessThan(1000);
    expect(aborted).toMatchObject({ code: 'JOB_CANCELLED' });
    const job = await t.skiplock.admin.getJob(id);
    expect(job.errors.at(-1)).toMatchObject({ name: 'JobCancelledError', message: 'job "admin.slow" was cancelled' });
    expect(job).toMatchObject({ lockedBy: null, attempt: 1 });
    expect(job.cancelRequestedAt).toBeInstanceOf(Date);
  });

  it('cancels a running job whose handler ignores the signal, and one whose notification was missed', async () => {
    const stubborn = defineJob<{ n: number }>({
      name: 'admin.stubborn',
      lease: '300ms',
      perform: () => new Promise<void>((resolve) => setTimeout(resolve, 60_000).unref()),
    });
    const results = await t.skiplock.performAllLater(undefined, [stubborn.with({ n: 1 }), stubborn.with({ n: 2 })]);
    const [a, b] = results.map((result) => result.id);
    await startWorker({ jobs: [stubborn] });
    await waitFor(async () => (await stateCounts(t)).running === 2, { what: 'both running' });
    await t.skiplock.admin.cancelJob(a as string);
    // Cancel b behind the worker's back (no notification): the next heartbeat (every 100 ms) sees it.
    await t.pool.query(`UPDATE "${t.schema}".jobs SET cancel_requested_at = now() WHERE id = $1`, [b]);
    await waitFor(async () => (await stateCounts(t)).cancelled === 2, { timeoutMs: 2000, what: 'both cancelled' });
  });

  it('deletes a finished job, and refuses a running one', async () => {
    const [done] = await seed(1);
    await setState([done as string], 'completed');
    await t.skiplock.admin.deleteJob(done as string);
    await expect(t.skiplock.admin.getJob(done as string)).rejects.toBeInstanceOf(JobNotFoundError);
    const [running] = await seed(1);
    await setState([running as string], 'running');
    await expect(t.skiplock.admin.deleteJob(running as string)).rejects.toThrow(
      `job ${running} is running: only available, scheduled, retryable, completed, discarded, cancelled jobs can be deleted`,
    );
  });
});

describe('queues, stats and workers', () => {
  it('a paused queue is not claimed until it is resumed', async () => {
    const ran: number[] = [];
    const recorder = defineJob<{ n: number }>({
      name: 'admin.paused',
      queue: 'gamma',
      perform: ({ n }) => void ran.push(n),
    });
    await t.skiplock.admin.pauseQueue('gamma');
    await startWorker({ jobs: [recorder], pollInterval: '20ms' });
    await recorder.performLater({ n: 1 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(ran).toEqual([]);
    expect((await t.skiplock.admin.stats()).find((q) => q.queue === 'gamma')).toMatchObject({ paused: true, due: 1 });
    await t.skiplock.admin.resumeQueue('gamma');
    await waitFor(async () => ran.length === 1, { timeoutMs: 2000, what: 'the job to run after resume' });
    await expect(t.skiplock.admin.pauseQueue('bad queue')).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('counts per queue and state, the oldest wait and recent throughput', async () => {
    const alpha = await seed(6);
    await seed(1, other);
    await t.pool.query(`UPDATE "${t.schema}".jobs SET run_at = now() - interval '90 seconds' WHERE id = $1`, [
      alpha[0],
    ]);
    await setState([alpha[1] as string], 'discarded');
    await setState([alpha[2] as string], 'completed');
    await setState([alpha[3] as string], 'scheduled', `, run_at = now() + interval '1 hour'`);
    await setState([alpha[4] as string], 'running');
    const stats = await t.skiplock.admin.stats();
    expect(stats.map((q) => q.queue)).toEqual(['alpha', 'beta']);
    expect(stats[0]).toMatchObject({
      queue: 'alpha',
      paused: false,
      available: 2,
      scheduled: 1,
      running: 1,
      retryable: 0,
      discarded: 1,
      cancelled: 0,
      due: 2,
      completed1m: 1,
      completed5m: 1,
    });
    expect(stats[0]?.oldestWaitSeconds).toBeGreaterThanOrEqual(89);
    expect(stats[1]).toMatchObject({ queue: 'beta', available: 1, due: 1 });
  });

  it('lists live workers from their heartbeats, with what they run', async () => {
    const slow = defineJob<{ n: number }>({
      name: 'admin.busy',
      queue: 'delta',
      perform: (_, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve())),
    });
    const worker = await startWorker({ jobs: [slow] });
    await slow.performLater({ n: 1 });
    await waitFor(async () => (await stateCounts(t)).running === 1, { what: 'running' });
    const [info] = await t.skiplock.admin.listWorkers();
    expect(info).toMatchObject({ id: worker.id, queues: ['delta'], pid: process.pid, running: 1 });
    expect(info?.heartbeatAgeSeconds).toBeLessThan(15);
    await worker.stop({ timeout: '10ms' });
    expect(await t.skiplock.admin.listWorkers()).toEqual([]);
  });
});

describe('pruning', () => {
  /** Jobs finished `age` ago in `state`. */
  async function finishedAgo(count: number, state: JobState, age: string): Promise<string[]> {
    const ids = await seed(count);
    await t.pool.query(
      `UPDATE "${t.schema}".jobs SET state = $2, finished_at = now() - $3::interval WHERE id = ANY($1::bigint[])`,
      [ids, state, age],
    );
    return ids;
  }

  it('deletes completed jobs after a day and discarded or cancelled ones after 14 days', async () => {
    await finishedAgo(1500, 'completed', '25 hours');
    const keptCompleted = await finishedAgo(2, 'completed', '23 hours');
    await finishedAgo(3, 'discarded', '15 days');
    const keptDiscarded = await finishedAgo(2, 'discarded', '13 days');
    await finishedAgo(1, 'cancelled', '15 days');
    const waiting = await seed(2);
    expect(await t.skiplock.admin.prune({ batchSize: 500 })).toEqual({ deleted: 1504, ran: true });
    const left = (await t.skiplock.admin.listJobs({ limit: 100 })).jobs.map((job) => job.id).sort();
    expect(left).toEqual([...keptCompleted, ...keptDiscarded, ...waiting].sort());
    expect(await t.skiplock.admin.prune()).toEqual({ deleted: 0, ran: true });
  });

  it('follows the configured retention, and false keeps forever', async () => {
    const custom = await createTestSchema({ retention: { completed: '1h', discarded: false } });
    try {
      const job = defineJob<{ n: number }>({ name: 'admin.custom', perform: () => undefined });
      const ids = (
        await custom.skiplock.performAllLater(undefined, [job.with({ n: 1 }), job.with({ n: 2 }), job.with({ n: 3 })])
      ).map((r) => r.id);
      await custom.pool.query(
        `UPDATE "${custom.schema}".jobs SET state = CASE WHEN id = $1 THEN 'completed' ELSE 'discarded' END,
                finished_at = now() - interval '2 years' WHERE id = ANY($2::bigint[])`,
        [ids[0], ids.slice(0, 2)],
      );
      expect(await custom.skiplock.admin.prune()).toEqual({ deleted: 1, ran: true });
      expect(await stateCounts(custom)).toEqual({ discarded: 1, available: 1 });
    } finally {
      await custom.drop();
    }
  });

  it('workers prune on their own, one at a time, while others keep working', async () => {
    await finishedAgo(3000, 'completed', '2 days');
    const ran: number[] = [];
    const recorder = defineJob<{ n: number }>({ name: 'admin.busy2', perform: ({ n }) => void ran.push(n) });
    await Promise.all([1, 2, 3].map(() => startWorker({ jobs: [recorder], pruneInterval: '50ms' })));
    // Meanwhile, jobs keep completing and a manual prune competes for the same rows.
    await t.skiplock.performAllLater(
      undefined,
      Array.from({ length: 300 }, (_, n) => recorder.with({ n })),
    );
    const manual = await t.skiplock.admin.prune({ batchSize: 100 });
    await waitFor(async () => (await stateCounts(t)).completed === 300 && ran.length === 300, {
      what: 'old jobs pruned and new ones completed',
    });
    expect(manual.deleted).toBeLessThanOrEqual(3000);
    expect(new Set(ran).size).toBe(300);
  });
});
