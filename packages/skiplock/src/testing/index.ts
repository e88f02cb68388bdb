/**
 * Test helpers for your own suites: an in-memory adapter for unit tests, and database-backed
 * expectations and a drain for integration tests (they work inside a test's rolled-back
 * transaction).
 *
 * @packageDocumentation
 */
export { TestAdapter, type EnqueuedJob, type PerformEnqueuedOptions, type TestAdapterOptions } from './adapter.js';
export {
  drain,
  expectEnqueued,
  expectNotEnqueued,
  type DrainOptions,
  type DrainResult,
  type EnqueuedExpectation,
  type EnqueuedRow,
} from './database.js';
export { runJob, type RunJobResult } from './run-job.js';
