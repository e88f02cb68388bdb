import {
  context,
  createTraceState,
  isSpanContextValid,
  metrics,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Attributes,
  type Counter,
  type Histogram,
  type MeterProvider,
  type ObservableCallback,
  type ObservableGauge,
  type Span,
  type SpanContext,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import type { JsonValue } from './payload.js';
import type { ClaimedRow } from './sql/claim.js';
import type { Outcome } from './worker/outcome.js';

/** Bucket bounds (seconds) for run time and latency: from milliseconds to an hour. */
const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

/** The unfinished states `skiplock.queue.depth` reports. */
const DEPTH_STATES = ['available', 'scheduled', 'running', 'retryable'] as const;

/** One row of the queue depth query: how many jobs of a queue are in a state. */
export interface DepthRow {
  queue: string;
  state: string;
  count: number;
}

/** W3C `traceparent`: version, trace id, parent span id, flags (later versions may append fields). */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/** The span context a W3C `traceparent` (and `tracestate`) names, or undefined when it is not valid. */
function parseTraceparent(traceparent: unknown, tracestate: unknown): SpanContext | undefined {
  if (typeof traceparent !== 'string') return undefined;
  const match = TRACEPARENT.exec(traceparent);
  if (!match || match[1] === 'ff' || (match[1] === '00' && match[5] !== undefined)) return undefined;
  const spanContext: SpanContext = {
    traceId: match[2] as string,
    spanId: match[3] as string,
    traceFlags: parseInt(match[4] as string, 16) & TraceFlags.SAMPLED,
    isRemote: true,
    traceState: typeof tracestate === 'string' ? createTraceState(tracestate) : undefined,
  };
  return isSpanContextValid(spanContext) ? spanContext : undefined;
}

/**
 * Adds the active span's W3C `traceparent` (and `tracestate`) to a job's metadata, so that the job's
 * perform span can link to the request that enqueued it. Returns `metadata` itself when no span is
 * active or the caller already set a `traceparent`.
 */
export function withTraceContext(
  metadata: Record<string, JsonValue> | undefined,
): Record<string, JsonValue> | undefined {
  if (metadata?.traceparent !== undefined) return metadata;
  const active = trace.getSpanContext(context.active());
  if (!active || !isSpanContextValid(active)) return metadata;
  const traceparent = `00-${active.traceId}-${active.spanId}-0${(active.traceFlags & TraceFlags.SAMPLED).toString(16)}`;
  const tracestate = active.traceState?.serialize();
  return tracestate ? { ...metadata, traceparent, tracestate } : { ...metadata, traceparent };
}

/**
 * Skiplock's OpenTelemetry instruments (meter `skiplock`) and perform spans (tracer `skiplock`).
 * Without an SDK behind the providers every call is a no-op.
 */
export class Telemetry {
  readonly #tracer: Tracer;
  readonly #enqueued: Counter;
  /** The counter of each outcome a worker records (`skiplock.jobs.completed`, `.failed`, `.discarded`, `.cancelled`). */
  readonly #outcomes: Partial<Record<Outcome['state'], Counter>>;
  readonly #duration: Histogram;
  readonly #latency: Histogram;
  readonly #depth: ObservableGauge;
  /** `{ skiplock.queue, skiplock.job.name }` by queue, then name: built once, reused by every record. */
  readonly #attributes = new Map<string, Map<string, Attributes>>();

  /** Uses the global providers of `@opentelemetry/api` unless given others. */
  constructor(
    meterProvider: MeterProvider = metrics.getMeterProvider(),
    tracerProvider: TracerProvider = trace.getTracerProvider(),
  ) {
    const meter = meterProvider.getMeter('skiplock');
    this.#tracer = tracerProvider.getTracer('skiplock');
    const counter = (name: string, description: string) => meter.createCounter(name, { description, unit: '{job}' });
    this.#enqueued = counter('skiplock.jobs.enqueued', 'Jobs inserted (duplicates of a unique key excluded)');
    this.#outcomes = {
      completed: counter('skiplock.jobs.completed', 'Attempts that completed'),
      retryable: counter('skiplock.jobs.failed', 'Attempts that failed and will be retried'),
      discarded: counter('skiplock.jobs.discarded', 'Jobs given up on (DiscardJob or attempts used up)'),
      cancelled: counter('skiplock.jobs.cancelled', 'Running jobs an operator cancelled'),
    };
    const advice = { explicitBucketBoundaries: SECONDS_BUCKETS };
    this.#duration = meter.createHistogram('skiplock.job.duration', {
      description: 'Run time of an attempt, argument validation and handler',
      unit: 's',
      advice,
    });
    this.#latency = meter.createHistogram('skiplock.job.latency', {
      description: 'How long a due job waited before a worker started it (Postgres clock)',
      unit: 's',
      advice,
    });
    this.#depth = meter.createObservableGauge('skiplock.queue.depth', {
      description: 'Unfinished jobs per queue and state, as seen by a worker serving the queue',
      unit: '{job}',
    });
  }

  #attributesOf(queue: string, name: string): Attributes {
    let byName = this.#attributes.get(queue);
    if (!byName) this.#attributes.set(queue, (byName = new Map<string, Attributes>()));
    let attributes = byName.get(name);
    if (!attributes) byName.set(name, (attributes = { 'skiplock.queue': queue, 'skiplock.job.name': name }));
    return attributes;
  }

  /** Counts `count` inserted jobs of one queue and name. */
  recordEnqueued(queue: string, name: string, count: number): void {
    this.#enqueued.add(count, this.#attributesOf(queue, name));
  }

  /**
   * Starts the perform span of a claimed job (a new trace, linked to the enqueuer's span when the
   * job's metadata carries a valid `traceparent`) and records the job's latency.
   */
  startPerform(row: ClaimedRow): Span {
    this.#latency.record(Math.max(0, row.lag_ms) / 1000, this.#attributesOf(row.queue, row.name));
    const enqueuer = parseTraceparent(row.metadata.traceparent, row.metadata.tracestate);
    return this.#tracer.startSpan(
      `skiplock.perform ${row.name}`,
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          'skiplock.job.id': row.id,
          'skiplock.job.name': row.name,
          'skiplock.queue': row.queue,
          'skiplock.job.attempt': row.attempt,
        },
        links: enqueuer ? [{ context: enqueuer }] : undefined,
      },
      ROOT_CONTEXT,
    );
  }

  /**
   * Runs `fn` with `span` active, so that spans the handler starts are its children. A span without
   * a valid context (no tracer provider registered) has nothing to pass on: `fn` runs as it is,
   * without a context per job.
   */
  inSpan<T>(span: Span, fn: () => T): T {
    if (!isSpanContextValid(span.spanContext())) return fn();
    return context.with(trace.setSpan(ROOT_CONTEXT, span), fn);
  }

  /** Ends a perform span with the attempt's outcome and records its run time. */
  endPerform(span: Span, row: ClaimedRow, outcome: Outcome, ms: number): void {
    this.#duration.record(ms / 1000, this.#attributesOf(row.queue, row.name));
    span.setAttribute('skiplock.job.outcome', outcome.state);
    if (outcome.state === 'retryable' || outcome.state === 'discarded') {
      const { name, message, stack } = outcome.error;
      span.recordException({ name, message, stack: stack ?? undefined });
      span.setStatus({ code: SpanStatusCode.ERROR, message });
    }
    span.end();
  }

  /** Counts an attempt's outcome once the worker has accepted it for writing. */
  recordOutcome(row: ClaimedRow, outcome: Outcome): void {
    this.#outcomes[outcome.state]?.add(1, this.#attributesOf(row.queue, row.name));
  }

  /**
   * Reports `skiplock.queue.depth` for `queues` at each collection, every unfinished state included
   * (0 when empty), from one call of `read`. Returns the function that stops reporting.
   */
  observeQueueDepth(queues: readonly string[], read: () => Promise<DepthRow[]>): () => void {
    const series = queues.flatMap((queue) =>
      DEPTH_STATES.map((state) => ({
        queue,
        state,
        attributes: { 'skiplock.queue': queue, 'skiplock.job.state': state },
      })),
    );
    const callback: ObservableCallback = async (result) => {
      const rows = await read();
      for (const { queue, state, attributes } of series) {
        result.observe(rows.find((row) => row.queue === queue && row.state === state)?.count ?? 0, attributes);
      }
    };
    this.#depth.addCallback(callback);
    return () => this.#depth.removeCallback(callback);
  }
}
