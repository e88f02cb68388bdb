import type pg from 'pg';
import { toMs, type Duration } from './duration.js';
import { pruneBatchSql } from './sql/prune.js';

/** How long finished jobs are kept before pruning deletes them; `false` keeps them forever. */
export interface Retention {
  /** Completed jobs ('1d'). */
  completed?: Duration | false;
  /** Discarded jobs ('14d'). */
  discarded?: Duration | false;
  /** Cancelled jobs ('14d'). */
  cancelled?: Duration | false;
}

/** Retention in ms per finished state; null keeps forever. */
export interface RetentionMs {
  completed: number | null;
  discarded: number | null;
  cancelled: number | null;
}

const DEFAULTS = { completed: '1d', discarded: '14d', cancelled: '14d' } as const;

/** Resolves a retention (defaults: completed 1 day, discarded and cancelled 14 days). */
export function retentionMs(retention: Retention = {}): RetentionMs {
  const resolve = (state: keyof Retention): number | null => {
    const value = retention[state] ?? DEFAULTS[state];
    return value === false ? null : toMs(value, `retention.${state}`);
  };
  return { completed: resolve('completed'), discarded: resolve('discarded'), cancelled: resolve('cancelled') };
}

/** What a prune did. */
export interface PruneResult {
  /** Jobs deleted. */
  deleted: number;
  /** False when another pruner (a worker, or a manual prune) was at work, so this one did nothing. */
  ran: boolean;
}

/** Options of a prune run. */
export interface PruneOptions {
  /** Rows deleted per statement (1000): each batch is its own short transaction. */
  batchSize?: number;
  /** Stop between batches once this is aborted (a worker shutting down). */
  signal?: AbortSignal;
}

/** What one prune batch reports (see `pruneBatchSql`). */
interface PruneBatch {
  locked: boolean;
  deleted: number;
  last: string | null;
}

/**
 * Deletes finished jobs past `retention` in small batches, each its own transaction holding row
 * locks only on the rows it deletes, until none is left. One pruner runs at a time per schema.
 */
export async function prune(
  pool: pg.Pool,
  schema: { name: string; quoted: string },
  retention: RetentionMs,
  options: PruneOptions = {},
): Promise<PruneResult> {
  const batchSize = options.batchSize ?? 1000;
  const sql = pruneBatchSql(schema.quoted);
  const lockKey = `skiplock.prune:${schema.name}`;
  let deleted = 0;
  let from: string | null = null;
  for (;;) {
    const result: pg.QueryResult<PruneBatch> = await pool.query<PruneBatch>(sql, [
      lockKey,
      retention.completed,
      retention.discarded,
      retention.cancelled,
      batchSize,
      from,
    ]);
    const batch: PruneBatch = result.rows[0] ?? { locked: false, deleted: 0, last: null };
    if (!batch.locked) return { deleted, ran: deleted > 0 };
    deleted += batch.deleted;
    if (batch.deleted < batchSize || options.signal?.aborted) return { deleted, ran: true };
    from = batch.last;
  }
}
