import pg from 'pg';
import type { Logger } from 'pino';
import { infraBackoffMs } from '../infra-retry.js';
import { cancelRunningQuery } from '../pool-client.js';
import { settlesWithin } from './deadline.js';

/** Options of the LISTEN connection. */
export interface NotifierOptions {
  /** How to connect (a dedicated client, outside the pool). */
  clientConfig: pg.ClientConfig;
  /** Where to cancel a statement still running on the connection when it is closed. */
  pool: pg.Pool;
  /** The channels to LISTEN on, each with what to do with a notification's payload. */
  channels: Readonly<Record<string, (payload: string) => void>>;
  /** Called after every (re)connect: jobs may have arrived while nobody listened. */
  onConnect: () => void;
  /** How often to check that the connection still answers, in ms. */
  pingIntervalMs: number;
  logger: Logger;
}

/** How long a cancelled statement gets to end before its connection is closed anyway (dead socket). */
const CANCEL_GRACE_MS = 500;

/**
 * Holds one LISTEN connection and keeps it alive: a lost connection is reconnected with backoff
 * and checked with a periodic ping. While it is down the worker keeps polling. The heartbeat runs
 * on it too (see {@link Notifier.query}).
 */
export class Notifier {
  readonly #options: NotifierOptions;
  #client: pg.Client | undefined;
  #stopped = false;
  #pingTimer: NodeJS.Timeout | undefined;
  #reconnecting: Promise<void> | undefined;
  readonly #inFlight = new Set<Promise<unknown>>();

  constructor(options: NotifierOptions) {
    this.#options = options;
  }

  /** Connects (retrying in the background if the first attempt fails). */
  async start(): Promise<void> {
    try {
      await this.#connect();
    } catch (error) {
      this.#options.logger.warn({ err: error }, 'LISTEN connection failed; polling until it is back');
      this.#reconnect();
    }
    this.#pingTimer = setInterval(() => this.#ping(), this.#options.pingIntervalMs);
    this.#pingTimer.unref();
  }

  /**
   * Runs a statement on the listening connection while it is up, else returns undefined. It is the
   * worker's own: handlers and enqueues, which share the pool, cannot take it (the heartbeat runs
   * here, so that handlers holding every pooled connection cannot hold leases back until they lapse).
   */
  query<Row extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<pg.QueryResult<Row>> | undefined {
    return this.#client && this.#track(this.#client.query<Row>(text, values));
  }

  /**
   * Closes the connection for good. A statement still running on it (a heartbeat waiting on a lock)
   * is cancelled and given a moment to end first: closing the socket alone leaves its backend to run
   * it once the lock is free, so that a heartbeat would register the worker again after it had left.
   * The moment is bounded (the cancel needs a pool connection, which may not come): then the
   * connection is closed anyway.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#pingTimer);
    const client = this.#client;
    this.#client = undefined;
    if (!client) return;
    if (this.#inFlight.size > 0) {
      const cancelled = Promise.all([
        cancelRunningQuery(this.#options.pool, client),
        Promise.allSettled(this.#inFlight),
      ]);
      await settlesWithin(cancelled, CANCEL_GRACE_MS);
    }
    await client.end().catch(() => undefined);
  }

  #track<T>(query: Promise<T>): Promise<T> {
    this.#inFlight.add(query);
    const forget = () => this.#inFlight.delete(query);
    query.then(forget, forget);
    return query;
  }

  async #connect(): Promise<void> {
    const config = this.#options.clientConfig;
    const client = new pg.Client({ ...config, application_name: `${config.application_name ?? 'skiplock'}-listener` });
    client.on('error', (error) => this.#lost(client, error));
    client.on('end', () => this.#lost(client, undefined));
    client.on('notification', (message) => {
      if (message.payload) this.#options.channels[message.channel]?.(message.payload);
    });
    try {
      await client.connect();
      for (const channel of Object.keys(this.#options.channels)) {
        await client.query(`LISTEN "${channel.replaceAll('"', '""')}"`);
      }
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    if (this.#stopped) {
      await client.end().catch(() => undefined);
      return;
    }
    this.#client = client;
    this.#options.onConnect();
  }

  #lost(client: pg.Client, error: Error | undefined): void {
    if (this.#client !== client || this.#stopped) return;
    this.#client = undefined;
    this.#options.logger.warn({ err: error }, 'LISTEN connection lost; reconnecting');
    // A statement stuck on it (a ping timed out behind a heartbeat waiting on a lock) would run
    // once the lock is free, after the close: cancel it too.
    if (this.#inFlight.size > 0) void cancelRunningQuery(this.#options.pool, client);
    client.end().catch(() => undefined);
    this.#reconnect();
  }

  #reconnect(): void {
    if (this.#reconnecting || this.#stopped) return;
    this.#reconnecting = (async () => {
      for (let failures = 0; !this.#stopped && !this.#client; failures += 1) {
        await new Promise((resolve) => setTimeout(resolve, infraBackoffMs(failures)));
        if (this.#stopped) return;
        try {
          await this.#connect();
          this.#options.logger.info('LISTEN connection re-established');
        } catch (error) {
          this.#options.logger.debug({ err: error }, 'LISTEN reconnect failed');
        }
      }
    })().finally(() => {
      this.#reconnecting = undefined;
    });
  }

  /** A ping that does not answer within the interval counts as a lost connection (half-open sockets). */
  #ping(): void {
    const client = this.#client;
    if (!client) return;
    settlesWithin(this.#track(client.query('SELECT 1')), this.#options.pingIntervalMs).then(
      (answered) => {
        if (!answered) this.#lost(client, new Error('LISTEN connection did not answer a ping'));
      },
      (error: unknown) => this.#lost(client, error as Error),
    );
  }
}
