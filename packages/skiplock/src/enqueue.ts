import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { Queryable } from './db.js';
import { queueNameProblem, type EnqueueResult, type JobRequest } from './definition.js';
import { toMs } from './duration.js';
import { EnqueueError, JobPayloadError } from './errors.js';
import { isValidQueueName, jobsChannel, quoteSchema } from './identifiers.js';
import { DEFAULT_MAX_PAYLOAD_BYTES, serializeJsonObject } from './payload.js';
import {
  findByUniqueKeysSql,
  INSERT_COLUMNS,
  insertJobsSql,
  SHARED_COLUMNS,
  type InsertVariant,
} from './sql/enqueue.js';
import { Telemetry, withTraceContext } from './telemetry.js';
import type { InsertCoalescer } from './coalescer.js';
import type { Waker, WakeTicket } from './waker.js';

/** A prepared statement: its name (unique per schema and variant) and text. */
interface Statement {
  readonly name: string;
  readonly text: string;
}

/** Per-instance settings an enqueue needs, with its statements built once. */
export interface EnqueueConfig {
  /** Cap on a job's serialized arguments. */
  readonly maxPayloadBytes: number;
  /** The channel workers LISTEN on for new jobs. */
  readonly channel: string;
  /** The insert statement of each variant, keyed `shape/shared/notify`. */
  readonly inserts: Readonly<Record<string, Statement>>;
  readonly findByKeysSql: string;
  /** Where enqueued jobs are counted. */
  readonly telemetry: Telemetry;
}

const variantKey = ({ shape, shared, notify }: InsertVariant) => `${shape}/${shared}/${notify}`;

/** Builds the enqueue settings for a schema (validated; `quotedSchema` is it quoted). */
export function enqueueConfig(
  quotedSchema: string,
  channel: string,
  maxPayloadBytes: number,
  telemetry: Telemetry,
): EnqueueConfig {
  const inserts: Record<string, Statement> = {};
  for (const shape of ['one', 'many', 'unique'] as const) {
    for (const shared of shape === 'one' ? [false] : [false, true]) {
      for (const notify of [false, true]) {
        const key = variantKey({ shape, shared, notify });
        inserts[key] = {
          name: `skiplock-enqueue-${quotedSchema}-${key}`,
          text: insertJobsSql(quotedSchema, { shape, shared, notify }),
        };
      }
    }
  }
  return { maxPayloadBytes, channel, telemetry, inserts, findByKeysSql: findByUniqueKeysSql(quotedSchema) };
}

/** The defaults: schema `skiplock`, 1 MiB payloads, the global OpenTelemetry providers. */
export const DEFAULT_ENQUEUE_CONFIG: EnqueueConfig = enqueueConfig(
  quoteSchema('skiplock'),
  jobsChannel('skiplock'),
  DEFAULT_MAX_PAYLOAD_BYTES,
  new Telemetry(),
);

/** What a `one` or `many` insert returns: the ids, comma-separated, and a letter per job, `a`/`s` (its state). */
interface BatchInserted {
  ids: string;
  states: string;
}

interface InsertedRow {
  ord: number;
  unique_key: string | null;
  state: 'available' | 'scheduled' | null;
  id: string | null;
}

/** Renders a Standard Schema issue path as `args.a[0].b`. */
function issuePath(issue: StandardSchemaV1.Issue): string {
  let path = 'args';
  for (const segment of issue.path ?? []) {
    const key = typeof segment === 'object' ? segment.key : segment;
    path += typeof key === 'number' ? `[${key}]` : `.${String(key)}`;
  }
  return path;
}

/**
 * Checks `args` against the job's schema, if any, and returns the validated output.
 *
 * @throws JobPayloadError naming the first failing path.
 */
export async function validateArgs(request: Pick<JobRequest, 'job' | 'args'>): Promise<unknown> {
  const schema = request.job.schema as StandardSchemaV1 | undefined;
  if (!schema) return request.args;
  const result = await schema['~standard'].validate(request.args);
  if (result.issues) {
    const [first] = result.issues;
    const more = result.issues.length > 1 ? ` (and ${result.issues.length - 1} more issues)` : '';
    throw new JobPayloadError(
      request.job.name,
      first ? issuePath(first) : 'args',
      `fails the job's schema: ${first?.message ?? 'invalid'}${more}`,
    );
  }
  return result.value;
}

function checkInteger(name: string, what: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new EnqueueError(name, `${what} must be an integer from ${min} to ${max}, got ${value}`);
  }
}

/** One job as the insert statement reads it: a value per column of `INSERT_COLUMNS` (JSON as text). */
export interface InputRow {
  name: string;
  args: string;
  queue: string;
  priority: number;
  max_attempts: number;
  run_at: Date | null;
  wait_ms: number | null;
  unique_key: string | null;
  metadata: string;
  version: number;
}

/**
 * Validates the requests (schemas first, then each job's arguments and options) and renders each as
 * the row the insert statement reads.
 */
export async function toInputRows(requests: readonly JobRequest[], config: EnqueueConfig): Promise<InputRow[]> {
  await Promise.all(requests.flatMap((request) => (request.job.schema ? [validateArgs(request)] : [])));
  return requests.map((request) => toInputRow(request, config));
}

function toInputRow(request: JobRequest, config: EnqueueConfig): InputRow {
  const { job, options } = request;
  const name = job.name;
  const argsJson = serializeJsonObject(name, request.args, config.maxPayloadBytes, 'args');
  const queue = options.queue ?? job.queueFor(request.args);
  if (!isValidQueueName(queue)) throw new EnqueueError(name, queueNameProblem(queue));
  const priority = options.priority ?? job.priorityFor(request.args);
  checkInteger(name, 'priority', priority, -32768, 32767);
  const maxAttempts = options.maxAttempts ?? job.maxAttempts;
  checkInteger(name, 'maxAttempts', maxAttempts, 1, 1_000_000);
  if (options.runAt !== undefined && options.wait !== undefined) {
    throw new EnqueueError(name, 'give either runAt or wait, not both');
  }
  if (options.runAt !== undefined && !(options.runAt instanceof Date && !Number.isNaN(options.runAt.getTime()))) {
    throw new EnqueueError(name, 'runAt must be a valid Date');
  }
  const uniqueKey = options.uniqueKey ?? null;
  if (uniqueKey !== null && (typeof uniqueKey !== 'string' || uniqueKey.length === 0)) {
    throw new EnqueueError(name, 'uniqueKey must be a non-empty string');
  }
  const metadata = withTraceContext(options.metadata) ?? {};
  const metadataJson = serializeJsonObject(name, metadata, config.maxPayloadBytes, 'metadata');
  const waitMs = options.wait === undefined ? null : toMs(options.wait, `job "${name}" wait`);
  return {
    name,
    args: argsJson,
    queue,
    priority,
    max_attempts: maxAttempts,
    run_at: options.runAt ?? null,
    wait_ms: waitMs,
    unique_key: uniqueKey,
    metadata: metadataJson,
    version: job.version,
  };
}

/**
 * The statement's parameters: one array per column, or where `shared` the first row's value (all
 * rows have it; see `InsertVariant.shared`).
 */
function columns(rows: readonly InputRow[], first: InputRow, shared: boolean): unknown[] {
  return INSERT_COLUMNS.map((column) =>
    shared && SHARED_COLUMNS.includes(column) ? first[column] : rows.map((row) => row[column]),
  );
}

/** Whether all rows agree on each of the shared columns. */
function agreeOnShared(rows: readonly InputRow[], first: InputRow): boolean {
  return rows.every((row) => SHARED_COLUMNS.every((column) => row[column] === first[column]));
}

/** The queue a request goes to. */
function queueOf(request: JobRequest): string {
  return request.options.queue ?? request.job.queueFor(request.args);
}

/**
 * Runs each request's `beforeEnqueue`, inserts those it did not skip in one statement, then runs
 * `afterEnqueue`. Returns one result per request, in order; nothing is inserted when any request is
 * invalid. Without `onPool` the statement runs on `db` and notifies the workers in its transaction;
 * with it (an enqueue on Skiplock's own pool) the rows go to that coalescer, which may share the
 * statement with other enqueues, and the pool's waker decides whether it notifies.
 */
export async function enqueueRequests(
  db: Queryable,
  config: EnqueueConfig,
  requests: readonly JobRequest[],
  onPool?: InsertCoalescer,
): Promise<EnqueueResult[]> {
  const kept: JobRequest[] = [];
  const skipped = new Set<number>();
  // Hooks are awaited only where defined: an `await` per job of a 10,000-job batch is not free.
  for (const [index, request] of requests.entries()) {
    const { beforeEnqueue } = request.job.hooks;
    if (beforeEnqueue && (await beforeEnqueue(request.args, request.options)) === false) skipped.add(index);
    else kept.push(request);
  }
  const inserted = kept.length === 0 ? [] : await insertKept(db, config, kept, onPool);
  let next = 0;
  const results = requests.map((request, index): EnqueueResult => {
    if (skipped.has(index)) return { status: 'skipped', id: null, name: request.job.name, queue: queueOf(request) };
    return inserted[next++] as EnqueueResult;
  });
  for (const [index, request] of requests.entries()) {
    const { afterEnqueue } = request.job.hooks;
    if (afterEnqueue && !skipped.has(index)) await afterEnqueue(request.args, results[index] as EnqueueResult);
  }
  return results;
}

/** Validates `requests` and inserts them: in `db`'s transaction, or through the pool's coalescer. */
async function insertKept(
  db: Queryable,
  config: EnqueueConfig,
  requests: readonly JobRequest[],
  onPool: InsertCoalescer | undefined,
): Promise<EnqueueResult[]> {
  const rows = await toInputRows(requests, config);
  // In a caller's transaction: always notify, at its commit.
  return onPool ? onPool.insert(requests, rows) : insertRows(db, config, requests, rows, { notify: true, extra: [] });
}

/**
 * Inserts validated rows on the pool in one statement, telling `waker` around it; see
 * {@link Waker}.
 */
export async function insertAndWake(
  db: Queryable,
  config: EnqueueConfig,
  requests: readonly JobRequest[],
  rows: readonly InputRow[],
  waker: Waker,
): Promise<EnqueueResult[]> {
  const ticket = waker.begin();
  let inserted: EnqueueResult[];
  try {
    inserted = await insertRows(db, config, requests, rows, ticket);
  } catch (error) {
    waker.end(ticket, [...new Set(rows.map((row) => row.queue))], true);
    throw error;
  }
  const available = inserted.flatMap((result) =>
    result.status === 'enqueued' && result.state === 'available' ? [result.queue] : [],
  );
  waker.end(ticket, available, false);
  return inserted;
}

/** The result of a job the insert wrote (and counted). */
function enqueued(
  config: EnqueueConfig,
  request: JobRequest,
  id: string,
  state: 'available' | 'scheduled',
): EnqueueResult {
  const name = request.job.name;
  const queue = queueOf(request);
  config.telemetry.recordEnqueued(queue, name);
  return { status: 'enqueued', id, state, name, queue };
}

/** Inserts validated rows in one round trip on `db`, one result per request, in order. */
async function insertRows(
  db: Queryable,
  config: EnqueueConfig,
  requests: readonly JobRequest[],
  rows: readonly InputRow[],
  { notify, extra }: WakeTicket,
): Promise<EnqueueResult[]> {
  const first = rows[0] as InputRow;
  const shape = rows.some((row) => row.unique_key !== null) ? 'unique' : rows.length === 1 ? 'one' : 'many';
  const shared = shape !== 'one' && agreeOnShared(rows, first);
  const statement = config.inserts[variantKey({ shape, shared, notify })] as Statement;
  const values = shape === 'one' ? INSERT_COLUMNS.map((column) => first[column]) : columns(rows, first, shared);
  const params = notify ? [...values, config.channel, extra] : values;
  if (shape !== 'unique') {
    const [{ ids, states }] = (await db.query<BatchInserted>(statement.text, params, statement.name)) as [
      BatchInserted,
    ];
    const idList = ids.split(',');
    return requests.map((request, index) =>
      enqueued(config, request, idList[index] as string, states[index] === 's' ? 'scheduled' : 'available'),
    );
  }
  const inserted = await db.query<InsertedRow>(statement.text, params, statement.name);
  const firstIdByKey = new Map<string, string>();
  for (const row of inserted) {
    if (row.state !== null && row.unique_key !== null && row.id !== null) firstIdByKey.set(row.unique_key, row.id);
  }
  const missing = inserted.filter((r) => r.id === null && !firstIdByKey.has(r.unique_key ?? ''));
  if (missing.length > 0) {
    const found = await db.query<{ unique_key: string; id: string }>(config.findByKeysSql, [
      missing.map((r) => r.unique_key),
    ]);
    for (const row of found) firstIdByKey.set(row.unique_key, row.id);
  }
  return inserted.map((row, index): EnqueueResult => {
    const request = requests[index] as JobRequest;
    if (row.state !== null && row.id !== null) return enqueued(config, request, row.id, row.state);
    const base = { name: request.job.name, queue: queueOf(request) };
    const id = row.id ?? firstIdByKey.get(row.unique_key ?? '');
    if (id === undefined) {
      throw new EnqueueError(
        base.name,
        `unique key "${row.unique_key}" was taken and then released before it could be read; enqueue again`,
      );
    }
    return { status: 'duplicate', id, ...base };
  });
}
