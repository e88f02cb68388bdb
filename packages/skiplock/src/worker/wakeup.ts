/**
 * A latch the claim loops sleep on. `notify()` wakes every waiter; one that arrives while no loop
 * waits is remembered, so a wake-up that comes while the loops are busy is not lost.
 */
export class Wakeup {
  #pending = false;
  #closed = false;
  #waiters: Array<() => void> = [];

  /** Wakes the waiters now, or the next one to wait. */
  notify(): void {
    if (this.#waiters.length === 0) {
      this.#pending = true;
      return;
    }
    const woken = this.#waiters;
    this.#waiters = [];
    for (const wake of woken) wake();
  }

  /**
   * Wakes every waiter, and every later `wait()` returns at once: a stopping worker's claim loops
   * must not sleep, including one busy in a claim while the others were woken.
   */
  close(): void {
    this.#closed = true;
    this.notify();
  }

  /** Resolves on `notify()` or after `timeoutMs`, whichever comes first (at once after `close()`). */
  wait(timeoutMs: number): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve();
    }
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
