// The README's example, type-checked by `pnpm typecheck` so the README stays true.
import { defineJob, Skiplock } from 'skiplock';
import { z } from 'zod';

export const sendWelcome = defineJob({
  name: 'mailer.welcome', // stable identity, stored in each row
  schema: z.object({ userId: z.string() }),
  queue: 'mailers',
  maxAttempts: 10,
  perform({ userId }, ctx) {
    ctx.logger.info({ userId }, `attempt ${ctx.attempt}`); // throw to retry with backoff
  },
});

const skiplock = new Skiplock({ connectionString: process.env.DATABASE_URL });
await skiplock.migrate();

const client = await skiplock.pool.connect(); // or a Kysely transaction: { db: trx }
await client.query('CREATE TABLE IF NOT EXISTS users (id text PRIMARY KEY)'); // so that the example runs anywhere
await client.query('BEGIN');
await client.query('INSERT INTO users (id) VALUES ($1) ON CONFLICT DO NOTHING', ['u1']);
await sendWelcome.performLater({ userId: 'u1' }, { db: client, wait: '10s' });
await client.query('COMMIT'); // rollback and the job never existed
client.release();

const worker = skiplock.worker({ jobs: [sendWelcome], concurrency: 20 });
await worker.start(); // later: await worker.stop({ timeout: '30s' })
await worker.stop();
await skiplock.close();
