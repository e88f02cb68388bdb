import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineJob, type Worker } from 'skiplock';
import { createTestSchema, waitFor, type TestSchema, idOf } from '../../../test/support/schema.js';

/** Every line the logger wrote, parsed. */
const lines: Array<Record<string, unknown>> = [];
let t: TestSchema;
let worker: Worker;

const secretive = defineJob<{ email: string }>({
  name: 'log.secretive',
  maxAttempts: 1,
  perform(_args, ctx) {
    ctx.logger.info('handler says hello');
    throw new Error('nope');
  },
});
const chatty = defineJob<{ email: string }>({
  name: 'log.chatty',
  logArgs: true,
  maxAttempts: 1,
  perform(_args, ctx) {
    ctx.logger.info('handler says hello');
  },
});

beforeAll(async () => {
  const logger = pino(
    { level: 'debug' },
    { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  t = await createTestSchema({ logger });
  worker = t.skiplock.worker({ jobs: [secretive, chatty], pollInterval: '50ms' });
  await worker.start();
});
afterAll(async () => {
  await worker.stop();
  await t.drop();
});

const linesOf = (jobId: string | null) => lines.filter((line) => line.jobId === jobId);

describe('logs', () => {
  it('carry jobId, name, queue, attempt and the worker on every job line, and never the args by default', async () => {
    const id = idOf(await secretive.performLater({ email: 'ada@example.com' }));
    await waitFor(async () => linesOf(id).some((line) => line.msg === 'job discarded'), { what: 'the discard line' });
    const own = linesOf(id);
    expect(own.map((line) => line.msg)).toEqual(['handler says hello', 'job discarded']);
    for (const line of own) {
      expect(line).toMatchObject({ jobId: id, name: 'log.secretive', queue: 'default', attempt: 1, worker: worker.id });
    }
    expect(own[1]).toMatchObject({ level: 50, outcome: 'discarded', err: { message: 'nope', type: 'Error' } });
    expect(JSON.stringify(lines)).not.toContain('ada@example.com');
  });

  it('carry the args of a job that opts in with logArgs', async () => {
    const id = idOf(await chatty.performLater({ email: 'grace@example.com' }));
    await waitFor(async () => linesOf(id).some((line) => line.msg === 'job completed'), {
      what: 'the completion line',
    });
    for (const line of linesOf(id)) expect(line).toMatchObject({ args: { email: 'grace@example.com' } });
  });
});
