// S4: enqueue→start latency with an idle listening worker: p50 / p95 / p99 per run.
import { measureLatency } from '../lib/latency.mjs';
import { measurement } from '../lib/results.mjs';
import { alternate, withFreshSystem } from '../lib/runner.mjs';
import { percentile } from '../lib/stats.mjs';
import { QUEUES, RAW } from '../systems/index.mjs';

/** @param {import('../lib/config.mjs').Config} config */
export async function runS4(config) {
  // pg-boss 10 only polls (≥ 0.5 s), so each of its samples waits up to that long: a fifth as many.
  const pollingSamples = Math.max(1, Math.ceil(config.s4Samples / 5));
  const note = `Each sample: enqueue one job, wait until its handler starts, pause 15–30 ms. ${config.s4Samples} samples per run (pg-boss: ${pollingSamples}, it polls).`;
  const [p50, p95, p99] = [50, 95, 99].map((p) =>
    measurement({ id: `S4p${p}`, title: `S4 enqueue→start latency p${p}, idle listening worker`, unit: 'ms', note }),
  );
  await alternate(config.runs, [...QUEUES, RAW], (factory) =>
    withFreshSystem(factory, config.databaseUrl, async (system) => {
      const samples = factory.name === 'pg-boss' ? pollingSamples : config.s4Samples;
      const { startMs, settings } = await measureLatency(system, samples);
      p50?.add(factory.name, settings, percentile(startMs, 50));
      p95?.add(factory.name, settings, percentile(startMs, 95));
      p99?.add(factory.name, settings, percentile(startMs, 99));
    }),
  );
  return [p50, p95, p99].map((m) => /** @type {NonNullable<typeof m>} */ (m).done());
}
