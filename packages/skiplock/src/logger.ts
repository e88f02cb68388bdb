import { pino, type Logger } from 'pino';
import { ConfigError } from './errors.js';

/** The logger used when none is given: JSON on stdout at `SKIPLOCK_LOG_LEVEL` (default `info`). */
export function defaultLogger(): Logger {
  return pino({ level: envLogLevel('info') });
}

/**
 * The log level `SKIPLOCK_LOG_LEVEL` names, else `fallback`.
 *
 * @throws ConfigError naming the variable and the levels there are, for a level pino does not have.
 */
export function envLogLevel(fallback: string): string {
  const level = process.env.SKIPLOCK_LOG_LEVEL;
  if (level === undefined || level === '') return fallback;
  const levels = [...Object.keys(pino.levels.values), 'silent'];
  if (!levels.includes(level)) {
    throw new ConfigError(`SKIPLOCK_LOG_LEVEL must be one of ${levels.join(', ')}, got "${level}"`);
  }
  return level;
}
