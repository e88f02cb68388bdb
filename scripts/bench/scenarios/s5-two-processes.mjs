// S5: two worker OS processes drain one queue; throughput, and every job must have run exactly once
// (each process reports the jobs it ran). Timed like S3: until the processes have run every job, then
// until the database records every job finished. (Polling the database all along, a count every 10
// ms, took a share of the 2 cores that S3 does not pay.) Before the timed drain the processes drain
// a warm-up backlog in another schema, in a full run as large as the timed one, as S3 does in the
// bench's own process: a fresh process spends much of a drain of this size on interpreting and
// compiling. A fifth of the backlog was not enough: Skiplock's
// processes then spent 11-14 us of CPU per job in the timed drain, against 8.5-10 after a full-size
// warm-up (14-16 during it), and drained ~17 % slower (medians of 3 runs, alternating).
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { enqueueInChunks } from '../lib/backlog.mjs';
import { now, waitUntil } from '../lib/db.mjs';
import { measurement } from '../lib/results.mjs';
import { alternate, withFreshSystem } from '../lib/runner.mjs';
import { rate } from '../lib/stats.mjs';
import { QUEUES, RAW } from '../systems/index.mjs';

const CHILD = fileURLToPath(new URL('./s5-worker-process.mjs', import.meta.url));
const PROCESSES = 2;

/**
 * Worker settings of a system's processes: S3's (as swept in this run: the processes cannot see the
 * sweep) with the factory's `perProcess` changes. Skiplock and raw run one claim loop per process:
 * the other process's claims overlap this one's jobs, as a second loop's do in one process. (When a
 * worker's loops still claimed side by side, Skiplock's two processes drained ~10 % faster with one
 * loop each than with two; since they take turns, one or two loops per process drain alike within
 * the runs' spread: 47.6k–48.5k and 48.6k–51.9k jobs/s in alternating S5-only runs.)
 * @param {import('../systems/system.mjs').SystemFactory} factory
 */
const processSettings = (factory) => ({ ...factory.throughput, ...factory.perProcess });

/** @typedef {{ type: string, settings?: string, ran?: number[], count?: number }} Message */

/**
 * Forks a worker process and waits until it is up. `next(type)` takes its next message of that
 * type; `ran()` is how many jobs it has run since its last start; `onProgress(fn)` calls `fn` on
 * each progress report.
 */
async function spawnWorker(/** @type {string[]} */ argv) {
  const child = fork(CHILD, argv, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  /** @type {Message[]} */
  const messages = [];
  let ran = 0;
  /** @type {() => void} */
  let progressed = () => {};
  child.on('message', (/** @type {Message} */ m) => {
    if (m.type === 'progress') {
      ran = m.count ?? 0;
      progressed();
    } else messages.push(m);
  });
  const next = async (/** @type {string} */ type) => {
    await waitUntil(async () => messages.some((m) => m.type === type), {
      timeoutMs: 60_000,
      what: `worker process ${type}`,
    });
    return /** @type {Message} */ (
      messages.splice(
        messages.findIndex((m) => m.type === type),
        1,
      )[0]
    );
  };
  const start = () => {
    ran = 0;
    child.send({ type: 'start' });
  };
  await next('ready');
  const onProgress = (/** @type {() => void} */ fn) => {
    progressed = fn;
  };
  return { child, next, start, ran: () => ran, onProgress };
}

/** @typedef {Awaited<ReturnType<typeof spawnWorker>>} WorkerProcess */

/**
 * Opens `system` in every process (untimed, as S3 finds its pool connected), then starts them on its
 * backlog of `jobs` and waits until they have run them all and the database records them finished;
 * returns the settings, the time that took and each process's report (the jobs it ran).
 */
async function drainWith(
  /** @type {WorkerProcess[]} */ workers,
  /** @type {import('../systems/system.mjs').System} */ system,
  /** @type {number} */ jobs,
) {
  for (const w of workers) w.child.send({ type: 'attach', schema: system.schema });
  await Promise.all(workers.map((w) => w.next('attached')));
  const start = now();
  for (const w of workers) w.start();
  const settings = (await Promise.all(workers.map((w) => w.next('started'))))[0]?.settings ?? '';
  // Known from the report that completes the count, as S3 knows it from its handler (polling the
  // count every 10 ms added 5 ms on average to a drain of well under a second).
  await new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`bench: timed out waiting for ${system.name}'s processes to run every job`)),
      300_000,
    );
    const check = () => {
      if (workers.reduce((sum, w) => sum + w.ran(), 0) < jobs) return;
      clearTimeout(timer);
      resolve(undefined);
    };
    for (const w of workers) w.onProgress(check);
    check();
  });
  await waitUntil(async () => (await system.pendingCount()) === 0, {
    timeoutMs: 300_000,
    what: `${system.name} to finish`,
  });
  const elapsed = now() - start;
  for (const w of workers) w.child.send({ type: 'stop' });
  const reports = await Promise.all(workers.map((w) => w.next('stopped')));
  return { settings, elapsed, reports };
}

/** @param {import('../lib/config.mjs').Config} config */
export async function runS5(config) {
  const warmUpJobs = config.s5WarmUp;
  const throughput = measurement({
    id: 'S5',
    title: `S5 two worker processes on one queue (${config.s5Jobs.toLocaleString('en-US')} pre-loaded jobs)`,
    unit: 'jobs/s',
    note: `Each process runs the S3 settings (with one claim loop for Skiplock and raw), after draining ${warmUpJobs.toLocaleString('en-US')} warm-up jobs in another schema. Timed from "go" until every job is recorded finished.`,
  });
  const duplicates = measurement({ id: 'S5dup', title: 'S5 jobs run more than once (must be 0)', unit: 'jobs' });
  await alternate(config.runs, [...QUEUES, RAW], (factory) =>
    withFreshSystem(factory, config.databaseUrl, (warmUp) =>
      withFreshSystem(factory, config.databaseUrl, async (system) => {
        await enqueueInChunks(warmUp, warmUpJobs, 10_000);
        await enqueueInChunks(system, config.s5Jobs, 10_000);
        const overrides = JSON.stringify(processSettings(factory));
        const workers = await Promise.all(
          Array.from({ length: PROCESSES }, () => spawnWorker([factory.name, config.databaseUrl, overrides])),
        );
        await drainWith(workers, warmUp, warmUpJobs);
        const { settings, elapsed, reports } = await drainWith(workers, system, config.s5Jobs);
        for (const w of workers) w.child.send({ type: 'exit' });
        await Promise.all(workers.map((w) => (w.child.exitCode === null ? once(w.child, 'exit') : undefined)));
        const seen = new Set();
        let runs = 0;
        for (const report of reports) {
          runs += report.ran?.length ?? 0;
          for (const i of report.ran ?? []) seen.add(i);
        }
        if (seen.size !== config.s5Jobs)
          throw new Error(`S5 ${factory.name}: ${seen.size} of ${config.s5Jobs} jobs ran`);
        throughput.add(factory.name, `${PROCESSES} processes × (${settings})`, rate(config.s5Jobs, elapsed));
        duplicates.add(factory.name, `${runs} runs of ${seen.size} jobs`, runs - seen.size);
      }),
    ),
  );
  return [throughput.done(), duplicates.done()];
}
