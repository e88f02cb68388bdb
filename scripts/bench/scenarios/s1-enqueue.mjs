// S1: single-job enqueue, one call per job: sequentially, then from 10 concurrent producers.
import { now } from '../lib/db.mjs';
import { measurement } from '../lib/results.mjs';
import { alternate, withFreshSystem } from '../lib/runner.mjs';
import { rate } from '../lib/stats.mjs';
import { QUEUES, RAW, RAW_NO_NOTIFY } from '../systems/index.mjs';

/**
 * `producers` loops, each enqueueing `perProducer` jobs one call at a time, numbered from `first`.
 * @param {import('../systems/system.mjs').System} system
 * @param {number} producers @param {number} perProducer @param {number} first
 */
async function enqueueConcurrently(system, producers, perProducer, first) {
  await Promise.all(
    Array.from({ length: producers }, async (_, p) => {
      for (let i = 0; i < perProducer; i++) await system.enqueueOne({ i: first + p * perProducer + i });
    }),
  );
}

/** @param {import('../lib/config.mjs').Config} config */
export async function runS1(config) {
  const sequential = measurement({
    id: 'S1seq',
    title: `S1 single enqueue, sequential (${config.s1Jobs} jobs, after a warm-up)`,
    unit: 'jobs/s',
  });
  const concurrent = measurement({
    id: 'S1conc',
    title: `S1 single enqueue, ${config.s1Producers} concurrent producers (${config.s1Jobs} jobs, after a warm-up)`,
    unit: 'jobs/s',
  });
  await alternate(config.runs, [...QUEUES, RAW, RAW_NO_NOTIFY], (factory) =>
    withFreshSystem(factory, config.databaseUrl, async (system) => {
      // Untimed warm-up of both ways of enqueueing: every producer's connection opened, statements
      // prepared, code compiled. A lone enqueue and concurrent ones take different paths (Skiplock
      // coalesces concurrent calls into one statement), and a path's code keeps getting faster for
      // its first thousand calls or so: after 200 concurrent calls, Skiplock's first 2,000
      // sequential enqueues ran at ~60 % of the rate of the next ones.
      const warmUpPerProducer = Math.ceil(config.s1WarmUp / config.s1Producers);
      for (let i = 1; i <= config.s1WarmUp; i++) await system.enqueueOne({ i: -i });
      await enqueueConcurrently(
        system,
        config.s1Producers,
        warmUpPerProducer,
        -config.s1WarmUp - config.s1Producers * warmUpPerProducer,
      );
      let start = now();
      for (let i = 0; i < config.s1Jobs; i++) await system.enqueueOne({ i });
      sequential.add(factory.name, factory.enqueueSettings, rate(config.s1Jobs, now() - start));
      const perProducer = Math.ceil(config.s1Jobs / config.s1Producers);
      start = now();
      await enqueueConcurrently(system, config.s1Producers, perProducer, config.s1Jobs);
      concurrent.add(factory.name, factory.enqueueSettings, rate(perProducer * config.s1Producers, now() - start));
    }),
  );
  return [sequential.done(), concurrent.done()];
}
