// S4: enqueue→start latency with an idle listening worker: p50 / p95 / p99 per run.
import { measureLatency } from '../lib/latency.mjs';
import { measurement } from '../lib/results.mjs';
import { alternate, withFreshSystem } from '../lib/runner.mjs';
import { percentile } from '../lib/stats.mjs';
import { QUEUES, RAW } from '../systems/index.mjs';

/** @param {import('../lib/config.mjs').Config} config */
export async function runS4(config) {
  const note = `Each sample: enqueue one job, wait until its handler starts, pause 15–30 ms. ${config.s4Samples} samples per run.`;
  const [p50, p95, p99] = [50, 95, 99].map((p) =>
    measurement({ id: `S4p${p}`, title: `S4 enqueue→start latency p${p}, idle listening worker`, unit: 'ms', note }),
  );
  await alternate(config.runs, [...QUEUES, RAW], (factory) =>
    withFreshSystem(factory, config.databaseUrl, async (system) => {
      const { startMs, settings } = await measureLatency(system, config.s4Samples);
      p50?.add(factory.name, settings, percentile(startMs, 50));
      p95?.add(factory.name, settings, percentile(startMs, 95));
      p99?.add(factory.name, settings, percentile(startMs, 99));
    }),
  );
  return [p50, p95, p99].map((m) => /** @type {NonNullable<typeof m>} */ (m).done());
}
