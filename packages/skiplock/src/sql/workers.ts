/** Registers worker `$1` serving queues `$2` on host `$3`, pid `$4`. */
export function registerWorkerSql(schema: string): string {
  return `
INSERT INTO ${schema}.workers (id, queues, host, pid) VALUES ($1, $2, $3, $4)
ON CONFLICT (id) DO UPDATE SET last_heartbeat_at = now()`;
}

/** Removes worker `$1` at a clean stop. */
export function deregisterWorkerSql(schema: string): string {
  return `DELETE FROM ${schema}.workers WHERE id = $1`;
}

/** Forgets workers silent for longer than `$1` ms (they died without deregistering). */
export function forgetDeadWorkersSql(schema: string): string {
  return `DELETE FROM ${schema}.workers WHERE last_heartbeat_at < now() - $1 * interval '1 millisecond'`;
}
