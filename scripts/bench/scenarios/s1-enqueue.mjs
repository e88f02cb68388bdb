// S1: single-job enqueue, one call per job: sequentially, then from 10 concurrent producers.
import { now } from '../lib/db.mjs';
import { measurement } from '../lib/results.mjs';
import { alternate, withFreshSystem } from '../lib/runner.mjs';
import { rate } from '../lib/stats.mjs';
import { QUEUES, RAW, RAW_NO_NOTIFY } from '../systems/index.mjs';

/** @param {import('../lib/config.mjs').Config} config */
export async function runS1(config) {
  const sequential = measurement({
    id: 'S1seq',
    title: `S1 single enqueue, sequential (${config.s1Jobs} jobs)`,
    unit: 'jobs/s',
  });
  const concurrent = measurement({
    id: 'S1conc',
    title: `S1 single enqueue, ${config.s1Producers} concurrent producers (${config.s1Jobs} jobs)`,
    unit: 'jobs/s',
  });
  await alternate(config.runs, [...QUEUES, RAW, RAW_NO_NOTIFY], (factory) =>
    withFreshSystem(factory, config.databaseUrl, async (system) => {
      let start = now();
      for (let i = 0; i < config.s1Jobs; i++) await system.enqueueOne({ i });
      sequential.add(factory.name, factory.enqueueSettings, rate(config.s1Jobs, now() - start));
      const perProducer = Math.ceil(config.s1Jobs / config.s1Producers);
      start = now();
      await Promise.all(
        Array.from({ length: config.s1Producers }, async (_, p) => {
          for (let i = 0; i < perProducer; i++) await system.enqueueOne({ i: p * perProducer + i });
        }),
      );
      concurrent.add(factory.name, factory.enqueueSettings, rate(perProducer * config.s1Producers, now() - start));
    }),
  );
  return [sequential.done(), concurrent.done()];
}
