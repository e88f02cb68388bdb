import { CompiledQuery } from 'kysely';

/** Anything with pg's `query(text, values)`: a `pg.Client`, `pg.PoolClient` or `pg.Pool`. */
export interface PgQueryable {
  query(config: { text: string; values?: unknown[]; name?: string }): Promise<{ rows: unknown[] }>;
}

/** A Kysely instance or transaction (anything with `executeQuery`). */
export interface KyselyExecutor {
  executeQuery(query: CompiledQuery): Promise<{ rows: unknown[] }>;
}

/**
 * Where an enqueue runs. Pass the client or transaction your domain writes use and the job row
 * joins that transaction: commit and the job exists, roll back and it never did.
 */
export type Database = PgQueryable | KyselyExecutor;

/** The one way Skiplock's SQL reaches a connection, whatever the caller handed in. */
export interface Queryable {
  /**
   * Runs `text` with `params`. With `name`, a pg connection prepares the statement once and reuses
   * the plan (the name must be unique per text); Kysely runs it unnamed.
   */
  query<Row>(text: string, params: readonly unknown[], name?: string): Promise<Row[]>;
}

function isKysely(db: Database): db is KyselyExecutor {
  return typeof (db as Partial<KyselyExecutor>).executeQuery === 'function';
}

/** Wraps a pg client/pool or a Kysely instance/transaction. */
export function toQueryable(db: Database): Queryable {
  if (isKysely(db)) {
    return {
      async query<Row>(text: string, params: readonly unknown[]) {
        const result = await db.executeQuery(CompiledQuery.raw(text, [...params]));
        return result.rows as Row[];
      },
    };
  }
  return {
    query<Row>(text: string, params: readonly unknown[], name?: string) {
      // pg only reads `values`: no copy of what may be thousands of parameters.
      return db.query({ text, values: params as unknown[], name }).then((result) => result.rows as Row[]);
    },
  };
}
