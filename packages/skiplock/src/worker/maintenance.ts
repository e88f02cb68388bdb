import type { Logger } from 'pino';

/**
 * Runs `task` every `intervalMs` without overlapping runs; failures are logged and the next run
 * still happens. Returns a function that stops it and waits for a run in progress.
 */
export function every(
  intervalMs: number,
  name: string,
  logger: Logger,
  task: () => Promise<void>,
): () => Promise<void> {
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    if (running) return;
    running = task()
      .catch((error: unknown) => logger.warn({ err: error }, `${name} failed; will try again`))
      .finally(() => {
        running = undefined;
      });
  }, intervalMs);
  return async () => {
    clearInterval(timer);
    await running;
  };
}
