// Enqueue→start latency against an idle, listening worker (S4, and S6 on a large table).
import { now } from './db.mjs';

/**
 * Enqueues `samples` jobs one at a time, each after the worker has gone idle, and returns for each
 * the time the enqueue call took and the time from the call until the handler started (ms).
 * @param {import('../systems/system.mjs').System} system
 * @param {number} samples
 */
export async function measureLatency(system, samples) {
  /** @type {Map<number, (t: number) => void>} */
  const waiting = new Map();
  const worker = await system.startWorker((args) => waiting.get(args.i)?.(now()), 'latency');
  try {
    await new Promise((resolve) => setTimeout(resolve, 300)); // let the worker reach its idle wait
    /** @type {number[]} */
    const enqueueMs = [];
    /** @type {number[]} */
    const startMs = [];
    for (let i = 0; i < samples; i++) {
      const started = new Promise((resolve) => waiting.set(i, resolve));
      const t0 = now();
      await system.enqueueOne({ i, t: t0 });
      enqueueMs.push(now() - t0);
      const t1 = /** @type {number} */ (await started);
      startMs.push(t1 - t0);
      waiting.delete(i);
      await new Promise((resolve) => setTimeout(resolve, 15 + Math.random() * 15));
    }
    return { enqueueMs, startMs, settings: worker.settings };
  } finally {
    await worker.stop();
  }
}
