// S3: one process drains N pre-loaded no-op jobs; timed from worker start until every job is
// recorded as finished in the database, after an untimed drain by each system.
import { enqueueInChunks } from '../lib/backlog.mjs';
import { now, waitUntil } from '../lib/db.mjs';
import { measurement } from '../lib/results.mjs';
import { alternate, jobCounter, log, withFreshSystem } from '../lib/runner.mjs';
import { rate } from '../lib/stats.mjs';
import { QUEUES, RAW, RAW_DELETE } from '../systems/index.mjs';

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

/**
 * Drains a backlog of `config.s3WarmUp` jobs with each system, untimed, so that the sweep and the
 * timed runs meet compiled code: the bench's process has only enqueued so far, and a worker's first
 * drains run slower while its code is compiled (Skiplock's first 50,000-job drain in a fresh process
 * spent 10–13 µs of Node CPU per job, later ones ~5–6, and ran 10–35 % slower; the sweep tried its
 * settings in order, the first ones cold).
 * @param {import('../lib/config.mjs').Config} config
 * @param {import('../systems/system.mjs').SystemFactory[]} factories
 */
async function warmUp(config, factories) {
  if (config.s3WarmUp === 0) return;
  for (const factory of factories) {
    log(`  warm-up ${factory.name}: ${config.s3WarmUp.toLocaleString('en-US')} jobs`);
    await withFreshSystem(factory, config.databaseUrl, (system) => drain(system, config.s3WarmUp));
  }
}

/**
 * Tries each system's `sweep` settings on half the backlog (one drain each) and keeps the fastest as
 * its `throughput`, which S3's timed runs and S5 then use.
 * @param {import('../lib/config.mjs').Config} config
 * @param {import('../systems/system.mjs').SystemFactory[]} factories
 */
async function sweepSettings(config, factories) {
  const sweep = measurement({
    id: 'S3sweep',
    title: `S3 settings sweep (${(config.s3Jobs / 2).toLocaleString('en-US')} jobs, one drain each; the fastest is kept)`,
    unit: 'jobs/s',
    rawReference: 'none',
  });
  for (const factory of factories) {
    let best = { rate: 0, settings: factory.throughput };
    for (const tried of factory.sweep) {
      const label = Object.entries(tried)
        .map(([key, value]) => `${key} ${value}`)
        .join(', ');
      log(`  sweep ${factory.name}: ${label}`);
      const result = await withFreshSystem(factory, config.databaseUrl, (system) =>
        drain(system, config.s3Jobs / 2, tried),
      );
      sweep.add(`${factory.name}: ${label}`, result.settings, result.rate);
      if (result.rate > best.rate) best = { rate: result.rate, settings: { ...factory.throughput, ...tried } };
    }
    Object.assign(factory.throughput, best.settings);
  }
  return sweep.done();
}

/** @param {import('../lib/config.mjs').Config} config */
export async function runS3(config) {
  const factories = [...QUEUES, RAW, RAW_DELETE];
  await warmUp(config, factories);
  const sweep = config.s3Sweep ? [await sweepSettings(config, factories)] : [];
  const drained = measurement({
    id: 'S3',
    title: `S3 process ${config.s3Jobs.toLocaleString('en-US')} pre-loaded no-op jobs, 1 process`,
    unit: 'jobs/s',
    note: 'Timed from worker start until every job is recorded finished. graphile-worker deletes finished jobs; Skiplock, pg-boss and `raw` keep them (completed).',
  });
  await alternate(config.runs, factories, (factory) =>
    withFreshSystem(factory, config.databaseUrl, async (system) => {
      const result = await drain(system, config.s3Jobs);
      drained.add(factory.name, result.settings, result.rate);
    }),
  );
  return [drained.done(), ...sweep];
}
