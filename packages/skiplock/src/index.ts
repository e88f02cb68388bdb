/**
 * Skiplock: durable, transactional background jobs for TypeScript on PostgreSQL.
 *
 * @packageDocumentation
 */
export { Skiplock, type SkiplockOptions } from './skiplock.js';
export { envLogLevel } from './logger.js';
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
  type JobWithInput,
  type PerArgs,
  type RequestOptions,
} from './definition.js';
export type { JobDatabase, Register } from './context.js';
export type { ErrorClass, RetryRule } from './error-policy.js';
export type { EnqueueMiddleware, Middleware, MiddlewareOptions, PerformCall, PerformMiddleware } from './middleware.js';
export type { KyselyLike } from './transaction.js';
export type { Database, KyselyExecutor, PgQueryable } from './db.js';
export type { Duration } from './duration.js';
export { toMs, toTimerMs } from './duration.js';
export {
  Admin,
  type CancelResult,
  type JobDetails,
  type JobPage,
  type JobSummary,
  type ListJobsOptions,
  type QueueStats,
  type StoredError,
  type WorkerInfo,
} from './admin/admin.js';
export { JOB_STATES, type JobFilter, type JobState } from './admin/filter.js';
export type { PruneOptions, PruneResult, Retention } from './prune.js';
export {
  ConfigError,
  DiscardJob,
  EnqueueError,
  InvalidArgumentError,
  JobCancelledError,
  JobLeaseLostError,
  JobNotFoundError,
  JobPayloadError,
  JobStateError,
  JobTimeoutError,
  RetryJob,
  type RetryJobOptions,
  SchemaVersionError,
  SkiplockError,
  SnoozeJob,
  type SkiplockErrorCode,
} from './errors.js';
export type { JsonSafe, JsonValue } from './payload.js';
export { polynomialBackoff, type Backoff } from './retry-policy.js';
export type { MigrateResult } from './migrate.js';
export type { StopOptions, Worker, WorkerOptions } from './worker/worker.js';
export type { ErrorEntry } from './worker/outcome.js';
