import { UsageError } from './usage.js';

/** Errors of reaching the server at all: the message names where we tried. */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  '28P01',
  '28000',
  '3D000',
]);

/** DATABASE_URL without its password. */
function where(): string {
  try {
    const url = new URL(process.env.DATABASE_URL ?? '');
    url.password = url.password ? '***' : '';
    return url.toString();
  } catch {
    return 'DATABASE_URL';
  }
}

/** An error's message; Node reports a refused connection as an AggregateError with none. */
function messageOf(error: Error): string {
  const inner = error instanceof AggregateError ? (error.errors[0] as Error | undefined) : undefined;
  return error.message || inner?.message || error.name;
}

/**
 * What the CLI prints for an error and the status it exits with: 2 for a usage mistake (bad flag,
 * bad filter value), 1 for anything that went wrong at run time.
 */
export function describeFailure(error: unknown): { message: string; exitCode: number } {
  if (error instanceof UsageError) return { message: error.message, exitCode: 2 };
  const code = (error as { code?: unknown }).code;
  const text = error instanceof Error ? messageOf(error) : String(error);
  // Bad input: an invalid argument, or a setting no worker or schema can have (--lease 0, --schema Bad).
  if (code === 'INVALID_ARGUMENT' || code === 'CONFIG') return { message: `skiplock: ${text}`, exitCode: 2 };
  if (typeof code === 'string' && CONNECTION_CODES.has(code)) {
    return { message: `skiplock: cannot connect to PostgreSQL at ${where()}: ${text} (${code})`, exitCode: 1 };
  }
  if (code === '42P01') {
    return {
      message: `skiplock: ${text}: the schema has no Skiplock tables yet; run skiplock migrate (with the same --schema)`,
      exitCode: 1,
    };
  }
  return { message: `skiplock: ${text}${typeof code === 'string' ? ` (${code})` : ''}`, exitCode: 1 };
}
