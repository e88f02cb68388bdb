import type { Logger } from 'pino';
import type { Skiplock } from 'skiplock';

/** How long a stopping command waits for its pool's connections after its worker stopped. */
const CLOSE_TIMEOUT_MS = 5000;

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

/**
 * Closes `skiplock` after its worker stopped, waiting at most 5 s for the pool: a handler that
 * ignored its signal past the shutdown timeout may still hold a connection in a query of its own
 * (its job is put back already), which ending the pool would wait for. The command exits next,
 * which closes that connection.
 */
export async function closeWithin(skiplock: Skiplock, logger: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), CLOSE_TIMEOUT_MS)));
  const closed = await Promise.race([skiplock.close().then(() => true), timeout]);
  clearTimeout(timer);
  if (!closed)
    logger.warn('a handler still holds a database connection after the shutdown timeout: exiting without it');
}
