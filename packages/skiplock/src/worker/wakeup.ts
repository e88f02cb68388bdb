/**
 * A latch the claim loops sleep on. Every `notify()` starts a new epoch and wakes one waiter, the
 * one asleep longest: one claim is enough to learn whether there is more work, and a claim that
 * comes back full notifies again, waking the next loop (a single job's wake-up costs one claim,
 * not one per loop). A loop passes the epoch it saw before its claim, so a wake-up that came while
 * it was busy (another loop may have been the only one asleep) makes its wait return at once
 * instead of being lost.
 */
export class Wakeup {
  #epoch = 0;
  #closed = false;
  #waiters: Array<() => void> = [];

  /** Counts notifications: read it before a claim, pass it to {@link wait} after. */
  get epoch(): number {
    return this.#epoch;
  }

  /** Wakes one waiter now; later waits that saw an earlier epoch return at once. */
  notify(): void {
    this.#epoch += 1;
    this.#waiters.shift()?.();
  }

  /**
   * Wakes every waiter, and every later `wait()` returns at once: a stopping worker's claim loops
   * must not sleep, including one busy in a claim while the others were woken.
   */
  close(): void {
    this.#closed = true;
    this.#epoch += 1;
    const woken = this.#waiters;
    this.#waiters = [];
    for (const wake of woken) wake();
  }

  /**
   * Resolves on `notify()` or after `timeoutMs`, whichever comes first; at once if a notification
   * came since epoch `seen`, or after `close()`.
   */
  wait(timeoutMs: number, seen: number): Promise<void> {
    if (this.#closed || this.#epoch !== seen) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((waiter) => waiter !== wake);
        resolve();
      }, timeoutMs);
      this.#waiters.push(wake);
    });
  }
}
