// S5's worker process: attaches to a migrated schema, runs a throughput worker on 'go', tells the
// parent how many jobs it has run (at most every 5 ms), and on 'stop' reports the number (args.i) of
// every job it ran.
import { systemByName } from '../systems/index.mjs';

const [name, schema, databaseUrl, overridesJson] = process.argv.slice(2);
const system = systemByName(/** @type {string} */ (name)).create(
  /** @type {string} */ (databaseUrl),
  /** @type {string} */ (schema),
);
/** @type {number[]} */
const ran = [];
/** @type {import('../systems/system.mjs').RunningWorker | undefined} */
let worker;
/** @type {NodeJS.Timeout | undefined} */
let progress;

/** @param {{ i: number }} args */
function onJob(args) {
  ran.push(args.i);
  progress ??= setTimeout(() => {
    progress = undefined;
    process.send?.({ type: 'progress', count: ran.length });
  }, 5);
}

process.on('message', (message) => {
  void (async () => {
    if (message === 'go') {
      worker = await system.startWorker(onJob, 'throughput', JSON.parse(overridesJson ?? '{}'));
      process.send?.({ type: 'started', settings: worker.settings });
    } else if (message === 'stop') {
      await worker?.stop();
      await system.close();
      process.send?.({ type: 'ran', ran }, () => process.exit(0));
    }
  })();
});
process.send?.({ type: 'ready' });
