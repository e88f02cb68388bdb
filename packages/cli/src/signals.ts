import type { Logger } from 'pino';

/**
 * How long a stopping command waits for its pool after its worker stopped: a handler that ignored
 * its signal may still hold a connection, which the exit that follows closes.
 */
export const CLOSE_POOL_TIMEOUT = '5s';

/** The running command's graceful stop, once it has one (see {@link exitOnSignal}). */
let stopCommand: ((reason: string) => void) | undefined;

/**
 * On the first SIGTERM/SIGINT runs `shutdown` and exits 0 (1 if it failed); a second signal exits
 * at once with status 1. A closed stdout stops the command the same way (see
 * {@link stopOnClosedOutput}).
 */
export function exitOnSignal(logger: Logger, shutdown: (signal: string) => Promise<void>): void {
  let stopping = false;
  const stop = (reason: string) => {
    stopping = true;
    logger.info({ signal: reason }, 'stopping (send the signal again to exit at once)');
    shutdown(reason).then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now; unfinished jobs are rescued when their lease expires');
      process.exit(1);
    }
    stop(signal);
  };
  stopCommand = (reason) => {
    if (!stopping) stop(reason);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

/**
 * Stdout's reader went away (`skiplock jobs list | head`, EPIPE): a command that runs until a
 * signal (worker, dev) stops gracefully, as on SIGTERM, so that its jobs go back and the embedded
 * Postgres stops; any other ends at once with status 0, as SIGPIPE ends other Unix tools.
 */
export function stopOnClosedOutput(): void {
  if (stopCommand) stopCommand('EPIPE');
  else process.exit(0);
}
