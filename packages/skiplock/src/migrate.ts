import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';
import type pg from 'pg';
import type { Logger } from 'pino';
import { SchemaVersionError } from './errors.js';
import { quoteSchema } from './identifiers.js';

/** Where the package's migrations are (copied from the repository's `migrations/` at build). */
const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations', import.meta.url));

/** node-pg-migrate's bookkeeping table, inside the Skiplock schema. */
const MIGRATIONS_TABLE = 'skiplock_migrations';

/** The migration names this code knows, in order. */
export function knownMigrations(): string[] {
  return readdirSync(MIGRATIONS_DIR)
    .filter((file) => file.endsWith('.sql'))
    .map((file) => file.slice(0, -'.sql'.length))
    .sort();
}

/** What a migrate call did. */
export interface MigrateResult {
  /** Names of the migrations applied by this call (empty when the schema was up to date). */
  applied: string[];
}

async function appliedMigrations(client: pg.ClientBase | pg.Pool, schema: string): Promise<string[]> {
  const exists = await client.query<{ found: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS found`, [
    `"${schema}".${MIGRATIONS_TABLE}`,
  ]);
  if (!exists.rows[0]?.found) return [];
  const result = await client.query<{ name: string }>(`SELECT name FROM "${schema}".${MIGRATIONS_TABLE}`);
  return result.rows.map((row) => row.name);
}

/**
 * Throws a SchemaVersionError when `schema` lacks migrations this code needs (it was not migrated
 * since the package was upgraded): a worker on it would fail statement after statement, on a
 * column or type that is not there. A schema newer than the code is let through with a warning, so
 * that a release can be rolled back without undoing its migrations (they only add).
 */
export async function checkSchemaVersion(pool: pg.Pool, schema: string, logger: Logger): Promise<void> {
  const done = new Set(await appliedMigrations(pool, schema));
  const known = knownMigrations();
  const missing = known.filter((name) => !done.has(name));
  if (missing.length > 0) {
    throw new SchemaVersionError(
      `schema "${schema}" lacks migrations this version of skiplock needs (${missing.join(', ')}): ` +
        'run `skiplock migrate` (or skiplock.migrate()) first',
    );
  }
  if (done.size > known.length) {
    logger.warn({ schema }, 'the schema has migrations this version of skiplock does not know: the database is newer');
  }
}

/**
 * Applies the next `count` pending migrations (all by default) to `schema`, in one transaction,
 * without a lock or a version check (see {@link migrateSchema}); leaves the session's search_path
 * set to the schema. Returns the migrations it ran. The schema is created only when it does not
 * exist: even `CREATE SCHEMA IF NOT EXISTS` needs CREATE on the database, which a role that owns
 * the schema a DBA made for it need not have.
 */
export async function runMigrations(
  client: pg.ClientBase,
  schema: string,
  logger: Logger,
  count = Infinity,
): Promise<Array<{ name: string }>> {
  const found = await client.query<{ exists: boolean }>('SELECT to_regnamespace($1) IS NOT NULL AS exists', [
    quoteSchema(schema),
  ]);
  return runner({
    dbClient: client,
    dir: MIGRATIONS_DIR,
    schema,
    createSchema: !found.rows[0]?.exists,
    migrationsTable: MIGRATIONS_TABLE,
    direction: 'up',
    count,
    noLock: true,
    singleTransaction: true,
    checkOrder: true,
    logger: {
      debug: (msg: string) => logger.debug(msg),
      info: (msg: string) => logger.debug(msg),
      warn: (msg: string) => logger.warn(msg),
      error: (msg: string) => logger.error(msg),
    },
  });
}

/**
 * Applies pending migrations to `schema` (already validated) under a session advisory lock, so that
 * replicas starting together wait for each other instead of failing. Refuses a schema that holds
 * migrations this code does not know (the database is newer than the code).
 */
export async function migrateSchema(client: pg.ClientBase, schema: string, logger: Logger): Promise<MigrateResult> {
  const lockKey = `skiplock.migrate:${schema}`;
  // node-pg-migrate sets the session's search_path to the schema: the connection goes back to its
  // pool as it came (a shared pool's next user must not resolve names in Skiplock's schema).
  const searchPath = (await client.query<{ search_path: string }>('SHOW search_path')).rows[0]?.search_path ?? '';
  await client.query('SELECT pg_advisory_lock(hashtext($1))', [lockKey]);
  try {
    const known = new Set(knownMigrations());
    const done = await appliedMigrations(client, schema);
    const unknown = done.filter((name) => !known.has(name));
    if (unknown.length > 0) {
      throw new SchemaVersionError(
        `schema "${schema}" has migrations this version of skiplock does not know (${unknown.join(', ')}): ` +
          'the database is newer than the code; upgrade the skiplock package',
      );
    }
    // Up to date: nothing runs (a worker migrating at every start needs no more rights than it uses).
    if (done.length === known.size) return { applied: [] };
    const ran = await runMigrations(client, schema, logger);
    const applied = ran.map((migration) => migration.name);
    if (applied.length > 0) logger.info({ schema, applied }, 'migrations applied');
    return { applied };
  } finally {
    try {
      await client.query(`SELECT set_config('search_path', $1, false)`, [searchPath]);
    } finally {
      await client.query('SELECT pg_advisory_unlock(hashtext($1))', [lockKey]);
    }
  }
}
