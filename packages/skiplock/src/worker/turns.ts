/**
 * Runs tasks one at a time, each after the one asked for before it has settled (resolved or
 * rejected). A worker's claim loops take turns at the database through one of these.
 */
export class Turns {
  #last: Promise<unknown> = Promise.resolve();

  /** Runs `task` once every task asked for before it has settled; settles as it does. */
  take<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#last.then(task);
    this.#last = result.catch(() => undefined);
    return result;
  }
}
