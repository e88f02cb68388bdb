// S1: single-job enqueue, one call per job: sequentially, then from 10 concurrent producers.
import { now } from '../lib/db.mjs';
import { measurement } from '../lib/results.mjs';
import { alternate, withFreshSystem } from '../lib/runner.mjs';
import { rate } from '../lib/stats.mjs';
import { QUEUES, RAW, RAW_NO_NOTIFY } from '../systems/index.mjs';

/** Enqueues warming up each system before it is timed, per producer. */
const WARM_UP_PER_PRODUCER = 20;

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
      // Untimed warm-up: every producer's connection opened, statements prepared, code compiled.
      await enqueueConcurrently(
        system,
        config.s1Producers,
        WARM_UP_PER_PRODUCER,
        -config.s1Producers * WARM_UP_PER_PRODUCER,
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
