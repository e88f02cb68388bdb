import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';
import { envLogLevel } from 'skiplock';

/** Pretty logs for people on a terminal, JSON lines for machines otherwise. */
export function cliLogger(): Logger {
  const level = envLogLevel('info');
  if (process.stdout.isTTY) {
    return pino({ level }, pretty({ colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' }));
  }
  return pino({ level });
}
