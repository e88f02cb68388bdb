import type { MeterProvider, TracerProvider } from '@opentelemetry/api';
import pg from 'pg';
import type { Logger } from 'pino';
import { toQueryable, type Database, type Queryable } from './db.js';
import { currentDefaultEnqueuer, setDefaultEnqueuer, type Enqueuer } from './default-instance.js';
import type { EnqueueOptions, EnqueueResult, JobRequest, JobWithInput } from './definition.js';
import { InsertCoalescer } from './coalescer.js';
import { InFlight } from './in-flight.js';
import { enqueueConfig, enqueueRequests, insertAndWake, type EnqueueConfig } from './enqueue.js';
import { Waker } from './waker.js';
import { ConfigError } from './errors.js';
import { Admin, type AdminEnvironment } from './admin/admin.js';
import { cancelChannel, jobsChannel, quoteSchema } from './identifiers.js';
import type { JobDatabase } from './context.js';
import { runChain, type MiddlewareOptions } from './middleware.js';
import type { InlineEnvironment } from './perform.js';
import { retentionMs, type Retention } from './prune.js';
import { transactionRunner, type KyselyLike } from './transaction.js';
import { defaultLogger } from './logger.js';
import { toTimerMs, type Duration } from './duration.js';
import { migrateSchema, type MigrateResult } from './migrate.js';
import { inTransaction, withClient } from './pool-client.js';
import { DEFAULT_MAX_PAYLOAD_BYTES } from './payload.js';
import { Telemetry } from './telemetry.js';
import { settlesWithin } from './worker/deadline.js';
import { Worker, type WorkerOptions } from './worker/worker.js';

/** The one result of a single-job enqueue. */
const firstResult = (results: EnqueueResult[]) => results[0] as EnqueueResult;

/** How many shared statements of enqueues on the pool may run at once (see InsertCoalescer). */
const COALESCED_IN_FLIGHT = 2;

/** Options of {@link Skiplock}. Give `connectionString` or `pool`. */
export interface SkiplockOptions {
  /** Postgres connection string; Skiplock then owns (and closes) its pool. */
  connectionString?: string;
  /** A pool of yours; {@link Skiplock.close} leaves it open. */
  pool?: pg.Pool;
  /** Size of the pool Skiplock creates from `connectionString` (10). */
  poolSize?: number;
  /** The schema holding Skiplock's tables (`skiplock`). Lower-case letters, digits and `_`. */
  schema?: string;
  /** A pino logger (default: JSON on stdout at `SKIPLOCK_LOG_LEVEL`, `info`). */
  logger?: Logger;
  /** Largest accepted serialized job arguments, in bytes (1 MiB). */
  maxPayloadBytes?: number;
  /**
   * `application_name` of Skiplock's connections, as seen in `pg_stat_activity` (the LISTEN
   * connection adds `-listener`). Default: `PGAPPNAME`, else `skiplock`.
   */
  applicationName?: string;
  /**
   * Where Skiplock's metrics go (meter `skiplock`; see docs/telemetry.md). Default: the global
   * provider of `@opentelemetry/api` when Skiplock is created, a no-op until an SDK registers one.
   */
  meterProvider?: MeterProvider;
  /** Where perform spans go (tracer `skiplock`). Default: the global provider of `@opentelemetry/api`. */
  tracerProvider?: TracerProvider;
  /** Become the instance `job.performLater` uses (true when no other instance is). */
  default?: boolean;
  /**
   * How long finished jobs are kept before workers (and `skiplock prune`) delete them: completed
   * 1 day, discarded and cancelled 14 days by default; `false` keeps them forever.
   */
  retention?: Retention;
  /** Enqueue and perform middleware (Koa-style), run in the order given. */
  middleware?: MiddlewareOptions;
  /**
   * A Kysely instance of yours: handlers get it as `ctx.db`, and `transactional` jobs a transaction
   * of it. Without it, `ctx.db` is Skiplock's pool (a pool client inside a transaction for
   * transactional jobs).
   */
  db?: KyselyLike;
}

/**
 * A connection to one Skiplock schema: migrate it, enqueue into it, run workers on it.
 *
 * @example
 * const skiplock = new Skiplock({ connectionString: process.env.DATABASE_URL });
 * await skiplock.migrate();
 * await sendWelcome.performLater({ userId }, { db: trx });
 * const worker = skiplock.worker({ jobs: [sendWelcome], concurrency: 20 });
 * await worker.start();
 */
export class Skiplock implements Enqueuer {
  /** The schema name (unquoted). */
  readonly schema: string;
  /** The pool Skiplock queries through. */
  readonly pool: pg.Pool;
  /** The logger Skiplock and its workers log to. */
  readonly logger: Logger;
  /** Inspect and repair jobs: list, show, retry, cancel, delete, pause queues, stats, prune. */
  readonly admin: Admin;
  readonly #ownsPool: boolean;
  readonly #env: AdminEnvironment;
  readonly #config: EnqueueConfig;
  readonly #waker: Waker;
  readonly #coalescer: InsertCoalescer;
  /** The pool, as enqueues on it query it. */
  readonly #pooled: Queryable;
  /** Enqueues on the pool still running, which {@link close} lets finish. */
  readonly #enqueuing = new InFlight();
  readonly #telemetry: Telemetry;
  readonly #workers = new Set<Worker>();
  readonly #middleware: Required<MiddlewareOptions>;
  readonly #db: KyselyLike | undefined;
  /** @internal What `performNow` runs with when this is the default instance. */
  readonly inline: InlineEnvironment;
  #closed = false;

  constructor(options: SkiplockOptions) {
    this.schema = options.schema ?? 'skiplock';
    const quotedSchema = quoteSchema(this.schema);
    if (options.pool && options.connectionString)
      throw new ConfigError('give either pool or connectionString, not both');
    if (!options.pool && !options.connectionString) {
      throw new ConfigError('Skiplock needs a connectionString (e.g. process.env.DATABASE_URL) or a pool');
    }
    this.logger = options.logger ?? defaultLogger();
    this.#ownsPool = !options.pool;
    this.pool =
      options.pool ??
      new pg.Pool({
        connectionString: options.connectionString,
        max: options.poolSize ?? 10,
        application_name: options.applicationName ?? process.env.PGAPPNAME ?? 'skiplock',
      });
    if (this.#ownsPool) {
      // An idle client losing its connection must not crash the process; the next query reconnects.
      // A connection that dies can emit 'error' on its client at a moment no listener is attached
      // (seen under repeated pg_terminate_backend), which would kill the process. The failing query
      // rejects anyway, and idle clients report through the pool's 'error' below.
      this.pool.on('connect', (client) => client.on('error', () => undefined));
      this.pool.on('error', (error: Error & { code?: string }) => {
        if (!this.#closed)
          this.logger.warn({ code: error.code, reason: error.message }, 'idle database connection lost');
      });
    }
    const maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
    if (!Number.isInteger(maxPayloadBytes) || maxPayloadBytes < 2) {
      throw new ConfigError(`maxPayloadBytes must be a positive integer, got ${options.maxPayloadBytes}`);
    }
    this.#env = {
      pool: this.pool,
      schema: this.schema,
      quotedSchema,
      jobsChannel: jobsChannel(this.schema),
      cancelChannel: cancelChannel(this.schema),
      retention: retentionMs(options.retention),
    };
    this.admin = new Admin(this.#env);
    this.#telemetry = new Telemetry(options.meterProvider, options.tracerProvider);
    this.#config = enqueueConfig(quotedSchema, this.#env.jobsChannel, maxPayloadBytes, this.#telemetry);
    this.#waker = new Waker(this.pool, this.#env.jobsChannel, this.logger);
    this.#pooled = toQueryable(this.pool);
    this.#coalescer = new InsertCoalescer(
      (rows) =>
        insertAndWake(this.#pooled, this.#config, rows, this.#waker, (fn) =>
          inTransaction(this.pool, (client) => fn(toQueryable(client))),
        ),
      COALESCED_IN_FLIGHT,
    );
    this.#middleware = { enqueue: options.middleware?.enqueue ?? [], perform: options.middleware?.perform ?? [] };
    this.#db = options.db;
    this.inline = {
      middleware: this.#middleware.perform,
      logger: this.logger,
      db: (this.#db ?? this.pool) as JobDatabase,
      maxPayloadBytes,
    };
    if (options.default ?? !currentDefaultEnqueuer()) setDefaultEnqueuer(this);
  }

  /**
   * Applies pending migrations (safe to call from every replica at once: they wait on an advisory
   * lock). Refuses a schema newer than this code with a SchemaVersionError.
   */
  async migrate(): Promise<MigrateResult> {
    return withClient(this.pool, (client) => migrateSchema(client, this.schema, this.logger));
  }

  /**
   * Enqueues one job. With `options.db` the insert joins that transaction.
   *
   * @example
   * await skiplock.enqueue(sendWelcome, { userId }, { db: trx, wait: '10m' });
   */
  async enqueue<Input>(job: JobWithInput<Input>, args: Input, options: EnqueueOptions = {}): Promise<EnqueueResult> {
    const { db, ...rest } = options;
    return await this.enqueueOne(job.with(args, rest), db);
  }

  /** @internal The single-job path `performLater` takes. */
  enqueueOne(request: JobRequest, db: Database | undefined): Promise<EnqueueResult> {
    return this.performAllLater(db, [request]).then(firstResult);
  }

  /**
   * Enqueues many jobs in one round trip, inside `db`'s transaction when given (else on the pool).
   * Either every request is valid and all are inserted, or none is.
   *
   * @example
   * await skiplock.performAllLater(trx, users.map((u) => sendWelcome.with({ userId: u.id })));
   */
  async performAllLater(db: Database | undefined, requests: readonly JobRequest[]): Promise<EnqueueResult[]> {
    const queryable = db === undefined ? this.#pooled : toQueryable(db);
    // On the pool, concurrent enqueues share statements, and the waker decides which notifies.
    const onPool = db === undefined ? this.#coalescer : undefined;
    const enqueued = runChain(this.#middleware.enqueue, requests, (batch) =>
      enqueueRequests(queryable, this.#config, batch, onPool),
    );
    // close() lets enqueues on the pool finish (and their wake-ups go out) before ending it.
    return await (onPool ? this.#enqueuing.track(enqueued) : enqueued);
  }

  /** Creates a worker (call `start()` on it) for these job definitions. */
  worker(options: WorkerOptions): Worker {
    const worker = new Worker(
      {
        ...this.#env,
        logger: this.logger,
        telemetry: this.#telemetry,
        middleware: this.#middleware.perform,
        db: this.inline.db as JobDatabase,
        transaction: transactionRunner(this.pool, this.#db),
      },
      options,
    );
    this.#workers.add(worker);
    return worker;
  }

  /**
   * Stops this instance's workers, lets enqueues on its pool finish and their wake-ups go out, and
   * closes the pool if Skiplock created it. Ending the pool waits for every connection to be given
   * back; with `poolTimeout` it waits at most that long (a handler that ignored its signal past a
   * stop's timeout may still hold one in a query of its own), logs a warning and resolves.
   */
  async close(options: { poolTimeout?: Duration } = {}): Promise<void> {
    const poolTimeoutMs =
      options.poolTimeout === undefined ? undefined : toTimerMs(options.poolTimeout, 'close poolTimeout');
    await Promise.all([...this.#workers].map((worker) => worker.stop()));
    await this.#enqueuing.settled();
    await this.#waker.flush();
    if (currentDefaultEnqueuer() === this) setDefaultEnqueuer(undefined);
    this.#closed = true;
    if (!this.#ownsPool) return;
    const ended = this.pool.end();
    if (poolTimeoutMs === undefined) await ended;
    else if (!(await settlesWithin(ended, poolTimeoutMs))) {
      this.logger.warn(
        { poolTimeoutMs },
        'a handler still holds a database connection after the shutdown timeout: closing without it',
      );
    }
  }
}
