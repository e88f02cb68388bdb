import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { JobContext } from './context.js';
import type { Database } from './db.js';
import { toLeaseMs, toTimerMs, type Duration } from './duration.js';
import { errorPolicy, type ErrorClass, type ErrorPolicy, type RetryRule } from './error-policy.js';
import { ConfigError, EnqueueError, shownValue } from './errors.js';
import { isValidQueueName } from './identifiers.js';
import { stringProblem, type JsonSafe, type JsonValue } from './payload.js';
import type { Backoff } from './retry-policy.js';
import { currentDefaultEnqueuer, missingInstanceError } from './default-instance.js';
import { toQueryable } from './db.js';
import { DEFAULT_ENQUEUE_CONFIG, enqueueRequests } from './enqueue.js';
import { performInline } from './perform.js';

export type { JobContext } from './context.js';

/** The brand that marks a job definition, recognised across copies of the package. */
export const JOB_BRAND: unique symbol = Symbol.for('skiplock.job') as never;

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

/**
 * {@link EnqueueOptions} without `db`: a request's (`job.with`), which the call that inserts it
 * places. Still `wait` or `runAt`, not both.
 */
export type RequestOptions = EnqueueOptions extends infer Option
  ? Option extends unknown
    ? Omit<Option, 'db'>
    : never
  : never;

/** What an enqueue did. */
export type EnqueueResult =
  | { status: 'enqueued'; id: string; name: string; queue: string; state: 'available' | 'scheduled' }
  | { status: 'duplicate'; id: string; name: string; queue: string }
  /** The job's `beforeEnqueue` returned false: nothing was inserted. */
  | { status: 'skipped'; id: null; name: string; queue: string };

/** A job and its arguments, ready for {@link Skiplock.performAllLater}. */
export interface JobRequest<Input = unknown> {
  readonly job: AnyJobDefinition;
  readonly args: Input;
  readonly options: RequestOptions;
}

/** The most attempts a job may be given. */
export const MAX_ATTEMPTS = 1_000_000;

/** A value, or a function of the job's arguments that computes it at enqueue. */
export type PerArgs<Input, T> = T | ((args: Input) => T);

/** What `defineJob` takes. `Input` is what callers enqueue, `Output` what the handler receives. */
export interface JobOptions<Input, Output> {
  /** Explicit, stable identity stored in each row; never derived from a file or class name. */
  name: string;
  /** Former names: rows enqueued under them are still claimed and run by this definition. */
  aliases?: readonly string[];
  /**
   * Optional Standard Schema (zod, valibot, arktype …) checked at enqueue and again before perform.
   * The row keeps the arguments as given (the schema's input); the handler receives the schema's
   * output, so its defaults and transforms apply when the job runs, with the code of that time.
   */
  schema?: StandardSchemaV1<Input, Output>;
  /** Default queue (`'default'`), or a function of the arguments. */
  queue?: PerArgs<Input, string>;
  /** Default priority, lower first (0), or a function of the arguments. */
  priority?: PerArgs<Input, number>;
  /** Attempts in all, the first run included (25). */
  maxAttempts?: number;
  /**
   * At most one unfinished job per key: `key` computes the job's unique key from its arguments
   * (`a => \`user:${a.userId}\``), used when the enqueue gives no `uniqueKey` of its own.
   */
  unique?: { key: (args: Input) => string };
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
  /** The shape version of the arguments enqueued from now on (1). Rows keep the version they were enqueued with. */
  version?: number;
  /**
   * Turns arguments stored under an older `version` into today's input before validation and
   * perform. Required once `version` is above 1.
   */
  upgrade?: (raw: Record<string, JsonValue>, fromVersion: number) => Input | Promise<Input>;
  /** How to retry errors of given classes (Active Job `retry_on`): the first matching rule applies. */
  retryOn?: readonly RetryRule[];
  /** Errors of these classes discard the job at once (Active Job `discard_on`). */
  discardOn?: readonly ErrorClass[];
  /**
   * Called once whenever the job is given up (discarded): attempts used up, `DiscardJob`,
   * `discardOn`, a `retryOn` rule used up, an invalid payload (then `args` are the stored, unvalidated
   * ones). Its own failure is logged and changes nothing. It runs before the discard is written;
   * the job's timeout and an operator's cancel stop waiting for it (`ctx.signal` is then aborted).
   */
  afterDiscard?: (args: Output, error: unknown, ctx: JobContext) => void | Promise<void>;
  /** Before each enqueue of the job; returning false skips it (result `skipped`). */
  beforeEnqueue?: (args: Input, options: RequestOptions) => void | boolean | Promise<void | boolean>;
  /**
   * After the job's row was inserted (or found a duplicate): inside the caller's transaction when the
   * enqueue is given `db`; without one, after the pool's insert committed (a hook that throws then
   * rejects the call, and the job stays enqueued).
   */
  afterEnqueue?: (args: Input, result: EnqueueResult) => void | Promise<void>;
  /** Before each run, after validation; throwing fails the attempt. */
  beforePerform?: (args: Output, ctx: JobContext) => void | Promise<void>;
  /** After a run that completed. */
  afterPerform?: (args: Output, ctx: JobContext) => void | Promise<void>;
  /**
   * Run the handler inside a transaction (`ctx.db`) in which the job's completion is also written:
   * its database writes and "done" commit together, or not at all (false).
   */
  transactional?: boolean;
  /** The handler. Throwing (anything) fails the attempt. */
  perform: (args: Output, ctx: JobContext) => Promise<void> | void;
}

/** A job definition: holds no connection, only what a row needs and how to run it. */
export interface JobDefinition<Input, Output = Input> {
  readonly [JOB_BRAND]: true;
  readonly name: string;
  /** Former names still claimed. */
  readonly aliases: readonly string[];
  /** The queue when it does not depend on the arguments, else `'default'`; see {@link queueFor}. */
  readonly queue: string;
  /** True when the queue is a function of the arguments. */
  readonly queueFromArgs: boolean;
  readonly queueFor: (args: Input) => string;
  readonly priorityFor: (args: Input) => number;
  /** The definition's `unique.key`, when it has one. */
  readonly uniqueKeyFor: ((args: Input) => string) | undefined;
  readonly maxAttempts: number;
  readonly timeoutMs: number | undefined;
  readonly backoff: Backoff;
  readonly leaseMs: number | undefined;
  readonly logArgs: boolean;
  readonly version: number;
  readonly upgrade: JobOptions<Input, Output>['upgrade'];
  readonly errorPolicy: ErrorPolicy;
  readonly transactional: boolean;
  readonly hooks: Pick<
    JobOptions<Input, Output>,
    'afterDiscard' | 'beforeEnqueue' | 'afterEnqueue' | 'beforePerform' | 'afterPerform'
  >;
  readonly schema: StandardSchemaV1<Input, Output> | undefined;
  readonly perform: (args: Output, ctx: JobContext) => Promise<void> | void;
  /**
   * Enqueues the job. With `db` the insert joins that transaction.
   *
   * @example
   * await sendWelcome.performLater({ userId }, { db: trx, wait: '10m' });
   */
  readonly performLater: (args: Input, options?: EnqueueOptions) => Promise<EnqueueResult>;
  /**
   * Runs the job now, in this process, through the same validation, hooks and perform middleware
   * as a worker would; no row is written. Rejects with what the handler threw.
   */
  readonly performNow: (args: Input) => Promise<void>;
  /** Pairs arguments and options for a bulk {@link Skiplock.performAllLater}. */
  readonly with: (args: Input, options?: RequestOptions) => JobRequest<Input>;
}

/** A definition enqueued with `Input`, whatever its handler receives. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type JobWithInput<Input> = JobDefinition<Input, any>;

/** A definition of any argument type, as workers and bulk enqueue handle them. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyJobDefinition = JobDefinition<any, any>;

type JsonObjectSchema = StandardSchemaV1<object, object>;

/** A compile-time error for a schema (or type parameter) whose input would not survive JSON. */
type RequireJsonSafe<T> =
  JsonSafe<T> extends true ? unknown : { 'arguments must be JSON-safe (no Date, bigint, Map, Set, functions)': never };

/** Every definition by name and alias, for the test helpers (`skiplock/testing`). */
const registry = new Map<string, AnyJobDefinition>();

/** The definition that handles rows named `name`, if one was defined in this process. */
export function definitionNamed(name: string): AnyJobDefinition | undefined {
  return registry.get(name);
}

function perArgs<Input, T>(value: PerArgs<Input, T> | undefined, fallback: T): (args: Input) => T {
  if (typeof value === 'function') return value as (args: Input) => T;
  const fixed = value ?? fallback;
  return () => fixed;
}

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
  options: JobOptions<StandardSchemaV1.InferInput<S>, StandardSchemaV1.InferOutput<S>> & {
    schema: S & RequireJsonSafe<StandardSchemaV1.InferInput<S>>;
  },
): JobDefinition<StandardSchemaV1.InferInput<S>, StandardSchemaV1.InferOutput<S>>;
export function defineJob<Args extends object>(
  options: JobOptions<Args, Args> & { schema?: undefined } & RequireJsonSafe<Args>,
): JobDefinition<Args, Args>;
export function defineJob(options: JobOptions<object, object>): JobDefinition<object, object> {
  const name = options.name;
  const checkName = (candidate: unknown, what: string) => {
    if (typeof candidate !== 'string' || candidate.length === 0 || candidate.length > 200) {
      throw new ConfigError(`defineJob: ${what} must be a non-empty string of at most 200 characters`);
    }
    // Postgres would refuse it at every enqueue.
    const problem = stringProblem(candidate);
    if (problem !== undefined) throw new ConfigError(`defineJob: ${what} ${problem}`);
  };
  checkName(name, 'name');
  const aliases = options.aliases ?? [];
  for (const alias of aliases) checkName(alias, `alias of "${name}"`);
  if (typeof options.perform !== 'function') {
    throw new ConfigError(`defineJob "${name}": perform must be a function`);
  }
  const queueFromArgs = typeof options.queue === 'function';
  const queue = queueFromArgs ? 'default' : ((options.queue as string | undefined) ?? 'default');
  if (!isValidQueueName(queue)) throw new EnqueueError(name, queueNameProblem(queue));
  if (options.unique !== undefined && typeof options.unique?.key !== 'function') {
    throw new ConfigError(`defineJob "${name}": unique.key must be a function of the arguments`);
  }
  const maxAttempts = options.maxAttempts ?? 25;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > MAX_ATTEMPTS) {
    throw new ConfigError(
      `defineJob "${name}": maxAttempts must be an integer from 1 to ${MAX_ATTEMPTS}, got ${shownValue(maxAttempts)}`,
    );
  }
  const version = options.version ?? 1;
  if (!Number.isInteger(version) || version < 1) {
    throw new ConfigError(`defineJob "${name}": version must be a positive integer, got ${options.version}`);
  }
  if (version > 1 && typeof options.upgrade !== 'function') {
    throw new ConfigError(`defineJob "${name}": version ${version} needs an upgrade(raw, fromVersion) function`);
  }
  const definition: JobDefinition<object, object> = {
    [JOB_BRAND]: true,
    name,
    aliases,
    queue,
    queueFromArgs,
    queueFor: perArgs(options.queue, 'default'),
    priorityFor: perArgs(options.priority, 0),
    uniqueKeyFor: options.unique?.key,
    maxAttempts,
    timeoutMs: options.timeout === undefined ? undefined : toTimerMs(options.timeout, `job "${name}" timeout`),
    backoff: options.backoff ?? 'polynomial',
    leaseMs: options.lease === undefined ? undefined : toLeaseMs(options.lease, `job "${name}" lease`),
    logArgs: options.logArgs ?? false,
    version,
    upgrade: options.upgrade,
    errorPolicy: errorPolicy(name, options.retryOn, options.discardOn),
    transactional: options.transactional ?? false,
    hooks: {
      afterDiscard: options.afterDiscard,
      beforeEnqueue: options.beforeEnqueue,
      afterEnqueue: options.afterEnqueue,
      beforePerform: options.beforePerform,
      afterPerform: options.afterPerform,
    },
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
    performNow: (args) => performInline(definition, args, currentDefaultEnqueuer()?.inline),
    with: (args, requestOptions = {}) => ({ job: definition, args, options: requestOptions }),
  };
  Object.freeze(definition);
  for (const key of [name, ...aliases]) registry.set(key, definition);
  return definition;
}

/** Explains why a queue name is refused. */
export function queueNameProblem(queue: unknown): string {
  return `queue name ${shownValue(queue)} is not allowed: use 1-128 letters, digits and _ . : / - (starting with a letter or digit)`;
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
