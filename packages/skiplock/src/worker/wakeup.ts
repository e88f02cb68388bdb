/**
 * A latch the fetch loop sleeps on. `notify()` before `wait()` is remembered, so a wake-up that
 * arrives while the loop is busy is not lost.
 */
export class Wakeup {
  #pending = false;
  #resolve: (() => void) | undefined;

  /** Wakes the waiter now, or the next one to wait. */
  notify(): void {
    if (this.#resolve) {
      const resolve = this.#resolve;
      this.#resolve = undefined;
      resolve();
    } else {
      this.#pending = true;
    }
  }

  /** Resolves on `notify()` or after `timeoutMs`, whichever comes first. */
  wait(timeoutMs: number): Promise<void> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#resolve = undefined;
        resolve();
      }, timeoutMs);
      this.#resolve = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
