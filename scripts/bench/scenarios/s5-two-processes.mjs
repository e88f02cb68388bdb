// S5: two worker OS processes drain one queue; throughput, and every job must have run exactly once
// (each process reports the jobs it ran). Timed like S3: until the processes have run every job, then
// until the database records every job finished. (Polling the database all along, a count every 10
// ms, took a share of the 2 cores that S3 does not pay.)
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { now, waitUntil } from '../lib/db.mjs';
import { measurement } from '../lib/results.mjs';
import { alternate, withFreshSystem } from '../lib/runner.mjs';
import { rate } from '../lib/stats.mjs';
import { QUEUES, RAW } from '../systems/index.mjs';
import { SKIPLOCK_THROUGHPUT } from '../systems/skiplock.mjs';
import { enqueueInChunks } from './s2-bulk.mjs';

const CHILD = fileURLToPath(new URL('./s5-worker-process.mjs', import.meta.url));
const PROCESSES = 2;

/** Forks a worker process and waits until it has connected; `ran()` is how many jobs it has run so far. */
async function spawnWorker(/** @type {string[]} */ argv) {
  const child = fork(CHILD, argv, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  /** @typedef {{ type: string, settings?: string, ran?: number[], count?: number }} Message */
  /** @type {Message[]} */
  const messages = [];
  let ran = 0;
  child.on('message', (/** @type {Message} */ m) => {
    if (m.type === 'progress') ran = m.count ?? 0;
    else messages.push(m);
  });
  const next = async (/** @type {string} */ type) => {
    await waitUntil(async () => messages.some((m) => m.type === type), {
      timeoutMs: 60_000,
      what: `worker process ${type}`,
    });
    return /** @type {(typeof messages)[number]} */ (messages.find((m) => m.type === type));
  };
  await next('ready');
  return { child, next, ran: () => ran };
}

/** @param {import('../lib/config.mjs').Config} config */
export async function runS5(config) {
  const throughput = measurement({
    id: 'S5',
    title: `S5 two worker processes on one queue (${config.s5Jobs.toLocaleString('en-US')} pre-loaded jobs)`,
    unit: 'jobs/s',
    note: 'Each process runs the S3 settings. Timed from "go" until every job is recorded finished.',
  });
  const duplicates = measurement({ id: 'S5dup', title: 'S5 jobs run more than once (must be 0)', unit: 'jobs' });
  await alternate(config.runs, [...QUEUES, RAW], (factory) =>
    withFreshSystem(factory, config.databaseUrl, async (system) => {
      await enqueueInChunks(system, config.s5Jobs, 10_000);
      const overrides = factory.name === 'skiplock' ? JSON.stringify(SKIPLOCK_THROUGHPUT) : '{}';
      const workers = await Promise.all(
        Array.from({ length: PROCESSES }, () =>
          spawnWorker([factory.name, system.schema, config.databaseUrl, overrides]),
        ),
      );
      const start = now();
      for (const w of workers) w.child.send('go');
      const settings = (await Promise.all(workers.map((w) => w.next('started'))))[0]?.settings ?? '';
      await waitUntil(async () => workers.reduce((sum, w) => sum + w.ran(), 0) >= config.s5Jobs, {
        timeoutMs: 300_000,
        what: `${factory.name}'s processes to run every job`,
      });
      await waitUntil(async () => (await system.pendingCount()) === 0, {
        timeoutMs: 300_000,
        what: `${factory.name} to finish`,
      });
      const elapsed = now() - start;
      for (const w of workers) w.child.send('stop');
      const reports = await Promise.all(workers.map((w) => w.next('ran')));
      await Promise.all(workers.map((w) => (w.child.exitCode === null ? once(w.child, 'exit') : undefined)));
      const seen = new Set();
      let runs = 0;
      for (const report of reports) {
        runs += report.ran?.length ?? 0;
        for (const i of report.ran ?? []) seen.add(i);
      }
      if (seen.size !== config.s5Jobs) throw new Error(`S5 ${factory.name}: ${seen.size} of ${config.s5Jobs} jobs ran`);
      throughput.add(factory.name, `${PROCESSES} processes × (${settings})`, rate(config.s5Jobs, elapsed));
      duplicates.add(factory.name, `${runs} runs of ${seen.size} jobs`, runs - seen.size);
    }),
  );
  return [throughput.done(), duplicates.done()];
}
