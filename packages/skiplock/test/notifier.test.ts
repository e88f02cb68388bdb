import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Notifier } from '../src/worker/notifier.js';
import { createTestSchema, type TestSchema } from '../../../test/support/schema.js';

let t: TestSchema;
beforeAll(async () => {
  t = await createTestSchema();
});
afterAll(() => t.drop());

describe('Notifier', () => {
  it('stop closes the connection within its grace when the cancel of its statement cannot get a pool connection', async () => {
    const starved = new pg.Pool({ connectionString: t.url, max: 1 });
    const holder = await starved.connect(); // the cancel waits for this one
    const notifier = new Notifier({
      clientConfig: { connectionString: t.url },
      pool: starved,
      channels: {},
      onConnect: () => undefined,
      pingIntervalMs: 30_000,
      logger: pino({ level: 'silent' }),
    });
    try {
      await notifier.start();
      const running = notifier.query('SELECT pg_sleep(30)', []);
      expect(running).toBeDefined();
      const ended = running!.then(
        () => 'answered',
        () => 'closed',
      );
      const started = performance.now();
      await notifier.stop();
      expect(performance.now() - started).toBeLessThan(2000);
      expect(await ended).toBe('closed');
    } finally {
      holder.release();
      await starved.end();
    }
  });
});
