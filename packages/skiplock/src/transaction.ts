import type pg from 'pg';
import type { JobDatabase } from './context.js';
import { toQueryable, type KyselyExecutor, type Queryable } from './db.js';
import { withClient } from './pool-client.js';

/** A Kysely instance: what `transaction().execute` needs. */
export interface KyselyLike extends KyselyExecutor {
  transaction(): { execute<T>(fn: (trx: KyselyExecutor) => Promise<T>): Promise<T> };
}

/**
 * Runs `fn` in a transaction: `db` is what the handler sees as `ctx.db`, `queryable` the same
 * connection for Skiplock's own statements. Commits when `fn` resolves, rolls back when it throws.
 */
export type TransactionRunner = (fn: (db: JobDatabase, queryable: Queryable) => Promise<void>) => Promise<void>;

/** Transactions through the instance's Kysely (`db` option) when given, else through a pg pool client. */
export function transactionRunner(pool: pg.Pool, kysely: KyselyLike | undefined): TransactionRunner {
  if (kysely) {
    return (fn) => kysely.transaction().execute((trx) => fn(trx as unknown as JobDatabase, toQueryable(trx)));
  }
  return (fn) =>
    withClient(pool, async (client) => {
      await client.query('BEGIN');
      try {
        await fn(client, toQueryable(client));
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
    });
}
