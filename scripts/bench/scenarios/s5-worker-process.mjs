// S5's worker process. On `{ type: 'attach', schema }` it opens that migrated schema's system (and a
// connection, as S3's drain finds one open from the enqueue); on 'start' it runs a throughput worker
// there and tells the parent how many jobs it has run (at most every 5 ms); on 'stop' it stops the
// worker and reports the number (args.i) of every job it ran there; on 'exit' it exits. The parent
// starts it first on a warm-up schema, so that the timed drain runs on compiled code, as S3's
// (in the bench's own, long-running process) does.
import { systemByName } from '../systems/index.mjs';

const [name, databaseUrl, overridesJson] = process.argv.slice(2);
const factory = systemByName(/** @type {string} */ (name));
/** @type {import('../systems/system.mjs').System | undefined} */
let system;
/** @type {import('../systems/system.mjs').RunningWorker | undefined} */
let worker;
/** @type {number[]} */
let ran = [];
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

/** @param {{ type: string, schema?: string }} message */
async function handle(message) {
  if (message.type === 'attach') {
    system = factory.create(/** @type {string} */ (databaseUrl), /** @type {string} */ (message.schema));
    await system.pendingCount();
    process.send?.({ type: 'attached' });
  } else if (message.type === 'start') {
    if (!system) throw new Error("S5 worker process: 'start' before 'attach'");
    ran = [];
    worker = await system.startWorker(onJob, 'throughput', JSON.parse(overridesJson ?? '{}'));
    process.send?.({ type: 'started', settings: worker.settings });
  } else if (message.type === 'stop') {
    await worker?.stop();
    await system?.close();
    worker = undefined;
    system = undefined;
    clearTimeout(progress);
    progress = undefined;
    process.send?.({ type: 'stopped', ran });
  } else if (message.type === 'exit') {
    process.exit(0);
  }
}

process.on('message', (message) => void handle(/** @type {{ type: string, schema?: string }} */ (message)));
process.send?.({ type: 'ready' });
