/**
 * Programmatic pieces of the Skiplock CLI.
 *
 * @packageDocumentation
 */
export { startEmbeddedPostgres, type EmbeddedPostgresOptions, type RunningPostgres } from './embedded-postgres.js';
export { loadJobs } from './load-jobs.js';
