import { expect } from 'vitest';
import type { TestSchema } from './schema.js';

async function count(t: TestSchema, sql: string): Promise<number> {
  const { rows } = await t.pool.query<{ n: number }>(sql.replaceAll('$s', `"${t.schema}"`));
  return rows[0]?.n ?? -1;
}

/**
 * Enqueues `n` jobs through `enqueue`, and alongside them a few in a transaction that rolls back
 * (which must never run).
 */
export async function enqueueWithRollback(
  t: TestSchema,
  enqueue: (db: import('pg').PoolClient | undefined) => Promise<unknown>,
): Promise<void> {
  const client = await t.pool.connect();
  try {
    await client.query('BEGIN');
    await enqueue(client);
    await client.query('ROLLBACK');
  } finally {
    client.release();
  }
  await enqueue(undefined);
}

/**
 * Checks what must hold after any run, faults or not: every committed job ran at least once, no
 * run belongs to a job that was never committed, nothing is left `running`, and every job ended in
 * `expectedState`. Without faults, no job ran twice. Returns how many runs were repeats.
 */
export async function checkOracle(
  t: TestSchema,
  { jobs, faults, expectedState = 'completed' }: { jobs: number; faults: boolean; expectedState?: string },
): Promise<number> {
  expect(await count(t, `SELECT count(*)::int AS n FROM $s.jobs WHERE state = 'running'`)).toBe(0);
  expect(await count(t, `SELECT count(*)::int AS n FROM $s.jobs WHERE state = '${expectedState}'`)).toBe(jobs);
  expect(
    await count(
      t,
      `SELECT count(*)::int AS n FROM $s.jobs j WHERE NOT EXISTS (SELECT 1 FROM $s.runs r WHERE r.job_id = j.id)`,
    ),
  ).toBe(0);
  expect(
    await count(
      t,
      `SELECT count(*)::int AS n FROM $s.runs r WHERE NOT EXISTS (SELECT 1 FROM $s.jobs j WHERE j.id = r.job_id)`,
    ),
  ).toBe(0);
  const repeats = await count(t, `SELECT (count(*) - count(DISTINCT job_id))::int AS n FROM $s.runs`);
  if (!faults) expect(repeats).toBe(0);
  return repeats;
}

/** Clears jobs and runs between scenarios. */
export async function resetJobs(t: TestSchema): Promise<void> {
  await t.pool.query(
    `DELETE FROM "${t.schema}".jobs; DELETE FROM "${t.schema}".runs; DELETE FROM "${t.schema}".workers`,
  );
}
