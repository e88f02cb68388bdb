// S6: a table holding many finished and many scheduled rows: p99 of a single enqueue and of the
// enqueue→start of a due job (which includes the claim), with an idle listening worker.
import { log } from '../lib/runner.mjs';
import { measureLatency } from '../lib/latency.mjs';
import { measurement } from '../lib/results.mjs';
import { alternate, withFreshSystem } from '../lib/runner.mjs';
import { percentile } from '../lib/stats.mjs';
import { QUEUES, RAW } from '../systems/index.mjs';

/** @param {import('../lib/config.mjs').Config} config */
export async function runS6(config) {
  const size = `${config.s6Finished.toLocaleString('en-US')} finished + ${config.s6Scheduled.toLocaleString('en-US')} scheduled rows`;
  const note =
    `${size}, written by \`INSERT … SELECT generate_series\` then \`VACUUM ANALYZE\`, in a fresh schema per run. ` +
    `Finished rows are completed jobs, except in graphile-worker, which deletes those: its finished rows are jobs that failed for good. ` +
    `${config.s6Samples} samples per run.`;
  const enqueue = measurement({ id: 'S6enqueue', title: `S6 enqueue p99 on ${size}`, unit: 'ms', note });
  const claim = measurement({ id: 'S6claim', title: `S6 claim (enqueue→start) p99 on ${size}`, unit: 'ms', note });
  await alternate(config.runs, [...QUEUES, RAW], (factory) =>
    withFreshSystem(factory, config.databaseUrl, async (system) => {
      log(`    seeding ${size}`);
      await system.seedLarge(config.s6Finished, config.s6Scheduled);
      const { enqueueMs, startMs, settings } = await measureLatency(system, config.s6Samples);
      enqueue.add(factory.name, factory.enqueueSettings, percentile(enqueueMs, 99));
      claim.add(factory.name, settings, percentile(startMs, 99));
    }),
  );
  return [enqueue.done(), claim.done()];
}
