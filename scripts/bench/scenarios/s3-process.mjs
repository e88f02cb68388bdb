// S3: one process drains N pre-loaded no-op jobs; timed from worker start until every job is
// recorded as finished in the database.
import { now, waitUntil } from '../lib/db.mjs';
import { measurement } from '../lib/results.mjs';
import { alternate, jobCounter, log, withFreshSystem } from '../lib/runner.mjs';
import { rate } from '../lib/stats.mjs';
import { QUEUES, RAW, RAW_DELETE } from '../systems/index.mjs';
import { SKIPLOCK_THROUGHPUT, skiplockSystem } from '../systems/skiplock.mjs';
import { enqueueInChunks } from './s2-bulk.mjs';

/**
 * Pre-loads `jobs`, then drains them with one worker; returns jobs/s and the worker's settings.
 * @param {import('../systems/system.mjs').System} system
 * @param {number} jobs
 * @param {Record<string, number>} [overrides]
 */
export async function drain(system, jobs, overrides) {
  await enqueueInChunks(system, jobs, 10_000);
  const counter = jobCounter(jobs);
  const start = now();
  const worker = await system.startWorker(counter.onJob, 'throughput', overrides);
  await counter.done;
  await waitUntil(async () => (await system.pendingCount()) === 0, {
    timeoutMs: 300_000,
    what: `${system.name} to finish`,
  });
  const elapsed = now() - start;
  await worker.stop();
  return { rate: rate(jobs, elapsed), settings: worker.settings };
}

/** Tries Skiplock settings on a smaller backlog and keeps the fastest in SKIPLOCK_THROUGHPUT. */
async function sweepSkiplock(/** @type {import('../lib/config.mjs').Config} */ config) {
  const sweep = measurement({
    id: 'S3sweep',
    title: `S3 Skiplock settings sweep (${config.s3Jobs / 2} jobs, one run each)`,
    unit: 'jobs/s',
    rawReference: 'none',
  });
  let best = { rate: 0, concurrency: 0, completionBatchSize: 0 };
  for (const concurrency of [200, 500, 1000]) {
    for (const completionBatchSize of [500, 1000]) {
      log(`  sweep concurrency ${concurrency} completionBatchSize ${completionBatchSize}`);
      const result = await withFreshSystem(skiplockSystem, config.databaseUrl, (system) =>
        drain(system, config.s3Jobs / 2, { concurrency, completionBatchSize }),
      );
      sweep.add(`c${concurrency}/b${completionBatchSize}`, result.settings, result.rate);
      if (result.rate > best.rate) best = { rate: result.rate, concurrency, completionBatchSize };
    }
  }
  SKIPLOCK_THROUGHPUT.concurrency = best.concurrency;
  SKIPLOCK_THROUGHPUT.completionBatchSize = best.completionBatchSize;
  return sweep.done();
}

/** @param {import('../lib/config.mjs').Config} config */
export async function runS3(config) {
  const sweep = config.s3Sweep ? [await sweepSkiplock(config)] : [];
  const drained = measurement({
    id: 'S3',
    title: `S3 process ${config.s3Jobs.toLocaleString('en-US')} pre-loaded no-op jobs, 1 process`,
    unit: 'jobs/s',
    note: 'Timed from worker start until every job is recorded finished. graphile-worker deletes finished jobs; Skiplock, pg-boss and `raw` keep them (completed).',
  });
  await alternate(config.runs, [...QUEUES, RAW, RAW_DELETE], (factory) =>
    withFreshSystem(factory, config.databaseUrl, async (system) => {
      const result = await drain(system, config.s3Jobs);
      drained.add(factory.name, result.settings, result.rate);
    }),
  );
  return [drained.done(), ...sweep];
}
