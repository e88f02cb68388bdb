// S1: single-job enqueue, one call per job: sequentially, then from 10 concurrent producers. The
// systems run side by side, in interleaved blocks (see `interleave`).
import { measurement } from '../lib/results.mjs';
import { interleave, log, withFreshSystems } from '../lib/runner.mjs';
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

/**
 * Untimed warm-up of both ways of enqueueing: every producer's connection opened, statements
 * prepared, code compiled. A lone enqueue and concurrent ones take different paths (Skiplock
 * coalesces concurrent calls into one statement), and a path's code keeps getting faster for its
 * first thousand calls or so: after 200 concurrent calls, Skiplock's first 2,000 sequential
 * enqueues ran at ~60 % of the rate of the next ones.
 * @param {import('../systems/system.mjs').System} system
 * @param {import('../lib/config.mjs').Config} config
 */
async function warmUp(system, config) {
  const perProducer = Math.ceil(config.s1WarmUp / config.s1Producers);
  for (let i = 1; i <= config.s1WarmUp; i++) await system.enqueueOne({ i: -i });
  await enqueueConcurrently(
    system,
    config.s1Producers,
    perProducer,
    -config.s1WarmUp - config.s1Producers * perProducer,
  );
}

/** @param {import('../lib/config.mjs').Config} config */
export async function runS1(config) {
  const rounds = config.s1Rounds;
  const perRound = Math.ceil(config.s1Jobs / rounds);
  const perProducer = Math.ceil(perRound / config.s1Producers);
  const note = `Systems side by side: each run opens them all, warms each up, then ${rounds} rounds in which each enqueues ${perRound.toLocaleString('en-US')} jobs in turn (the order rotating), timed per system.`;
  const sequential = measurement({
    id: 'S1seq',
    title: `S1 single enqueue, sequential (${(perRound * rounds).toLocaleString('en-US')} jobs, after a warm-up)`,
    unit: 'jobs/s',
    note,
  });
  const concurrent = measurement({
    id: 'S1conc',
    title: `S1 single enqueue, ${config.s1Producers} concurrent producers (${(perProducer * config.s1Producers * rounds).toLocaleString('en-US')} jobs, after a warm-up)`,
    unit: 'jobs/s',
    note,
  });
  const factories = [...QUEUES, RAW, RAW_NO_NOTIFY];
  for (let run = 0; run < config.runs; run++) {
    log(`  run ${run + 1}/${config.runs}: ${factories.map((f) => f.name).join(', ')} side by side`);
    await withFreshSystems(factories, config.databaseUrl, async (systems) => {
      for (const system of systems) await warmUp(system, config);
      const alone = await interleave(systems, rounds, run, async (system, round) => {
        for (let i = 0; i < perRound; i++) await system.enqueueOne({ i: round * perRound + i });
      });
      const together = await interleave(systems, rounds, run, (system, round) =>
        enqueueConcurrently(
          system,
          config.s1Producers,
          perProducer,
          rounds * perRound + round * perProducer * config.s1Producers,
        ),
      );
      for (const [k, factory] of factories.entries()) {
        sequential.add(factory.name, factory.enqueueSettings, rate(perRound * rounds, alone[k] ?? NaN));
        concurrent.add(
          factory.name,
          factory.enqueueSettings,
          rate(perProducer * config.s1Producers * rounds, together[k] ?? NaN),
        );
      }
    });
  }
  return [sequential.done(), concurrent.done()];
}
