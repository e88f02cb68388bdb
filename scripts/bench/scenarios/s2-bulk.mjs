// S2: bulk enqueue, N jobs in calls of `chunk` jobs each; the systems side by side, a call each in
// turn (see `interleave`).
import { jobsFrom } from '../lib/backlog.mjs';
import { measurement } from '../lib/results.mjs';
import { interleave, log, withFreshSystems } from '../lib/runner.mjs';
import { rate } from '../lib/stats.mjs';
import { QUEUES, RAW } from '../systems/index.mjs';

/** @param {import('../lib/config.mjs').Config} config */
export async function runS2(config) {
  const rounds = Math.ceil(config.s2Jobs / config.s2Chunk);
  const bulk = measurement({
    id: 'S2',
    title: `S2 bulk enqueue, ${(rounds * config.s2Chunk).toLocaleString('en-US')} jobs in calls of ${config.s2Chunk.toLocaleString('en-US')}`,
    unit: 'jobs/s',
    note: `Systems side by side: each run opens them all, then ${rounds} rounds in which each makes one call in turn (the order rotating), timed per system.`,
  });
  const factories = [...QUEUES, RAW];
  for (let run = 0; run < config.runs; run++) {
    log(`  run ${run + 1}/${config.runs}: ${factories.map((f) => f.name).join(', ')} side by side`);
    await withFreshSystems(factories, config.databaseUrl, async (systems) => {
      const elapsed = await interleave(systems, rounds, run, (system, round) =>
        system.enqueueMany(jobsFrom(round * config.s2Chunk, config.s2Chunk)),
      );
      for (const [k, factory] of factories.entries())
        bulk.add(factory.name, factory.enqueueSettings, rate(rounds * config.s2Chunk, elapsed[k] ?? NaN));
    });
  }
  return [bulk.done()];
}
