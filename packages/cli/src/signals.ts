import type { Logger } from 'pino';

/**
 * On the first SIGTERM/SIGINT runs `shutdown` and exits 0 (1 if it failed); a second signal exits
 * at once with status 1.
 */
export function exitOnSignal(logger: Logger, shutdown: (signal: string) => Promise<void>): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now; unfinished jobs are rescued when their lease expires');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'stopping (send the signal again to exit at once)');
    shutdown(signal).then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
