// Runs a measurement on each system in a fresh schema, alternating the systems' order run by run
// (or block by block, side by side).
import { dropSchemas, freshSchema, now } from './db.mjs';

/**
 * Creates `factory`'s system in a new schema, runs `fn` on it, then closes it and drops the schema.
 * @template T
 * @param {import('../systems/system.mjs').SystemFactory} factory
 * @param {string} databaseUrl
 * @param {(system: import('../systems/system.mjs').System) => Promise<T>} fn
 * @returns {Promise<T>}
 */
export function withFreshSystem(factory, databaseUrl, fn) {
  return withFreshSystems([factory], databaseUrl, ([system]) =>
    fn(/** @type {import('../systems/system.mjs').System} */ (system)),
  );
}

/**
 * Creates each factory's system in a new schema, all open at once, runs `fn` on them (in the
 * factories' order), then closes them and drops their schemas.
 * @template T
 * @param {import('../systems/system.mjs').SystemFactory[]} factories
 * @param {string} databaseUrl
 * @param {(systems: import('../systems/system.mjs').System[]) => Promise<T>} fn
 * @returns {Promise<T>}
 */
export async function withFreshSystems(factories, databaseUrl, fn) {
  /** @type {import('../systems/system.mjs').System[]} */
  const systems = [];
  try {
    for (const factory of factories) {
      const schema = freshSchema(`bench_${factory.name.replace(/[^a-z]+/g, '_')}`.replace(/_+$/, ''));
      const system = factory.create(databaseUrl, schema);
      systems.push(system);
      await system.setup();
    }
    return await fn(systems);
  } finally {
    for (const system of systems) await system.close();
    await dropSchemas(
      databaseUrl,
      systems.map((system) => system.schema),
    );
  }
}

/**
 * Runs `block(system, round)` on every system, round after round, round r starting with system
 * (first + r) mod n, and returns each system's time in its blocks (ms), in the systems' order.
 * Blocks of a few hundred milliseconds side by side see the same state of the host: whole runs one
 * after another did not (a 2-core VM's speed drifts over seconds, and S1's ratios swung with it).
 * @param {import('../systems/system.mjs').System[]} systems
 * @param {number} rounds
 * @param {number} first
 * @param {(system: import('../systems/system.mjs').System, round: number) => Promise<void>} block
 */
export async function interleave(systems, rounds, first, block) {
  const elapsed = systems.map(() => 0);
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < systems.length; k++) {
      const index = (first + round + k) % systems.length;
      const start = now();
      await block(/** @type {import('../systems/system.mjs').System} */ (systems[index]), round);
      elapsed[index] += now() - start;
    }
  }
  return elapsed;
}

/**
 * Calls `measure` for every (run, system): run r starts with system r mod n, so no system is always
 * first (or always right after the heaviest one).
 * @param {number} runs
 * @param {import('../systems/system.mjs').SystemFactory[]} factories
 * @param {(factory: import('../systems/system.mjs').SystemFactory, run: number) => Promise<void>} measure
 */
export async function alternate(runs, factories, measure) {
  for (let run = 0; run < runs; run++) {
    for (let k = 0; k < factories.length; k++) {
      const factory = /** @type {import('../systems/system.mjs').SystemFactory} */ (
        factories[(run + k) % factories.length]
      );
      log(`  run ${run + 1}/${runs} ${factory.name}`);
      await measure(factory, run);
    }
  }
}

/** Progress on stderr, so stdout is only the Markdown report. @param {string} line */
export function log(line) {
  process.stderr.write(`${line}\n`);
}

/**
 * Resolves when `count` jobs have been handled; `onJob` is the handler to give the worker.
 * @param {number} count
 */
export function jobCounter(count) {
  let seen = 0;
  /** @type {(value?: unknown) => void} */
  let resolve = () => undefined;
  const done = new Promise((r) => (resolve = r));
  if (count === 0) resolve();
  return {
    done,
    get seen() {
      return seen;
    },
    onJob: () => {
      if (++seen === count) resolve();
    },
  };
}
