// The interface every system adapter implements, so that scenarios never know which system they drive,
// and how a worker's settings are chosen from its factory's.

/**
 * Called by a worker for each job it runs; `args.i` numbers the job, `args.t` (when set) is the
 * `performance.now()` at which it was enqueued (same process).
 * @typedef {(args: { i: number, t?: number }) => void} OnJob
 */

/**
 * `throughput`: the best settings found for draining a backlog (S3, S5); `latency`: an idle worker
 * that should start a new job as soon as it is enqueued (S4, S6).
 * @typedef {'throughput' | 'latency'} WorkerProfile
 */

/**
 * @typedef {object} RunningWorker
 * @property {string} settings what the worker runs with, for the report
 * @property {() => Promise<void>} stop
 */

/**
 * @typedef {object} System
 * @property {string} name the row label in the report
 * @property {string} schema the schema this instance lives in
 * @property {() => Promise<void>} setup creates the schema and migrates it
 * @property {(args: { i: number, t?: number }) => Promise<void>} enqueueOne one job, one round trip
 * @property {(args: Array<{ i: number }>) => Promise<void>} enqueueMany many jobs in one call
 * @property {(onJob: OnJob, profile: WorkerProfile, overrides?: Record<string, number>) => Promise<RunningWorker>} startWorker
 * @property {() => Promise<number>} pendingCount jobs enqueued but not yet recorded as finished
 * @property {(finished: number, scheduled: number) => Promise<void>} seedLarge S6: finished and scheduled rows, written by SQL
 * @property {() => Promise<void>} close closes connections (the schema stays)
 */

/**
 * @typedef {object} SystemFactory
 * @property {string} name
 * @property {string} enqueueSettings how enqueue is done, for the report
 * @property {Record<string, number>} throughput the worker settings for draining a backlog (S3, S5):
 *   the best found here, replaced by the best of `sweep` when a full run sweeps
 * @property {Array<Record<string, number>>} sweep the settings S3's sweep tries, each over `throughput`
 * @property {Record<string, number>} latency the worker settings of an idle worker (S4, S6)
 * @property {Record<string, number>} perProcess what S5's processes change of `throughput`
 * @property {(databaseUrl: string, schema: string) => System} create
 */

/**
 * The settings a worker of `factory`'s system runs with: its profile's, then `overrides`.
 * @param {SystemFactory} factory
 * @param {WorkerProfile} profile
 * @param {Record<string, number>} [overrides]
 */
export const workerSettings = (factory, profile, overrides = {}) => ({
  ...(profile === 'throughput' ? factory.throughput : factory.latency),
  ...overrides,
});
