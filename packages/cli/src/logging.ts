import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

/** Pretty logs for people on a terminal, JSON lines for machines otherwise. */
export function cliLogger(): Logger {
  const level = process.env.SKIPLOCK_LOG_LEVEL ?? 'info';
  if (process.stdout.isTTY) {
    return pino({ level }, pretty({ colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' }));
  }
  return pino({ level });
}
