// Runs a measurement on each system in a fresh schema, alternating the systems' order run by run.
import { dropSchemas, freshSchema } from './db.mjs';

/**
 * Creates `factory`'s system in a new schema, runs `fn` on it, then closes it and drops the schema.
 * @template T
 * @param {import('../systems/system.mjs').SystemFactory} factory
 * @param {string} databaseUrl
 * @param {(system: import('../systems/system.mjs').System) => Promise<T>} fn
 * @returns {Promise<T>}
 */
export async function withFreshSystem(factory, databaseUrl, fn) {
  const schema = freshSchema(`bench_${factory.name.replace(/[^a-z]+/g, '_')}`.replace(/_+$/, ''));
  const system = factory.create(databaseUrl, schema);
  try {
    await system.setup();
    return await fn(system);
  } finally {
    await system.close();
    await dropSchemas(databaseUrl, [schema]);
  }
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
