/**
 * Counts promises still running, so that a shutdown can wait for them: one reaction per promise
 * and a counter, instead of a set of settled copies.
 */
export class InFlight {
  #count = 0;
  #idle: (() => void) | undefined;
  #waiting: Promise<void> | undefined;
  readonly #done = (): void => {
    this.#count -= 1;
    if (this.#count === 0 && this.#idle) {
      this.#idle();
      this.#idle = undefined;
      this.#waiting = undefined;
    }
  };

  /** Counts `promise` until it settles, and returns it. */
  track<T>(promise: Promise<T>): Promise<T> {
    this.#count += 1;
    promise.then(this.#done, this.#done);
    return promise;
  }

  /** Resolves once every promise tracked so far (and any tracked meanwhile) has settled. */
  settled(): Promise<void> {
    if (this.#count === 0) return Promise.resolve();
    return (this.#waiting ??= new Promise<void>((resolve) => (this.#idle = resolve)));
  }
}
