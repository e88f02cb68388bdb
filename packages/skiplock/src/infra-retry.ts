/**
 * Infrastructure errors, as opposed to job failures: the connection dropped, the server restarted,
 * a serialization conflict or deadlock, a pool that found no free connection in its
 * `connectionTimeoutMillis`. The worker's loops retry these with backoff; they never count against
 * a job.
 */
const TRANSIENT_SQLSTATE_CLASSES = ['08', '53', '57'];
const TRANSIENT_SQLSTATES = new Set(['40001', '40P01', '55P03']);
const TRANSIENT_NODE_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN']);

/** True for errors worth retrying after a pause. */
export function isTransientError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (TRANSIENT_SQLSTATES.has(code) || TRANSIENT_NODE_CODES.has(code)) return true;
    if (/^[0-9A-Z]{5}$/.test(code) && TRANSIENT_SQLSTATE_CLASSES.includes(code.slice(0, 2))) return true;
  }
  const message = (error as { message?: unknown }).message;
  return (
    typeof message === 'string' &&
    /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
      message,
    )
  );
}

/** Exponential backoff for infrastructure retries: 100 ms doubling to at most 5 s. */
export function infraBackoffMs(failures: number): number {
  return Math.min(5000, 100 * 2 ** Math.min(failures, 6));
}
