import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { context, SpanKind, SpanStatusCode, type Attributes } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AggregationTemporality,
  MeterProvider,
  MetricReader,
  type DataPoint,
  type Histogram,
  type MetricData,
} from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { defineJob, DiscardJob, type Worker } from 'skiplock';
import { createTestSchema, stateCounts, waitFor, type TestSchema } from '../../../test/support/schema.js';

/** A reader the test collects from on demand. */
class TestReader extends MetricReader {
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

const reader = new TestReader();
// What each collection observed: with cumulative temporality the JS SDK keeps exporting the last
// values of a removed gauge callback, so only a delta reader shows that a stopped worker reports nothing.
const deltaReader = new TestReader({ aggregationTemporalitySelector: () => AggregationTemporality.DELTA });
const meterProvider = new MeterProvider({ readers: [reader, deltaReader] });
const spans = new InMemorySpanExporter();
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
const tracer = tracerProvider.getTracer('test');
// Context flows through async code only with a context manager, as any OpenTelemetry SDK registers one.
const contextManager = new AsyncLocalStorageContextManager().enable();

let t: TestSchema;
const workers: Worker[] = [];
beforeAll(async () => {
  context.setGlobalContextManager(contextManager);
  t = await createTestSchema({ meterProvider, tracerProvider });
});
afterAll(async () => {
  await t.drop();
  await meterProvider.shutdown();
  await tracerProvider.shutdown();
  context.disable();
});
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop({ timeout: '1s' })));
  await t.pool.query(`DELETE FROM "${t.schema}".jobs`);
  spans.reset();
});

function startWorker(options: Parameters<TestSchema['skiplock']['worker']>[0]): Promise<Worker> {
  const worker = t.skiplock.worker({ pollInterval: '50ms', ...options });
  workers.push(worker);
  return worker.start().then(() => worker);
}

async function metric(name: string, from = reader): Promise<MetricData | undefined> {
  const { resourceMetrics, errors } = await from.collect();
  expect(errors).toEqual([]);
  const all = resourceMetrics.scopeMetrics.filter((s) => s.scope.name === 'skiplock').flatMap((s) => s.metrics);
  return all.find((m) => m.descriptor.name === name);
}

/** A metric's points as `queue/name` (or `queue/state` for the gauge) → value. */
async function points<V>(name: string, key = 'skiplock.job.name', from = reader): Promise<Record<string, V>> {
  const data = await metric(name, from);
  const byKey = (attributes: Attributes) => `${String(attributes['skiplock.queue'])}/${String(attributes[key])}`;
  return Object.fromEntries(
    ((data?.dataPoints ?? []) as Array<DataPoint<V>>).map((point) => [byKey(point.attributes), point.value]),
  );
}

const counts = (histograms: Record<string, Histogram>) =>
  Object.fromEntries(Object.entries(histograms).map(([key, h]) => [key, h.count]));

const allFinished = (n: number) =>
  waitFor(
    async () => {
      const states = await stateCounts(t);
      return (states.completed ?? 0) + (states.discarded ?? 0) === n;
    },
    { what: `${n} finished jobs` },
  );

describe('metrics', () => {
  it('counts enqueued, completed, failed and discarded jobs by queue and name; times runs and waits', async () => {
    let flakyRuns = 0;
    const ok = defineJob({ name: 'm.ok', queue: 'mq', perform() {} });
    const flaky = defineJob({
      name: 'm.flaky',
      queue: 'mq',
      backoff: () => 0,
      perform() {
        if ((flakyRuns += 1) === 1) throw new Error('first attempt fails');
      },
    });
    const doomed = defineJob({
      name: 'm.doomed',
      queue: 'mq',
      perform() {
        throw new DiscardJob('never');
      },
    });
    await t.skiplock.performAllLater(undefined, [
      ok.with({}),
      ok.with({}, { runAt: new Date(Date.now() - 60_000) }),
      ok.with({}, { queue: 'mq2' }),
      flaky.with({}, { uniqueKey: 'only-one' }),
      flaky.with({}, { uniqueKey: 'only-one' }), // a duplicate: not counted
      doomed.with({}),
    ]);
    expect(await points('skiplock.jobs.enqueued')).toEqual({
      'mq/m.ok': 2,
      'mq2/m.ok': 1,
      'mq/m.flaky': 1,
      'mq/m.doomed': 1,
    });

    await startWorker({ jobs: [ok, flaky, doomed], queues: ['mq', 'mq2'] });
    await allFinished(5);
    expect(await points('skiplock.jobs.completed')).toEqual({ 'mq/m.ok': 2, 'mq2/m.ok': 1, 'mq/m.flaky': 1 });
    expect(await points('skiplock.jobs.failed')).toEqual({ 'mq/m.flaky': 1 });
    expect(await points('skiplock.jobs.discarded')).toEqual({ 'mq/m.doomed': 1 });

    const attempts = { 'mq/m.ok': 2, 'mq2/m.ok': 1, 'mq/m.flaky': 2, 'mq/m.doomed': 1 };
    const durations = await points<Histogram>('skiplock.job.duration');
    expect(counts(durations)).toEqual(attempts);
    expect(durations['mq/m.ok']!.sum).toBeLessThan(1);
    const latencies = await points<Histogram>('skiplock.job.latency');
    expect(counts(latencies)).toEqual(attempts);
    // The job due a minute ago waited at least that long; the others far less.
    expect(latencies['mq/m.ok']!.max).toBeGreaterThanOrEqual(59);
    expect(latencies['mq/m.ok']!.min).toBeLessThan(5);
    expect((await metric('skiplock.job.latency'))?.descriptor.unit).toBe('s');
  });

  it("reports the depth of a worker's queues per unfinished state, until the worker stops", async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let started = 0;
    const blocker = defineJob({
      name: 'd.block',
      queue: 'dq',
      async perform() {
        started += 1;
        await released;
      },
    });
    await deltaReader.collect(); // forget what earlier tests' workers reported
    const worker = await startWorker({ jobs: [blocker], concurrency: 1 });
    await blocker.performLater({});
    await waitFor(async () => started === 1, { what: 'the blocker to start' });
    await t.skiplock.performAllLater(undefined, [
      blocker.with({}),
      blocker.with({}),
      blocker.with({}),
      blocker.with({}, { wait: '1h' }),
      blocker.with({}, { wait: '1h' }),
      blocker.with({}, { queue: 'not-served' }),
    ]);
    const depth = await points<number>('skiplock.queue.depth', 'skiplock.job.state', deltaReader);
    expect(depth).toEqual({ 'dq/available': 3, 'dq/scheduled': 2, 'dq/running': 1, 'dq/retryable': 0 });

    release();
    await worker.stop();
    expect(await metric('skiplock.queue.depth', deltaReader)).toBeUndefined();
  });
});

describe('tracing', () => {
  it("links a job's perform span to the span that enqueued it; the handler's spans are its children", async () => {
    const traced = defineJob({
      name: 'tr.linked',
      perform() {
        tracer.startActiveSpan('inside the handler', (span) => span.end());
      },
    });
    const { request, result } = await tracer.startActiveSpan('request', async (span) => {
      const enqueued = await traced.performLater({});
      span.end();
      return { request: span.spanContext(), result: enqueued };
    });
    const { rows } = await t.pool.query(`SELECT metadata FROM "${t.schema}".jobs WHERE id = $1`, [result.id]);
    expect(rows[0].metadata).toEqual({ traceparent: `00-${request.traceId}-${request.spanId}-01` });

    await startWorker({ jobs: [traced] });
    await allFinished(1);
    const perform = spans.getFinishedSpans().find((s) => s.name === 'skiplock.perform tr.linked');
    expect(perform).toMatchObject({
      kind: SpanKind.CONSUMER,
      attributes: {
        'skiplock.job.id': result.id,
        'skiplock.job.name': 'tr.linked',
        'skiplock.queue': 'default',
        'skiplock.job.attempt': 1,
        'skiplock.job.outcome': 'completed',
      },
      status: { code: SpanStatusCode.UNSET },
    });
    expect(perform!.parentSpanContext).toBeUndefined();
    expect(perform!.links.map((link) => link.context)).toMatchObject([
      { traceId: request.traceId, spanId: request.spanId, isRemote: true },
    ]);
    const inner = spans.getFinishedSpans().find((s) => s.name === 'inside the handler');
    expect(inner?.parentSpanContext?.spanId).toBe(perform!.spanContext().spanId);
    expect(inner?.spanContext().traceId).toBe(perform!.spanContext().traceId);
  });

  it('metadata that is not a plain object is refused under an active span too (not replaced by the trace context)', async () => {
    const job = defineJob({ name: 'tr.bad-metadata', perform() {} });
    for (const metadata of [new Map([['t', 1]]), null, ['x']]) {
      await tracer.startActiveSpan('request', async (span) => {
        await expect(
          job.performLater({}, { metadata: metadata as unknown as Record<string, never> }),
        ).rejects.toMatchObject({ code: 'JOB_PAYLOAD', path: 'metadata' });
        span.end();
      });
    }
    const { rows } = await t.pool.query(`SELECT 1 FROM "${t.schema}".jobs WHERE name = 'tr.bad-metadata'`);
    expect(rows).toEqual([]);
  });

  it("keeps a caller's traceparent, ignores invalid ones, and records a failed attempt's exception", async () => {
    const callers = defineJob<{ n: number }>({
      name: 'tr.callers',
      perform({ n }) {
        if (n === 0) throw new DiscardJob('bad input');
      },
    });
    const invalid = [
      'not-a-traceparent',
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01', // zero trace id
      'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', // version ff
      '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01', // upper case
    ];
    const results = await tracer.startActiveSpan('request', async (span) => {
      const enqueued = await t.skiplock.performAllLater(
        undefined,
        invalid.map((traceparent, n) => callers.with({ n }, { metadata: { traceparent } })),
      );
      span.end();
      return enqueued;
    });
    const { rows } = await t.pool.query(`SELECT metadata->>'traceparent' AS tp FROM "${t.schema}".jobs ORDER BY id`);
    expect(rows.map((row) => row.tp)).toEqual(invalid);

    await startWorker({ jobs: [callers] });
    await allFinished(invalid.length);
    const performs = spans.getFinishedSpans().filter((s) => s.name === 'skiplock.perform tr.callers');
    expect(performs).toHaveLength(invalid.length);
    for (const span of performs) expect(span.links).toEqual([]);
    const failed = performs.find((s) => s.attributes['skiplock.job.id'] === results[0]!.id);
    expect(failed).toMatchObject({
      status: { code: SpanStatusCode.ERROR, message: 'bad input' },
      attributes: { 'skiplock.job.outcome': 'discarded' },
    });
    expect(failed!.events.map((e) => [e.name, e.attributes?.['exception.message']])).toEqual([
      ['exception', 'bad input'],
    ]);
  });
});
