import type pg from 'pg';

/**
 * Runs `fn` with a client checked out of `pool`, then releases it. While checked out, a client has
 * no error listener of the pool's: a connection lost between two queries would emit an unhandled
 * 'error' and kill the process. This listens for it, and destroys such a client instead of
 * returning it to the pool (the failing query rejects on its own). `fn` may have the client
 * destroyed too, by calling `discard`: its connection is closed instead of reused.
 */
export async function withClient<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient, discard: (reason: Error) => void) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let lost: Error | undefined;
  const onError = (error: Error) => {
    lost = error;
  };
  client.on('error', onError);
  try {
    return await fn(client, onError);
  } finally {
    client.off('error', onError);
    client.release(lost);
  }
}

/** Runs `fn` in a transaction on a client of `pool`: committed when it resolves, rolled back when it throws. */
export function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return withClient(pool, async (client) => {
    await client.query('BEGIN');
    try {
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  });
}

/**
 * Cancels what `client`'s backend is running, from another connection of `pool`; resolves once the
 * cancel is sent (or could not be: never rejects). The backend's process id is what pg read at
 * connect (`processID`, untyped in @types/pg); a client without one is left to finish its query.
 */
export async function cancelRunningQuery(pool: pg.Pool, client: pg.ClientBase): Promise<void> {
  const { processID } = client as pg.ClientBase & { processID?: unknown };
  if (typeof processID !== 'number') return;
  await pool.query('SELECT pg_cancel_backend($1)', [processID]).catch(() => undefined);
}
