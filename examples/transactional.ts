// A job whose database writes and "done" commit together: no double effect after a crash between them.
import { Kysely, PostgresDialect, type Generated } from 'kysely';
import pg from 'pg';
import { defineJob, Skiplock } from 'skiplock';
import { untilIdle } from './until-idle.js';

interface Database {
  ledger: { id: Generated<number>; account: string; cents: number };
}

// Register the app's database once: every handler's ctx.db has this type, no casts.
declare module 'skiplock' {
  interface Register {
    db: Kysely<Database>;
  }
}

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
await db.schema
  .createTable('ledger')
  .ifNotExists()
  .addColumn('id', 'serial', (c) => c.primaryKey())
  .addColumn('account', 'text', (c) => c.notNull())
  .addColumn('cents', 'integer', (c) => c.notNull())
  .execute();

export const credit = defineJob<{ account: string; cents: number }>({
  name: 'ledger.credit',
  transactional: true, // ctx.db is a transaction; the job's completion is written in it too
  async perform({ account, cents }, ctx) {
    await ctx.db.insertInto('ledger').values({ account, cents }).execute();
  },
});

const skiplock = new Skiplock({ pool, db }); // ctx.db: transactions of this Kysely instance
await skiplock.migrate();
await db.transaction().execute((trx) => credit.performLater({ account: 'ada', cents: 500 }, { db: trx }));
const worker = skiplock.worker({ jobs: [credit], pollInterval: '50ms' });
await worker.start();
await untilIdle(skiplock);
const rows = await db.selectFrom('ledger').select(['account', 'cents']).where('account', '=', 'ada').execute();
console.log(`ledger rows for ada: ${rows.length}`);
await worker.stop();
await skiplock.close();
await db.destroy();
