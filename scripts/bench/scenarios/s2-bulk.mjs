// S2: bulk enqueue, N jobs in calls of `chunk` jobs each.
import { now } from '../lib/db.mjs';
import { measurement } from '../lib/results.mjs';
import { alternate, withFreshSystem } from '../lib/runner.mjs';
import { rate } from '../lib/stats.mjs';
import { QUEUES, RAW } from '../systems/index.mjs';

/** Enqueues `total` jobs in calls of `chunk`. @param {import('../systems/system.mjs').System} system */
export async function enqueueInChunks(system, /** @type {number} */ total, /** @type {number} */ chunk) {
  for (let offset = 0; offset < total; offset += chunk) {
    const size = Math.min(chunk, total - offset);
    await system.enqueueMany(Array.from({ length: size }, (_, k) => ({ i: offset + k })));
  }
}

/** @param {import('../lib/config.mjs').Config} config */
export async function runS2(config) {
  const bulk = measurement({
    id: 'S2',
    title: `S2 bulk enqueue, ${config.s2Jobs.toLocaleString('en-US')} jobs in calls of ${config.s2Chunk.toLocaleString('en-US')}`,
    unit: 'jobs/s',
  });
  await alternate(config.runs, [...QUEUES, RAW], (factory) =>
    withFreshSystem(factory, config.databaseUrl, async (system) => {
      const start = now();
      await enqueueInChunks(system, config.s2Jobs, config.s2Chunk);
      bulk.add(factory.name, factory.enqueueSettings, rate(config.s2Jobs, now() - start));
    }),
  );
  return [bulk.done()];
}
