import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Notifier } from '../src/worker/notifier.js';
import { databaseUrl, testPool } from '../../../test/support/schema.js';

describe('Notifier', () => {
  it('stop closes the connection within its grace when the cancel of its statement cannot get a pool connection', async () => {
    const url = databaseUrl();
    const starved = testPool(url, 1);
    const holder = await starved.connect(); // the cancel waits for this one
    const notifier = new Notifier({
      clientConfig: { connectionString: url },
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
