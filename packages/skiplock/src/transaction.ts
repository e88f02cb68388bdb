import type pg from 'pg';
import type { CompiledQuery, KyselyPlugin } from 'kysely';
import type { JobDatabase } from './context.js';
import { toQueryable, type KyselyExecutor, type Queryable } from './db.js';
import { cancelRunningQuery, withClient } from './pool-client.js';

/** A Kysely transaction: runs queries, and can be given a plugin (see {@link transactionRunner}). */
interface KyselyTransaction extends KyselyExecutor {
  withPlugin(plugin: KyselyPlugin): KyselyExecutor;
}

/** A Kysely instance: what `transaction().execute` needs. */
export interface KyselyLike extends KyselyExecutor {
  transaction(): { execute<T>(fn: (trx: KyselyTransaction) => Promise<T>): Promise<T> };
}

/**
 * Runs `fn` in a transaction: `db` is what the handler sees as `ctx.db`, `queryable` the same
 * connection for Skiplock's own statements. Commits when `fn` resolves, rolls back when it throws.
 * When `interrupted` rejects while the handler runs (the attempt timed out or was cancelled), the
 * caller's race makes `fn` reject at once, this settles then, and the transaction is rolled back (a pg client's at once, its query cancelled;
 * Kysely's after the handler's query in flight), and `db` runs nothing more: a handler that goes on
 * regardless cannot write outside the transaction, or inside another job's on the same connection.
 */
export type TransactionRunner = (
  fn: (db: JobDatabase, queryable: Queryable) => Promise<void>,
  interrupted: Promise<never>,
) => Promise<void>;

/** Transactions through the instance's Kysely (`db` option) when given, else through a pg pool client. */
export function transactionRunner(pool: pg.Pool, kysely: KyselyLike | undefined): TransactionRunner {
  if (kysely) {
    return (fn, interrupted) => {
      const guard = refusingOnceRejected(interrupted);
      let failed: (error: unknown) => void = () => undefined;
      const fnFailed = new Promise<never>((_, reject) => (failed = reject));
      fnFailed.catch(() => undefined);
      const transaction = kysely.transaction().execute(async (trx) => {
        try {
          await fn(guard(trx), toQueryable(trx));
        } catch (error) {
          // Settles the attempt now: Kysely's ROLLBACK waits behind the handler's query in flight.
          // (Only a failure: an interrupt during the commit leaves the outcome to the commit.)
          failed(error);
          throw error;
        }
      });
      return Promise.race([transaction, fnFailed]);
    };
  }
  return (fn, interrupted) =>
    withClient(pool, async (client, discard) => {
      const interruption = interruptionOf(interrupted);
      await client.query('BEGIN');
      try {
        await fn(client, toQueryable(client));
        await client.query('COMMIT');
      } catch (error) {
        const reason = interruption();
        if (reason === undefined) {
          await client.query('ROLLBACK').catch(() => undefined);
        } else {
          // Not ROLLBACK, which would wait for the handler's query in flight and leave the client
          // usable: its query is cancelled and its connection closed (the server rolls back).
          void cancelRunningQuery(pool, client);
          discard(reason);
        }
        throw error;
      }
    });
}

/**
 * What the handler gets as `ctx.db` from a Kysely transaction: the transaction, failing every query
 * after `interrupted` rejected, with its reason. Queries Kysely compiles go through a plugin;
 * precompiled ones (`executeQuery`, which Skiplock's own enqueue through `ctx.db` uses) skip plugins
 * and are refused by a proxy. Kysely itself refuses them only once its rollback has finished.
 */
function refusingOnceRejected(interrupted: Promise<never>): (trx: KyselyTransaction) => JobDatabase {
  const interruption = interruptionOf(interrupted);
  const plugin: KyselyPlugin = {
    transformQuery(args) {
      const reason = interruption();
      if (reason) throw reason;
      return args.node;
    },
    transformResult: (args) => Promise.resolve(args.result),
  };
  return (trx) =>
    new Proxy(trx.withPlugin(plugin), {
      get(target, property) {
        if (property === 'executeQuery') {
          return (query: CompiledQuery) => {
            const reason = interruption();
            return reason ? Promise.reject(reason) : target.executeQuery(query);
          };
        }
        const value: unknown = Reflect.get(target, property, target);
        // Kysely's methods read private fields: called on the transaction itself, not the proxy.
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    }) as unknown as JobDatabase;
}

/** Follows `interrupted`: the reason it rejected with, once it has (undefined before). */
function interruptionOf(interrupted: Promise<never>): () => Error | undefined {
  let reason: Error | undefined;
  interrupted.catch((error: unknown) => (reason = error instanceof Error ? error : new Error('interrupted')));
  return () => reason;
}
