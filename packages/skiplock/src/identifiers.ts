import { ConfigError } from './errors.js';

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,49}$/;
const QUEUE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$/;

/** Postgres's own schemas (and the `pg_` prefix it reserves for them). */
const SYSTEM_SCHEMA = /^(pg_|information_schema$)/;

/**
 * Checks a schema name (lower-case letters, digits and `_`, at most 50 characters, not starting with
 * a digit, not one of Postgres's own) and returns it double-quoted for SQL.
 */
export function quoteSchema(schema: string): string {
  if (!SCHEMA_NAME.test(schema)) {
    throw new ConfigError(
      `schema name "${schema}" is not allowed: use lower-case letters, digits and _ (at most 50, not starting with a digit)`,
    );
  }
  if (SYSTEM_SCHEMA.test(schema)) {
    throw new ConfigError(
      `schema name "${schema}" is not allowed: Postgres keeps pg_* and information_schema for itself`,
    );
  }
  return `"${schema}"`;
}

/**
 * True for queue names Skiplock stores: letters, digits and `_ . : / -`, 1 to 128 characters. A
 * value that is not a string (a queue function's miss: `undefined`) is none, whatever it prints as.
 */
export function isValidQueueName(queue: unknown): queue is string {
  return typeof queue === 'string' && QUEUE_NAME.test(queue);
}

/** The LISTEN/NOTIFY channel that tells a schema's workers about new jobs (payload: the queue). */
export function jobsChannel(schema: string): string {
  return `${schema}.jobs`;
}

/** The channel that tells workers an operator cancelled a running job (payload: the job id). */
export function cancelChannel(schema: string): string {
  return `${schema}.cancel`;
}
