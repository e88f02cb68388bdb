// S5's worker process: attaches to a migrated schema, runs a throughput worker on 'go', and on
// 'stop' reports the number (args.i) of every job it ran.
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

process.on('message', (message) => {
  void (async () => {
    if (message === 'go') {
      worker = await system.startWorker((args) => ran.push(args.i), 'throughput', JSON.parse(overridesJson ?? '{}'));
      process.send?.({ type: 'started', settings: worker.settings });
    } else if (message === 'stop') {
      await worker?.stop();
      await system.close();
      process.send?.({ type: 'ran', ran }, () => process.exit(0));
    }
  })();
});
process.send?.({ type: 'ready' });
