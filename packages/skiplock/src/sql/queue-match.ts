/**
 * The condition that a job is in queue `param` (a placeholder such as `$5`), written for the claim
 * indexes, which lead with `hashtext(queue)` (migration 0008): by hash for the index, by name for
 * the rare other queue with the same hash. The migration's statistics tell the planner that the two
 * say the same thing.
 */
export function inQueue(param: string): string {
  return `hashtext(queue) = hashtext(${param}) AND queue = ${param}`;
}

/** {@link inQueue} for any of the queues of the text array `param`. */
export function inQueues(param: string): string {
  return `hashtext(queue) = ANY(ARRAY(SELECT hashtext(q) FROM unnest(${param}::text[]) q)) AND queue = ANY(${param}::text[])`;
}
