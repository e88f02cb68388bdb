import { pino } from 'pino';
import { envLogLevel, Skiplock, type Admin, type Retention } from 'skiplock';
import { databaseUrl, type Flags } from './args.js';

/**
 * Runs one admin command against DATABASE_URL (schema from `--schema`): a small pool, logs at
 * `warn` on stderr so that stdout carries only the command's output.
 */
export async function withAdmin<T>(
  command: string,
  flags: Flags,
  fn: (admin: Admin) => Promise<T>,
  retention?: Retention,
): Promise<T> {
  const skiplock = new Skiplock({
    retention,
    connectionString: databaseUrl(command),
    schema: flags.string('schema'),
    logger: pino({ level: envLogLevel('warn') }, pino.destination(2)),
    poolSize: 2,
    default: false,
  });
  try {
    return await fn(skiplock.admin);
  } finally {
    await skiplock.close();
  }
}

/** Prints `value` as JSON with `--json`, else as `render` draws it for people. */
export function print<T>(flags: Flags, value: T, render: (value: T) => string): void {
  process.stdout.write(`${flags.bool('json') ? JSON.stringify(value, null, 2) : render(value)}\n`);
}
