import type { Database } from './db.js';
import type { EnqueueResult, JobRequest } from './definition.js';
import { ConfigError } from './errors.js';
import type { InlineEnvironment } from './perform.js';

/** What `performLater` and `performNow` need from a Skiplock instance (or the test adapter). */
export interface Enqueuer {
  enqueueOne(request: JobRequest, db: Database | undefined): Promise<EnqueueResult>;
  /** Middleware, logger and db for `performNow`. */
  readonly inline?: InlineEnvironment;
}

let current: Enqueuer | undefined;

/** Makes `enqueuer` the one `performLater` uses (the first `new Skiplock` does this). */
export function setDefaultEnqueuer(enqueuer: Enqueuer | undefined): void {
  current = enqueuer;
}

/** The current default, if any. */
export function currentDefaultEnqueuer(): Enqueuer | undefined {
  return current;
}

/** The error for a `performLater` with neither a `db` nor a Skiplock instance to use. */
export function missingInstanceError(jobName: string): ConfigError {
  return new ConfigError(
    `job "${jobName}": performLater needs { db } or a Skiplock instance; create one with new Skiplock({ connectionString }) first`,
  );
}
