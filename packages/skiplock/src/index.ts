/**
 * Skiplock: durable, transactional background jobs for TypeScript on PostgreSQL.
 *
 * @packageDocumentation
 */
export { Skiplock, type SkiplockOptions } from './skiplock.js';
export {
  defineJob,
  isJobDefinition,
  JOB_BRAND,
  type AnyJobDefinition,
  type EnqueueOptions,
  type EnqueueResult,
  type JobContext,
  type JobDefinition,
  type JobOptions,
  type JobRequest,
} from './definition.js';
export type { Database, KyselyExecutor, PgQueryable } from './db.js';
export type { Duration } from './duration.js';
export { toMs } from './duration.js';
export {
  ConfigError,
  DiscardJob,
  EnqueueError,
  JobPayloadError,
  JobTimeoutError,
  RetryJob,
  SchemaVersionError,
  SkiplockError,
  type SkiplockErrorCode,
} from './errors.js';
export type { JsonValue } from './payload.js';
export { polynomialBackoff, type Backoff } from './retry-policy.js';
export type { MigrateResult } from './migrate.js';
export type { StopOptions, Worker, WorkerOptions } from './worker/worker.js';
export type { ErrorEntry } from './worker/outcome.js';
