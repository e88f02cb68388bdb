import type pg from 'pg';
import type { Logger } from 'pino';
import type { JsonValue } from './payload.js';

/**
 * Declaration-merge your database type here once, and every handler's `ctx.db` has it:
 *
 * @example
 * declare module 'skiplock' {
 *   interface Register { db: Kysely<Database> }
 * }
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface Register {}

/**
 * What `ctx.db` is: the type registered in {@link Register} (a Kysely instance or transaction of
 * yours), else a pg pool (or, for transactional jobs, the pg client holding the transaction).
 */
export type JobDatabase = Register extends { db: infer D } ? D : pg.Pool | pg.PoolClient;

/** What a handler receives besides its arguments. */
export interface JobContext {
  /** The job's id (a bigint, as a string). */
  readonly id: string;
  /** The job's name (its definition's, even when the row carries an alias). */
  readonly name: string;
  /** The queue the job was claimed from. */
  readonly queue: string;
  /** This attempt's number: 1 on the first run. */
  readonly attempt: number;
  /** The row's max_attempts. */
  readonly maxAttempts: number;
  /** Aborted at the job's timeout, when an operator cancels it, or when the worker gives up waiting for it at shutdown. */
  readonly signal: AbortSignal;
  /** A child logger carrying jobId, name, queue and attempt. */
  readonly logger: Logger;
  /** The row's metadata. */
  readonly metadata: Record<string, JsonValue>;
  /**
   * The database: for a `transactional` job, the transaction in which its completion is also
   * written (commit together, or not at all); otherwise Skiplock's `db` (or its pool).
   */
  readonly db: JobDatabase;
}
