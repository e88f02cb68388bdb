import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { AnyJobDefinition } from '../definition.js';
import { queueNameProblem } from '../definition.js';
import { MAX_TIMER_MS, toIntervalMs, toLeaseMs, toTimerMs, type Duration } from '../duration.js';
import type { AdminEnvironment } from '../admin/admin.js';
import type { JobDatabase } from '../context.js';
import type { PerformMiddleware } from '../middleware.js';
import type { TransactionRunner } from '../transaction.js';
import { ConfigError, JobCancelledError, JobLeaseLostError } from '../errors.js';
import { checkSchemaVersion } from '../migrate.js';
import { isValidQueueName } from '../identifiers.js';
import { infraBackoffMs } from '../infra-retry.js';
import { byClaimOrder, claimSql, type ClaimedRow } from '../sql/claim.js';
import { byId, finishSql } from '../sql/finish.js';
import { heartbeatSql, NOTIFY_QUEUES_SQL, releaseUnknownSql } from '../sql/lease.js';
import { queueDepthSql } from '../sql/queue-depth.js';
import { namedStatement, type Statement } from '../sql/statement.js';
import { deregisterWorkerSql } from '../sql/workers.js';
import type { DepthRow, Telemetry } from '../telemetry.js';
import { Completer } from './completer.js';
import { settlesWithin } from './deadline.js';
import { execute, type Execution, type ExecutorContext, type OutcomeListener } from './executor.js';
import { every } from './maintenance.js';
import { Notifier } from './notifier.js';
import { rescue, type RescueContext } from './rescue.js';
import { prune } from '../prune.js';
import { Turns } from './turns.js';
import { Wakeup } from './wakeup.js';

/** Options of {@link Skiplock.worker}. */
export interface WorkerOptions {
  /** The job definitions this worker runs; rows with other names are never claimed. */
  jobs: readonly AnyJobDefinition[];
  /** Queues to serve (exact names). Default: every queue the definitions name. */
  queues?: readonly string[];
  /** Handlers running at once (10); the claim loops fill them, each claiming up to its share per statement. */
  concurrency?: number;
  /**
   * Claim loops (2, at most `concurrency`), each taking up to `concurrency / claimLoops` jobs per
   * claim. They take turns at the database, one claim statement in flight at a time: while one
   * loop's claim is in Postgres, the jobs another loop claimed start. Replicas that share a queue on
   * few cores may do better with 1 each: the other replicas' claims overlap this one's jobs.
   */
  claimLoops?: number;
  /** How often to look for due jobs without a notification ('1s'). */
  pollInterval?: Duration;
  /**
   * How long a claimed job is held before rescue may take it back ('30s'), unless its definition sets
   * its own; renewed by heartbeats (every third of the shortest lease) while it runs.
   */
  lease?: Duration;
  /** Timeout for definitions that set none (none). */
  jobTimeout?: Duration;
  /** How often this worker tries to rescue expired leases (5 s, or half the lease if shorter; one worker at a time does). */
  rescueInterval?: Duration;
  /** Most outcomes written in one statement (100). */
  completionBatchSize?: number;
  /** How long an outcome waits for others to share its write ('2ms'). */
  completionFlushDelay?: Duration;
  /**
   * Worker id stored in `locked_by` (host-pid-random). Give each running worker its own: two live
   * workers with one id could extend, and write outcomes for, each other's jobs.
   */
  id?: string;
  /**
   * Delete finished jobs past the instance's `retention` every `pruneInterval` (true). Replicas take
   * turns: one prunes at a time.
   */
  prune?: boolean;
  /** How often to prune ('1m'). */
  pruneInterval?: Duration;
}

/** Options of {@link Worker.stop}. */
export interface StopOptions {
  /** How long running jobs may take to finish before their signal is aborted ('30s'). */
  timeout?: Duration;
}

/** What a worker needs from its Skiplock instance. */
export interface WorkerEnvironment extends AdminEnvironment {
  logger: Logger;
  telemetry: Telemetry;
  middleware: readonly PerformMiddleware[];
  /** `ctx.db` of jobs that are not transactional. */
  db: JobDatabase;
  transaction: TransactionRunner;
}

const MIN_POOL_SIZE = 3;

/** A heartbeat's row: a held job an operator asked to cancel. */
interface HeartbeatRow {
  id: string;
  /** No longer held by this worker (else: cancelled by an operator). */
  lost: boolean;
}

/** Worker option `name`'s value, `fallback` when unset; a ConfigError unless a positive integer. */
function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  const chosen = value ?? fallback;
  if (!Number.isInteger(chosen) || chosen < 1) {
    throw new ConfigError(`worker: ${name} must be a positive integer, got ${value}`);
  }
  return chosen;
}

/**
 * Claims batches of due jobs, runs up to `concurrency` handlers, and records their outcomes in
 * batches. Create with {@link Skiplock.worker}.
 */
export class Worker {
  /** This worker's id, as stored in `locked_by` and `skiplock.workers`. */
  readonly id: string;
  readonly #env: WorkerEnvironment;
  readonly #definitions = new Map<string, AnyJobDefinition>();
  readonly #queues: string[];
  readonly #concurrency: number;
  readonly #pollMs: number;
  /** Lease in ms per job name (the definition's, else the worker's); its keys are the names claimed. */
  readonly #leases = new Map<string, number>();
  readonly #rescueMs: number;
  /** Null when this worker does not prune. */
  readonly #pruneMs: number | null;
  readonly #stopPruning = new AbortController();
  readonly #logger: Logger;
  readonly #completer: Completer;
  readonly #notifier: Notifier;
  readonly #wakeup = new Wakeup();
  readonly #running = new Map<string, Execution>();
  readonly #claimStatement: Statement;
  /** What every job this worker runs is executed with. */
  readonly #executorContext: ExecutorContext;
  readonly #heartbeatSql: string;
  readonly #releaseUnknownSql: string;
  /** Claim loops whose last claim filled its limit: there is likely more work, claim as slots free. */
  #fullClaims = 0;
  /** True while the claim loops wait for the completer to catch up. */
  #waitingOnCompleter = false;
  /** Fewer free slots than this are claimed only after a short wait, so that claims come in batches. */
  readonly #claimBatch: number;
  /**
   * Claim loops: `claimLoops` (two by default, at most the concurrency), each claiming up to its
   * share of the slots, so that one claim is in Postgres while the jobs of another start in Node.
   * One loop claiming every free slot leaves a lone worker's Node and Postgres taking turns: in a
   * drain of no-op jobs the claim's round trip was most of the time.
   */
  readonly #claimLoops: number;
  /**
   * The claim loops' turns at the database: one claim statement in flight at a time. Two at once
   * share the cores with each other and with the completer's statements: in drains of 50,000 no-op
   * jobs (concurrency 5,000) two loops claiming side by side spent 32–39 µs of wall time per
   * claimed row, taking turns ~15. (Not SKIP LOCKED's walk: passing 5,000 rows another claim holds
   * cost a claim nothing measurable.) On a faster host later, side by side and taking turns drained
   * alike within the host's swings: see docs/performance.md.
   */
  readonly #claimTurns = new Turns();
  /** Most jobs one claim takes. */
  readonly #claimMax: number;
  /** Most outcomes one completion statement writes. */
  readonly #completionBatchSize: number;
  /** Slots that claims in flight may fill. */
  #claiming = 0;
  /** Wakes a claim loop for free slots below a batch, a moment after the first one freed. */
  #slotTimer: NodeJS.Timeout | undefined;
  #state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  #starting: Promise<void> | undefined;
  #claimLoopsDone: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  #stopHeartbeat: (() => Promise<void>) | undefined;
  /** Stops rescue and prune (the heartbeat has its own). */
  #stopMaintenance: Array<() => Promise<void>> = [];
  /** Stops reporting `skiplock.queue.depth` for this worker's queues. */
  #stopDepth: (() => void) | undefined;

  constructor(env: WorkerEnvironment, options: WorkerOptions) {
    this.#env = env;
    if (options.jobs.length === 0) throw new ConfigError('worker: give at least one job definition in jobs');
    for (const job of options.jobs) {
      for (const name of [job.name, ...job.aliases]) {
        const other = this.#definitions.get(name);
        if (other && other !== job) throw new ConfigError(`worker: two different definitions claim the name "${name}"`);
        this.#definitions.set(name, job);
      }
    }
    const fromArgs = options.jobs.find((job) => job.queueFromArgs);
    if (!options.queues && fromArgs) {
      throw new ConfigError(
        `worker: job "${fromArgs.name}" picks its queue from its arguments; give the worker its queues`,
      );
    }
    this.#queues = [...new Set(options.queues ?? options.jobs.map((job) => job.queue))];
    if (this.#queues.length === 0) throw new ConfigError('worker: queues is empty');
    for (const queue of this.#queues) {
      if (!isValidQueueName(queue)) throw new ConfigError(`worker: ${queueNameProblem(queue)}`);
    }
    this.#concurrency = positiveInteger('concurrency', options.concurrency, 10);
    this.#claimBatch = Math.max(1, Math.floor(this.#concurrency / 4));
    this.#claimLoops = Math.min(positiveInteger('claimLoops', options.claimLoops, 2), this.#concurrency);
    this.#completionBatchSize = positiveInteger('completionBatchSize', options.completionBatchSize, 100);
    this.#claimMax = Math.ceil(this.#concurrency / this.#claimLoops);
    this.#pollMs = toIntervalMs(options.pollInterval ?? '1s', 'pollInterval');
    const leaseMs = toLeaseMs(options.lease ?? '30s', 'lease');
    this.#rescueMs =
      options.rescueInterval === undefined
        ? Math.min(5000, leaseMs / 2)
        : toIntervalMs(options.rescueInterval, 'rescueInterval');
    this.#pruneMs = options.prune === false ? null : toIntervalMs(options.pruneInterval ?? '1m', 'pruneInterval');
    for (const [name, job] of this.#definitions) this.#leases.set(name, job.leaseMs ?? leaseMs);
    this.id = options.id ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.#logger = env.logger.child({ worker: this.id });
    this.#claimStatement = namedStatement('claim', claimSql(env.quotedSchema, this.#queues.length));
    this.#executorContext = {
      workerId: this.id,
      logger: this.#logger,
      defaultTimeoutMs: options.jobTimeout === undefined ? undefined : toTimerMs(options.jobTimeout, 'jobTimeout'),
      telemetry: env.telemetry,
      middleware: env.middleware,
      db: env.db,
      transaction: env.transaction,
      finishSql: finishSql(env.quotedSchema),
    };
    this.#heartbeatSql = heartbeatSql(env.quotedSchema);
    this.#releaseUnknownSql = releaseUnknownSql(env.quotedSchema);
    this.#completer = new Completer(env.pool, env.quotedSchema, this.id, this.#logger, {
      maxBatch: this.#completionBatchSize,
      flushDelayMs: toTimerMs(options.completionFlushDelay ?? '2ms', 'completionFlushDelay'),
      maxFailures: 5,
      onWritten: () => {
        if (this.#waitingOnCompleter) this.#wakeup.notify();
      },
    });
    this.#notifier = new Notifier({
      clientConfig: env.pool.options,
      pool: env.pool,
      channels: {
        [env.jobsChannel]: (queue) => {
          if (this.#queues.includes(queue)) this.#wakeup.notify();
        },
        [env.cancelChannel]: (id) => this.#cancel(id),
      },
      onConnect: () => this.#wakeup.notify(),
      pingIntervalMs: 30_000,
      logger: this.#logger,
    });
  }

  /** The queues this worker serves. */
  get queues(): readonly string[] {
    return this.#queues;
  }

  /**
   * Registers the worker, starts claiming and listening. Resolves once it listens, or once a failed
   * LISTEN connection has left it polling while it reconnects (its first claims are already under
   * way).
   */
  start(): Promise<void> {
    if (this.#state !== 'new') return Promise.reject(new ConfigError(`worker ${this.id} was already started`));
    this.#state = 'starting';
    this.#starting = this.#start().catch((error: unknown) => {
      this.#state = 'new';
      throw error;
    });
    return this.#starting;
  }

  async #start(): Promise<void> {
    const poolSize = this.#env.pool.options.max ?? 10;
    if (poolSize < MIN_POOL_SIZE) {
      throw new ConfigError(
        `worker: the pool allows ${poolSize} connections; a worker needs at least ${MIN_POOL_SIZE} (claim, complete, maintenance)`,
      );
    }
    const transactional = [...this.#definitions.values()].some((job) => job.transactional);
    if (transactional && this.#env.db === this.#env.pool && poolSize < MIN_POOL_SIZE + this.#concurrency) {
      this.#logger.warn(
        { poolSize, concurrency: this.#concurrency },
        'transactional jobs hold a pool connection each while they run: give the pool concurrency + 3 connections',
      );
    }
    await checkSchemaVersion(this.#env.pool, this.#env.schema, this.#logger);
    // The first heartbeat registers the worker (it upserts its row).
    await this.#heartbeat();
    // The claim loops start while the LISTEN connection opens (a new backend: some milliseconds).
    // Once it listens it wakes a claim loop, which finds any job that came in between.
    const listening = this.#notifier.start();
    const depthSql = queueDepthSql(this.#env.quotedSchema);
    this.#stopDepth = this.#env.telemetry.observeQueueDepth(this.#queues, async () => {
      const { rows } = await this.#env.pool.query<DepthRow>(depthSql, [this.#queues]);
      return rows;
    });
    // A third of the shortest lease; leases of months beat every ~24.8 days (Node's longest timer).
    this.#stopHeartbeat = every(
      Math.min(MAX_TIMER_MS, Math.max(50, Math.min(...this.#leases.values()) / 3)),
      'heartbeat',
      this.#logger,
      () => this.#heartbeat(),
    );
    const rescueContext: RescueContext = {
      env: this.#env,
      leases: this.#leases,
      definitions: this.#definitions,
      logger: this.#logger,
    };
    this.#stopMaintenance = [every(this.#rescueMs, 'rescue', this.#logger, () => rescue(rescueContext))];
    if (this.#pruneMs !== null)
      this.#stopMaintenance.push(every(this.#pruneMs, 'prune', this.#logger, () => this.#prune()));
    this.#state = 'running';
    this.#claimLoopsDone = Promise.all(Array.from({ length: this.#claimLoops }, () => this.#runClaimLoop())).then(
      () => undefined,
    );
    await listening;
    this.#logger.info(
      {
        queues: this.#queues,
        jobs: [...this.#definitions.keys()],
        concurrency: this.#concurrency,
        claimLoops: this.#claimLoops,
        completionBatchSize: this.#completionBatchSize,
      },
      'worker started',
    );
  }

  /**
   * Stops claiming at once, lets running jobs finish within `timeout`, then aborts their signal,
   * rolls back the transactions of transactional ones (their connections closed) and puts them back
   * (`available`, attempt not charged). Resolves once every outcome is written, or
   * after a second `timeout` spent failing to write them (while the database is away): those jobs
   * are then rescued when their lease expires. A claim still waiting in Postgres (on a lock) shares
   * the first `timeout` with the running jobs; the teardown (LISTEN connection, timers,
   * deregistration) gets one more, at least a second.
   */
  stop(options: StopOptions = {}): Promise<void> {
    if (!this.#stopping) {
      try {
        this.#stopping = this.#stop(toTimerMs(options.timeout ?? '30s', 'stop timeout'));
      } catch (error) {
        return Promise.reject(error instanceof Error ? error : new Error('stop failed'));
      }
    }
    return this.#stopping;
  }

  async #stop(timeoutMs: number): Promise<void> {
    // A stop during start waits for the start, then undoes it.
    await this.#starting?.catch(() => undefined);
    if (this.#state === 'new') {
      this.#state = 'stopped';
      return;
    }
    this.#state = 'stopping';
    clearTimeout(this.#slotTimer);
    this.#wakeup.close();
    // One timeout for the claim in flight and the running jobs together.
    const deadline = performance.now() + timeoutMs;
    // A claim waiting on a lock in Postgres (a migration's, an operator's) is not waited for past the
    // timeout: whatever it claims later is put back, or rescued by lease once the worker is gone.
    if (!(await settlesWithin(this.#claimLoopsDone ?? Promise.resolve(), timeoutMs))) {
      this.#logger.warn({ timeoutMs }, 'shutdown timeout: stopping without the claim still waiting in Postgres');
    }
    if (this.#running.size > 0) {
      this.#logger.info({ running: this.#running.size, timeoutMs }, 'waiting for running jobs');
      const outcomes = Promise.all([...this.#running.values()].map((execution) => execution.outcome));
      await settlesWithin(outcomes, Math.max(0, deadline - performance.now()));
    }
    // Out of #running first: what is abandoned here is written below, not by #finished.
    const running = [...this.#running];
    this.#running.clear();
    for (const [id, execution] of running) {
      const { decided } = execution;
      execution.abandon(new Error('worker is shutting down'));
      if (decided) {
        // Failed already, its afterDiscard still running: what was decided is written, not a release.
        this.#logger.warn({ jobId: id, name: execution.row.name }, 'shutdown timeout: not waiting for afterDiscard');
      } else {
        this.#logger.warn(
          { jobId: id, name: execution.row.name },
          'shutdown timeout: aborting the job and putting it back',
        );
      }
      this.#completer.push(id, execution.row.attempt, decided ?? { state: 'available' }, execution.row.name);
    }
    // Outcomes are retried while the database is away, but a stop does not wait forever: what is
    // still unwritten after another shutdown timeout is left to rescue by lease.
    if (!(await settlesWithin(this.#completer.flush(), Math.max(timeoutMs, 1000)))) {
      this.#logger.error(
        { unwritten: this.#completer.pending },
        'could not record every outcome before stopping; those jobs will be rescued when their lease expires',
      );
    }
    this.#stopPruning.abort();
    this.#stopDepth?.();
    // Teardown, bounded as a whole: a heartbeat stuck behind a lock or a dead socket cannot hold it.
    if (!(await settlesWithin(this.#teardown(), Math.max(timeoutMs, 1000)))) {
      this.#logger.warn(
        'shutdown timeout: stopped before the heartbeat, LISTEN connection or deregistration had ended',
      );
    }
    this.#state = 'stopped';
    this.#logger.info('worker stopped');
  }

  /** Stops the heartbeat, rescue and prune, closes the LISTEN connection, deregisters. */
  async #teardown(): Promise<void> {
    // No new beat, rescue or prune from here on, even if what follows outlasts the stop's timeout.
    // Closing the LISTEN connection cancels the beat in flight on it (one waiting on a lock would
    // otherwise wait forever, or write the row back after it is deleted).
    const heartbeatStopped = this.#stopHeartbeat?.();
    const maintenanceStopped = Promise.all(this.#stopMaintenance.map((stopTimer) => stopTimer()));
    await this.#notifier.stop();
    await heartbeatStopped;
    await this.#env.pool.query(deregisterWorkerSql(this.#env.quotedSchema), [this.id]).catch((error: unknown) => {
      this.#logger.warn({ err: error }, 'could not deregister the worker; its row will expire');
    });
    // Rescue and prune do not write the worker's row: a run of theirs still waiting on a lock does
    // not hold the deregistration back.
    await maintenanceStopped;
  }

  /** Slots neither running a job nor promised to a claim in flight. */
  get #free(): number {
    return this.#concurrency - this.#running.size - this.#claiming;
  }

  async #runClaimLoop(): Promise<void> {
    let failures = 0;
    let lastFull = false;
    while (this.#state === 'running') {
      // A notification from here on, while this loop claims, ends its next wait at once.
      const seen = this.#wakeup.epoch;
      const free = this.#free;
      this.#waitingOnCompleter = this.#completer.pending >= this.#concurrency * 10;
      if (free <= 0 || this.#waitingOnCompleter) {
        await this.#wakeup.wait(this.#pollMs, seen);
        continue;
      }
      const limit = Math.min(free, this.#claimMax);
      let rows: ClaimedRow[];
      this.#claiming += limit;
      try {
        rows = await this.#claim(limit);
        failures = 0;
      } catch (error) {
        this.#claiming -= limit;
        failures += 1;
        this.#logger.warn({ err: error }, 'claim failed; retrying');
        await this.#wakeup.wait(infraBackoffMs(failures), this.#wakeup.epoch);
        continue;
      }
      // In the same tick as the jobs join `running`: the other loop never counts a slot twice.
      this.#claiming -= limit;
      for (const row of rows) this.#run(row);
      const full = rows.length === limit;
      if (full !== lastFull) this.#fullClaims += full ? 1 : -1;
      lastFull = full;
      // A full claim means more work may wait: another loop claims beside this one.
      if (full) this.#wakeup.notify();
      else await this.#wakeup.wait(this.#pollMs, seen);
    }
    if (lastFull) this.#fullClaims -= 1;
  }

  /** Claims up to `limit` jobs when this loop's turn comes; none if the worker stopped meanwhile. */
  async #claim(limit: number): Promise<ClaimedRow[]> {
    const result = await this.#claimTurns.take(async () => {
      if (this.#state !== 'running') return { rows: [] };
      const sent = performance.now();
      try {
        return await this.#env.pool.query<ClaimedRow>({
          ...this.#claimStatement,
          values: [[...this.#leases.keys()], limit, this.id, [...this.#leases.values()], ...this.#queues],
        });
      } catch (error) {
        // Still this loop's turn: no other claim of this worker can be committing jobs it does not know yet.
        await this.#releaseUnknown(performance.now() - sent);
        throw error;
      }
    });
    // Start in claim order: priority, then run_at, then id (RETURNING keeps no order).
    return result.rows.sort(byClaimOrder);
  }

  /**
   * After a failed claim: jobs the database says this worker holds that it never received (the
   * claim committed, its reply was lost) go back at once, their attempt given back, rather than
   * waiting out their lease to be rescued with an attempt used. Only jobs claimed within the claim's
   * time (`sinceMs` ago, and a second more), not those of a process before it that had the same
   * worker id (a stable id, a pod's name) and died holding them. Best effort: when this fails too
   * (the database is away), rescue takes them back when their lease expires.
   */
  async #releaseUnknown(sinceMs: number): Promise<void> {
    const held = [...this.#running.keys(), ...this.#completer.pendingJobs().map(({ id }) => id)];
    try {
      const { rows } = await this.#env.pool.query<{ id: string; queue: string }>(this.#releaseUnknownSql, [
        this.id,
        `{${held.join(',')}}`,
        sinceMs + 1000,
      ]);
      if (rows.length === 0) return;
      this.#logger.warn({ jobIds: rows.map((row) => row.id) }, 'released jobs claimed by a claim whose reply was lost');
      await this.#env.pool.query(NOTIFY_QUEUES_SQL, [
        this.#env.jobsChannel,
        [...new Set(rows.map((row) => row.queue))],
      ]);
    } catch (error) {
      this.#logger.debug({ err: error }, 'could not release the jobs of a failed claim; rescue will');
    }
  }

  #run(row: ClaimedRow): void {
    if (this.#state !== 'running') {
      // Claimed while stopping: give it straight back.
      this.#completer.push(row.id, row.attempt, { state: 'available' }, row.name);
      return;
    }
    // Taken back from a run still going here and claimed again: that run lost its lease.
    const earlier = this.#running.get(row.id);
    if (earlier) this.#lose(earlier);
    const definition = this.#definitions.get(row.name) as AnyJobDefinition;
    const execution = execute(definition, row, this.#executorContext);
    this.#running.set(row.id, execution);
    execution.start(this.#finished);
  }

  /** An attempt's outcome: queued for writing, its slot freed. */
  readonly #finished: OutcomeListener = (execution, outcome) => {
    const { row } = execution;
    // Absent when shutdown already put the job back.
    if (this.#running.get(row.id) !== execution) return;
    this.#running.delete(row.id);
    this.#env.telemetry.recordOutcome(row, outcome);
    if (!(outcome.state === 'completed' && outcome.recorded)) {
      this.#completer.push(row.id, row.attempt, outcome, row.name);
    }
    if (this.#fullClaims > 0) this.#slotFreed();
  };

  /**
   * A slot freed while there is more work: claim now when a batch of slots is free, else a moment
   * later (2 ms), so that a steady stream of completions does not become a claim per job.
   */
  #slotFreed(): void {
    if (this.#free >= this.#claimBatch) {
      clearTimeout(this.#slotTimer);
      this.#slotTimer = undefined;
      this.#wakeup.notify();
    } else {
      this.#slotTimer ??= setTimeout(() => {
        this.#slotTimer = undefined;
        this.#wakeup.notify();
      }, 2);
    }
  }

  /** The lease of jobs named `name` (a name this worker claims: every one has its lease in `#leases`). */
  #leaseOf(name: string): number {
    return this.#leases.get(name) as number;
  }

  async #heartbeat(): Promise<void> {
    const running = [...this.#running.values()];
    const held = [...running.map(({ row }) => row), ...this.#completer.pendingJobs()];
    const [leases, ids] = byId(held, (job) => this.#leaseOf(job.name));
    const [attempts] = byId(held, (job) => job.attempt);
    const values = [this.id, ids, leases, this.#queues, hostname(), process.pid, attempts];
    // On the LISTEN connection, which handlers cannot take from the pool; on the pool while it is down.
    const beat = await (this.#notifier.query<HeartbeatRow>(this.#heartbeatSql, values) ??
      this.#env.pool.query<HeartbeatRow>(this.#heartbeatSql, values));
    for (const { id, lost } of beat.rows) {
      if (!lost) {
        // A cancel whose notification was missed (the LISTEN connection was down) arrives here.
        this.#cancel(id);
        continue;
      }
      const execution = running.find(({ row }) => row.id === id);
      if (execution) this.#lose(execution);
    }
  }

  /**
   * An attempt whose job this worker no longer holds at that attempt (taken back after its lease
   * expired, changed by an operator): its handler's signal is aborted, so that it does not run on
   * beside the job's next attempt, and nothing is written for it. Left alone once its outcome was
   * decided, or when it is no longer the one running here.
   */
  #lose(execution: Execution): void {
    const { row } = execution;
    if (this.#running.get(row.id) !== execution || execution.decided) return;
    this.#running.delete(row.id);
    this.#logger.warn(
      { jobId: row.id, name: row.name, attempt: row.attempt },
      'lease lost: the job was taken back (rescued or changed by an operator) while it ran; aborting it',
    );
    execution.abandon(new JobLeaseLostError(row.name));
    if (this.#fullClaims > 0) this.#slotFreed();
  }

  /** An operator cancelled job `id`: if this worker runs it, abort it now (it is recorded `cancelled`). */
  #cancel(id: string): void {
    const execution = this.#running.get(id);
    if (!execution) return;
    this.#logger.info({ jobId: id, name: execution.row.name }, 'cancel requested: aborting the job');
    execution.interrupt(new JobCancelledError(execution.row.name));
  }

  async #prune(): Promise<void> {
    const schema = { name: this.#env.schema, quoted: this.#env.quotedSchema };
    const { deleted } = await prune(this.#env.pool, schema, this.#env.retention, { signal: this.#stopPruning.signal });
    if (deleted > 0) this.#logger.info({ deleted }, 'pruned finished jobs past their retention');
  }
}
