import type pg from 'pg';
import type { Logger } from 'pino';
import type { AnyJobDefinition } from '../definition.js';
import { inTransaction } from '../pool-client.js';
import type { ClaimedRow } from '../sql/claim.js';
import { NOTIFY_QUEUES_SQL, rescueSql, TRY_MAINTENANCE_LOCK_SQL } from '../sql/lease.js';
import { forgetDeadWorkersSql } from '../sql/workers.js';
import { afterDiscardOutsideAttempt } from './executor.js';
import type { WorkerEnvironment } from './worker.js';

/** What a rescue run needs of the worker it runs in. */
export interface RescueContext {
  /** `env.db` is `ctx.db` of an `afterDiscard` run for a rescued job. */
  env: Pick<WorkerEnvironment, 'pool' | 'schema' | 'quotedSchema' | 'jobsChannel' | 'db'>;
  /** Lease in ms per job name the worker runs: only rows of these names are rescued here. */
  leases: ReadonlyMap<string, number>;
  /** The worker's definitions by name (and alias): a discarded job's `afterDiscard` runs here. */
  definitions: ReadonlyMap<string, AnyJobDefinition>;
  logger: Logger;
}

/** A job rescue took back (or gave up). */
type RescuedRow = Pick<
  ClaimedRow,
  'id' | 'name' | 'queue' | 'args' | 'attempt' | 'max_attempts' | 'metadata' | 'version'
> & {
  state: string;
  locked_by: string | null;
};

/**
 * One rescue run: if no other worker of the schema holds the rescue lock, takes back running jobs
 * whose lease expired (see `rescueSql`), forgets workers long silent, and wakes the replicas serving
 * the rescued jobs' queues. A job given up here (its last attempt lost its lease) has its
 * `afterDiscard` run by this worker, after the commit.
 */
export async function rescue(ctx: RescueContext): Promise<void> {
  const rescued = await inTransaction(ctx.env.pool, async (client) => {
    const lock = await client.query<{ locked: boolean }>(TRY_MAINTENANCE_LOCK_SQL, [
      `skiplock.rescue:${ctx.env.schema}`,
    ]);
    return lock.rows[0]?.locked ? await rescueExpired(ctx, client) : [];
  });
  // Once the discard is committed: a hook never runs for a discard rolled back, nor sees it undone.
  for (const row of rescued) if (row.state === 'discarded') afterRescueDiscard(ctx, row);
}

/**
 * Under the rescue lock: takes back expired leases and wakes the replicas serving their queues.
 * Returns the rows it changed.
 */
async function rescueExpired(ctx: RescueContext, client: pg.PoolClient): Promise<RescuedRow[]> {
  const { env, leases, logger } = ctx;
  const rescued = await client.query<RescuedRow>(rescueSql(env.quotedSchema), [1000, [...leases.keys()]]);
  // Generous: a live worker whose row went anyway re-creates it at its next heartbeat.
  await client.query(forgetDeadWorkersSql(env.quotedSchema), [Math.max(600_000, 3 * Math.max(...leases.values()))]);
  for (const row of rescued.rows) {
    logger.warn(
      { jobId: row.id, name: row.name, queue: row.queue, state: row.state },
      'rescued a job whose lease expired',
    );
  }
  const queues = [...new Set(rescued.rows.filter((row) => row.state === 'available').map((row) => row.queue))];
  // Wake every replica serving those queues, not only this one.
  if (queues.length > 0) await client.query(NOTIFY_QUEUES_SQL, [env.jobsChannel, queues]);
  return rescued.rows;
}

/** A job whose last attempt lost its lease is given up here: its afterDiscard runs on this worker. */
function afterRescueDiscard(ctx: RescueContext, row: RescuedRow): void {
  const definition = ctx.definitions.get(row.name);
  if (!definition?.hooks.afterDiscard) return;
  const error = new Error(`lease expired on worker ${row.locked_by ?? 'unknown'}`);
  error.name = 'LeaseExpired';
  void afterDiscardOutsideAttempt(definition, row, error, ctx.logger, ctx.env.db);
}
