import { afterAll, afterEach, beforeAll } from 'vitest';
import type { Skiplock, Worker, WorkerOptions } from 'skiplock';
import { createTestSchema, type TestSchema } from './schema.js';

/** A test file's own schema, and the workers its tests start. */
export interface TestFile {
  /** The schema and its Skiplock instance (ready from the first test on). */
  readonly t: TestSchema;
  /** Starts a worker (polling every 50 ms unless told) that is stopped when the test ends. */
  readonly startWorker: (options: WorkerOptions, skiplock?: Skiplock) => Promise<Worker>;
}

/**
 * Registers a test file's hooks: a fresh schema before its tests, dropped after them; after each
 * test, its workers stopped and the `emptied` tables of the schema emptied.
 */
export function useTestSchema(emptied: readonly string[] = ['jobs']): TestFile {
  let schema: TestSchema | undefined;
  const workers: Worker[] = [];
  const file: TestFile = {
    get t() {
      if (!schema) throw new Error('the test schema is created in beforeAll; use it inside tests and hooks');
      return schema;
    },
    startWorker: async (options, skiplock = file.t.skiplock) => {
      const worker = skiplock.worker({ pollInterval: '50ms', ...options });
      workers.push(worker);
      await worker.start();
      return worker;
    },
  };
  beforeAll(async () => {
    schema = await createTestSchema();
  });
  afterAll(() => schema?.drop());
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((worker) => worker.stop({ timeout: '1s' })));
    const { pool, schema: name } = file.t;
    await pool.query(emptied.map((table) => `DELETE FROM "${name}".${table}`).join('; '));
  });
  return file;
}
