// The jobs the scenarios enqueue: numbered no-op arguments, in bulk calls.

/** One call's jobs: `size` of them, numbered from `first`. */
export const jobsFrom = (/** @type {number} */ first, /** @type {number} */ size) =>
  Array.from({ length: size }, (_, k) => ({ i: first + k }));

/** Enqueues `total` jobs in calls of `chunk`. @param {import('../systems/system.mjs').System} system */
export async function enqueueInChunks(system, /** @type {number} */ total, /** @type {number} */ chunk) {
  for (let offset = 0; offset < total; offset += chunk) {
    await system.enqueueMany(jobsFrom(offset, Math.min(chunk, total - offset)));
  }
}
