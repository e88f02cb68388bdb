/** Removes worker `$1` at a clean stop. */
export function deregisterWorkerSql(schema: string): string {
  return `DELETE FROM ${schema}.workers WHERE id = $1`;
}

/** Forgets workers silent for longer than `$1` ms (they died without deregistering). */
export function forgetDeadWorkersSql(schema: string): string {
  return `DELETE FROM ${schema}.workers WHERE last_heartbeat_at < now() - $1 * interval '1 millisecond'`;
}
