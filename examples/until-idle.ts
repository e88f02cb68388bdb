// Shared by the examples: wait until no job is waiting or running (the examples then exit).
import type { Skiplock } from 'skiplock';

/** Resolves once every queue is empty of available, scheduled, running and retryable jobs. */
export async function untilIdle(skiplock: Skiplock, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const stats = await skiplock.admin.stats();
    if (stats.every((q) => q.available + q.scheduled + q.running + q.retryable === 0)) return;
    if (Date.now() > deadline) throw new Error(`jobs still pending after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
