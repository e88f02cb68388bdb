import { pino, type Logger } from 'pino';

/** The logger used when none is given: JSON on stdout at `SKIPLOCK_LOG_LEVEL` (default `info`). */
export function defaultLogger(): Logger {
  return pino({ level: process.env.SKIPLOCK_LOG_LEVEL ?? 'info' });
}
