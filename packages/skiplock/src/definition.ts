import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { Logger } from 'pino';
import type { Database } from './db.js';
import { toMs, type Duration } from './duration.js';
import { ConfigError, EnqueueError } from './errors.js';
import { isValidQueueName } from './identifiers.js';
import type { JsonValue } from './payload.js';
import type { Backoff } from './retry-policy.js';
import { currentDefaultEnqueuer, missingInstanceError } from './default-instance.js';
import { toQueryable } from './db.js';
import { DEFAULT_ENQUEUE_CONFIG, enqueueRequests } from './enqueue.js';

/** The brand that marks a job definition, recognised across copies of the package. */
export const JOB_BRAND: unique symbol = Symbol.for('skiplock.job') as never;

/** What a handler receives besides its arguments. */
export interface JobContext {
  /** The job's id (a bigint, as a string). */
  readonly id: string;
  /** The job's name. */
  readonly name: string;
  /** The queue the job was claimed from. */
  readonly queue: string;
  /** This attempt's number: 1 on the first run. */
  readonly attempt: number;
  /** The row's max_attempts. */
  readonly maxAttempts: number;
  /** Aborted at the job's timeout, or when the worker gives up waiting for it at shutdown. */
  readonly signal: AbortSignal;
  /** A child logger carrying jobId, name, queue and attempt. */
  readonly logger: Logger;
  /** The row's metadata. */
  readonly metadata: Record<string, JsonValue>;
}

/** Options common to every enqueue. `wait` and `runAt` exclude each other. */
export type EnqueueOptions = {
  /** Insert inside this client or transaction (pg or Kysely); else the default Skiplock pool. */
  db?: Database;
  /** Overrides the definition's queue. */
  queue?: string;
  /** Overrides the definition's priority (lower runs first, -32768 … 32767). */
  priority?: number;
  /** Overrides the definition's maxAttempts. */
  maxAttempts?: number;
  /** At most one unfinished job per key; a second enqueue returns `duplicate`. */
  uniqueKey?: string;
  /** Free-form JSON stored with the job (trace context, tenant …). */
  metadata?: Record<string, JsonValue>;
} & ({ wait?: Duration; runAt?: never } | { runAt?: Date; wait?: never });

/** What an enqueue did. */
export type EnqueueResult =
  | { status: 'enqueued'; id: string; name: string; queue: string; state: 'available' | 'scheduled' }
  | { status: 'duplicate'; id: string; name: string; queue: string };

/** A job and its arguments, ready for {@link Skiplock.performAllLater}. */
export interface JobRequest<Input = unknown> {
  readonly job: AnyJobDefinition;
  readonly args: Input;
  readonly options: Omit<EnqueueOptions, 'db'>;
}

/** What `defineJob` takes. `Input` is what callers enqueue, `Output` what the handler receives. */
export interface JobOptions<Input, Output> {
  /** Explicit, stable identity stored in each row; never derived from a file or class name. */
  name: string;
  /** Optional Standard Schema (zod, valibot, arktype …) checked at enqueue and again before perform. */
  schema?: StandardSchemaV1<Input, Output>;
  /** Default queue (`'default'`). */
  queue?: string;
  /** Default priority, lower first (0). */
  priority?: number;
  /** Attempts in all, the first run included (25). */
  maxAttempts?: number;
  /** Abort `ctx.signal` and fail the attempt after this long (none by default). */
  timeout?: Duration;
  /** Delay between attempts (`'polynomial'`: attempt⁴ s + jitter). */
  backoff?: Backoff;
  /** How long a claimed run is held before rescue may take it back (the worker's lease, 30 s). */
  lease?: Duration;
  /**
   * Put the job's arguments in its log lines (false): arguments often hold personal data, so they
   * are left out of logs unless a job opts in.
   */
  logArgs?: boolean;
  /** The handler. Throwing (anything) fails the attempt. */
  perform: (args: Output, ctx: JobContext) => Promise<void> | void;
}

/** A job definition: holds no connection, only what a row needs and how to run it. */
export interface JobDefinition<Input, Output = Input> {
  readonly [JOB_BRAND]: true;
  readonly name: string;
  readonly queue: string;
  readonly priority: number;
  readonly maxAttempts: number;
  readonly timeoutMs: number | undefined;
  readonly backoff: Backoff;
  readonly leaseMs: number | undefined;
  readonly logArgs: boolean;
  readonly schema: StandardSchemaV1<Input, Output> | undefined;
  readonly perform: (args: Output, ctx: JobContext) => Promise<void> | void;
  /**
   * Enqueues the job. With `db` the insert joins that transaction.
   *
   * @example
   * await sendWelcome.performLater({ userId }, { db: trx, wait: '10m' });
   */
  readonly performLater: (args: Input, options?: EnqueueOptions) => Promise<EnqueueResult>;
  /** Pairs arguments and options for a bulk {@link Skiplock.performAllLater}. */
  readonly with: (args: Input, options?: Omit<EnqueueOptions, 'db'>) => JobRequest<Input>;
}

/** A definition of any argument type, as workers and bulk enqueue handle them. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyJobDefinition = JobDefinition<any, any>;

type JsonObjectSchema = StandardSchemaV1<object, object>;

/**
 * Defines a job. The argument type flows from `schema` (or the type parameter) to `performLater`
 * and to `perform`.
 *
 * @example
 * export const sendWelcome = defineJob({
 *   name: 'mailer.welcome',
 *   schema: z.object({ userId: z.string() }),
 *   queue: 'mailers',
 *   async perform({ userId }, ctx) { ctx.logger.info({ userId }, 'sending') },
 * });
 */
export function defineJob<S extends JsonObjectSchema>(
  options: JobOptions<StandardSchemaV1.InferInput<S>, StandardSchemaV1.InferOutput<S>> & { schema: S },
): JobDefinition<StandardSchemaV1.InferInput<S>, StandardSchemaV1.InferOutput<S>>;
export function defineJob<Args extends object>(
  options: JobOptions<Args, Args> & { schema?: undefined },
): JobDefinition<Args, Args>;
export function defineJob(options: JobOptions<object, object>): JobDefinition<object, object> {
  const name = options.name;
  if (typeof name !== 'string' || name.length === 0 || name.length > 200) {
    throw new ConfigError(`defineJob: name must be a non-empty string of at most 200 characters`);
  }
  if (typeof options.perform !== 'function') {
    throw new ConfigError(`defineJob "${name}": perform must be a function`);
  }
  const queue = options.queue ?? 'default';
  if (!isValidQueueName(queue)) throw new EnqueueError(name, queueNameProblem(queue));
  const definition: JobDefinition<object, object> = {
    [JOB_BRAND]: true,
    name,
    queue,
    priority: options.priority ?? 0,
    maxAttempts: options.maxAttempts ?? 25,
    timeoutMs: options.timeout === undefined ? undefined : toMs(options.timeout, `job "${name}" timeout`),
    backoff: options.backoff ?? 'polynomial',
    leaseMs: options.lease === undefined ? undefined : toMs(options.lease, `job "${name}" lease`),
    logArgs: options.logArgs ?? false,
    schema: options.schema,
    perform: options.perform,
    performLater: (args, enqueueOptions = {}) => {
      const { db, ...rest } = enqueueOptions;
      const request = definition.with(args, rest);
      const enqueuer = currentDefaultEnqueuer();
      if (enqueuer) return enqueuer.enqueueOne(request, db);
      // No instance, but a connection: enqueue into the default schema with default limits.
      if (db)
        return enqueueRequests(toQueryable(db), DEFAULT_ENQUEUE_CONFIG, [request]).then(([r]) => r as EnqueueResult);
      return Promise.reject(missingInstanceError(name));
    },
    with: (args, requestOptions = {}) => ({ job: definition, args, options: requestOptions }),
  };
  return Object.freeze(definition);
}

/** Explains why a queue name is refused. */
export function queueNameProblem(queue: unknown): string {
  return `queue name ${JSON.stringify(queue)} is not allowed: use 1-128 letters, digits and _ . : / - (starting with a letter or digit)`;
}

/** True for a job definition from any copy of Skiplock (checked by brand, never `instanceof`). */
export function isJobDefinition(value: unknown): value is AnyJobDefinition {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as Record<symbol, unknown>)[JOB_BRAND] === true &&
    typeof (value as { name?: unknown }).name === 'string'
  );
}
