// The database type the tests register for `ctx.db`, as a user would once in their app.
import type { Generated, Kysely } from 'kysely';

/** Tables the tests' transactional jobs write to. */
export interface TestDatabase {
  notes: { id: Generated<number>; body: string };
}

declare module 'skiplock' {
  interface Register {
    db: Kysely<TestDatabase>;
  }
}
