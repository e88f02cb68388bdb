import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { Queryable } from './db.js';
import { MAX_ATTEMPTS, queueNameProblem, type EnqueueResult, type JobRequest } from './definition.js';
import { toMs } from './duration.js';
import { EnqueueError, JobPayloadError, shownValue } from './errors.js';
import { isValidQueueName, jobsChannel, quoteSchema } from './identifiers.js';
import { DEFAULT_MAX_PAYLOAD_BYTES, isPlainObject, serializeJsonObject, stringProblem } from './payload.js';
import {
  findByUniqueKeysSql,
  INSERT_COLUMNS,
  insertJobsSql,
  isJsonColumn,
  type InsertColumn,
  type InsertVariant,
} from './sql/enqueue.js';
import { namedStatement, type Statement } from './sql/statement.js';
import { Telemetry, withTraceContext } from './telemetry.js';
import type { InsertCoalescer } from './coalescer.js';
import type { Waker, WakeTicket } from './waker.js';

/** Per-instance settings an enqueue needs, with its statements built once. */
export interface EnqueueConfig {
  /** Cap on a job's serialized arguments. */
  readonly maxPayloadBytes: number;
  /** The channel workers LISTEN on for new jobs. */
  readonly channel: string;
  /** The schema, quoted, that the statements write to. */
  readonly quotedSchema: string;
  /** The insert statement of each variant met so far, keyed by {@link variantKey}. */
  readonly inserts: Map<string, Statement>;
  readonly findByKeysSql: string;
  /** Where enqueued jobs are counted. */
  readonly telemetry: Telemetry;
}

const variantKey = ({ shape, perJob, notify, carry }: InsertVariant) =>
  `${shape}/${perJob.join(',')}/${notify}/${carry}`;

/** Builds the enqueue settings for a schema (validated; `quotedSchema` is it quoted). */
export function enqueueConfig(
  quotedSchema: string,
  channel: string,
  maxPayloadBytes: number,
  telemetry: Telemetry,
): EnqueueConfig {
  return {
    maxPayloadBytes,
    channel,
    telemetry,
    quotedSchema,
    inserts: new Map(),
    findByKeysSql: findByUniqueKeysSql(quotedSchema),
  };
}

/**
 * The insert statement of `variant`, built the first time a batch needs it. A batch's variant
 * depends on which of its columns vary, so only the few combinations an application uses are
 * built (and prepared on each connection).
 */
function insertStatement(config: EnqueueConfig, variant: InsertVariant): Statement {
  const key = variantKey(variant);
  let statement = config.inserts.get(key);
  if (!statement) {
    statement = namedStatement('enqueue', insertJobsSql(config.quotedSchema, variant));
    config.inserts.set(key, statement);
  }
  return statement;
}

/** The defaults: schema `skiplock`, 1 MiB payloads, the global OpenTelemetry providers. */
export const DEFAULT_ENQUEUE_CONFIG: EnqueueConfig = enqueueConfig(
  quoteSchema('skiplock'),
  jobsChannel('skiplock'),
  DEFAULT_MAX_PAYLOAD_BYTES,
  new Telemetry(),
);

/** What a `one` or `many` insert returns; see `insertJobsSql`. */
interface BatchInserted {
  /** `many`: the ids are this plus each job's ordinal, unless `ids` lists them. */
  base?: string;
  /** The ids, comma-separated, in order; null when `base` gives them. */
  ids: string | null;
  /** A letter per job, `a`/`s` (its state), or one for all. */
  states: string;
}

/** The ids a `one` or `many` insert returns for `count` jobs, in order. */
function insertedIds({ base, ids }: BatchInserted, count: number): string[] {
  if (ids !== null) return ids.split(',');
  const first = Number(base);
  if (Number.isSafeInteger(first + count))
    return Array.from({ length: count }, (_, index) => String(first + index + 1));
  const big = BigInt(base as string);
  return Array.from({ length: count }, (_, index) => String(big + BigInt(index + 1)));
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

/** The earliest `runAt` Postgres stores (4713 BC); a JavaScript Date reaches further back. */
const MIN_RUN_AT_MS = Date.parse('-004712-01-01T00:00:00Z');
/** The longest `wait` (~31,700 years): Postgres's intervals and timestamps end not much later. */
const MAX_WAIT_MS = 1e15;
/** The longest `uniqueKey` in UTF-8 bytes: the unique index's entries are at most ~2.7 KB. */
const MAX_UNIQUE_KEY_BYTES = 2000;

/** The `wait` option in ms: an EnqueueError naming the job when it is not a duration or too long. */
function waitMs(name: string, wait: NonNullable<JobRequest['options']['wait']>): number {
  let ms: number;
  try {
    ms = toMs(wait, 'wait');
  } catch (error) {
    throw new EnqueueError(name, (error as Error).message);
  }
  if (ms > MAX_WAIT_MS) throw new EnqueueError(name, `wait must be at most ${MAX_WAIT_MS} ms (about 31,700 years)`);
  return ms;
}

function checkInteger(name: string, what: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new EnqueueError(name, `${what} must be an integer from ${min} to ${max}, got ${shownValue(value)}`);
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
  const validating: Array<Promise<unknown>> = [];
  for (const request of requests) if (request.job.schema) validating.push(validateArgs(request));
  if (validating.length > 0) await Promise.all(validating);
  const seen: Seen = { queue: undefined, metadata: undefined };
  return requests.map((request) => toInputRow(request, config, seen));
}

/**
 * What the rows of one call have in common, worked out once: the queue name last found valid, and
 * the metadata of a job given none (the caller's trace context, the same for the whole call).
 */
interface Seen {
  queue: string | undefined;
  metadata: string | undefined;
}

/** `queue` when it is a queue name jobs of `name` may go to; an EnqueueError that says why not otherwise. */
export function checkedQueue(name: string, queue: unknown): string {
  if (!isValidQueueName(queue)) throw new EnqueueError(name, queueNameProblem(queue));
  return queue;
}

function toInputRow(request: JobRequest, config: EnqueueConfig, seen: Seen): InputRow {
  const { job, options } = request;
  const name = job.name;
  const argsJson = serializeJsonObject(name, request.args, config.maxPayloadBytes, 'args');
  const queue = options.queue ?? job.queueFor(request.args);
  // Not a string (a queue function's miss: undefined, null) is checked, and refused, every time.
  if (typeof queue !== 'string' || queue !== seen.queue) seen.queue = checkedQueue(name, queue);
  const priority = options.priority ?? job.priorityFor(request.args);
  checkInteger(name, 'priority', priority, -32768, 32767);
  const maxAttempts = options.maxAttempts ?? job.maxAttempts;
  checkInteger(name, 'maxAttempts', maxAttempts, 1, MAX_ATTEMPTS);
  if (options.runAt !== undefined && options.wait !== undefined) {
    throw new EnqueueError(name, 'give either runAt or wait, not both');
  }
  if (options.runAt !== undefined && !(options.runAt instanceof Date && !Number.isNaN(options.runAt.getTime()))) {
    throw new EnqueueError(name, 'runAt must be a valid Date');
  }
  if (options.runAt !== undefined && options.runAt.getTime() < MIN_RUN_AT_MS) {
    throw new EnqueueError(
      name,
      `runAt must be no earlier than 4713 BC (Postgres's range), got ${options.runAt.toISOString()}`,
    );
  }
  const uniqueKey = options.uniqueKey ?? job.uniqueKeyFor?.(request.args) ?? null;
  if (uniqueKey !== null && (typeof uniqueKey !== 'string' || uniqueKey.length === 0)) {
    throw new EnqueueError(name, 'uniqueKey must be a non-empty string');
  }
  // A lone surrogate would be sent as U+FFFD: two different keys would collide.
  const keyProblem = uniqueKey === null ? undefined : stringProblem(uniqueKey);
  if (keyProblem !== undefined) throw new EnqueueError(name, `uniqueKey ${keyProblem}`);
  const keyBytes = uniqueKey === null ? 0 : Buffer.byteLength(uniqueKey, 'utf8');
  if (keyBytes > MAX_UNIQUE_KEY_BYTES) {
    throw new EnqueueError(
      name,
      `uniqueKey is ${keyBytes} bytes, over the limit of ${MAX_UNIQUE_KEY_BYTES}: use a hash of a longer key`,
    );
  }
  const metadataJson =
    options.metadata === undefined
      ? (seen.metadata ??= JSON.stringify(withTraceContext(undefined) ?? {}))
      : // Checked as given: the trace context is added only to a plain object.
        serializeJsonObject(
          name,
          isPlainObject(options.metadata) ? withTraceContext(options.metadata) : options.metadata,
          config.maxPayloadBytes,
          'metadata',
        );
  return {
    name,
    args: argsJson,
    queue,
    priority,
    max_attempts: maxAttempts,
    run_at: options.runAt ?? null,
    wait_ms: options.wait === undefined ? null : waitMs(name, options.wait),
    unique_key: uniqueKey,
    metadata: metadataJson,
    version: job.version,
  };
}

/**
 * The columns whose value differs between rows of the batch, and `args` always: one pass over the
 * rows, each column compared in place: ~0.17 ms for 10,000 jobs here, where a pass per column
 * through a table of comparisons took ~0.57. `varies` must name every column; the test of batches
 * in which one column varies checks that each is compared.
 */
function varyingColumns(rows: readonly InputRow[], first: InputRow): InsertColumn[] {
  const varies: Record<InsertColumn, boolean> = {
    name: false,
    args: true,
    queue: false,
    priority: false,
    max_attempts: false,
    run_at: false,
    wait_ms: false,
    unique_key: false,
    metadata: false,
    version: false,
  };
  const firstRunAt = first.run_at?.getTime(); // dates compared by their time
  for (const row of rows) {
    varies.name ||= row.name !== first.name;
    varies.queue ||= row.queue !== first.queue;
    varies.priority ||= row.priority !== first.priority;
    varies.max_attempts ||= row.max_attempts !== first.max_attempts;
    varies.run_at ||= row.run_at?.getTime() !== firstRunAt;
    varies.wait_ms ||= row.wait_ms !== first.wait_ms;
    varies.unique_key ||= row.unique_key !== first.unique_key;
    varies.metadata ||= row.metadata !== first.metadata;
    varies.version ||= row.version !== first.version;
  }
  return INSERT_COLUMNS.filter((column) => varies[column]);
}

/**
 * A batch's parameter for `column`: the first row's value when it is not in `perJob`, else every
 * row's, as a JSON array (text) for a JSON column and as an array otherwise.
 */
function columnParam(
  column: InsertColumn,
  rows: readonly InputRow[],
  first: InputRow,
  perJob: readonly InsertColumn[],
): unknown {
  if (!perJob.includes(column)) return first[column];
  if (isJsonColumn(column)) {
    // Concatenated, not joined: Array#join copies every piece (for 10,000 jobs' arguments, joining
    // and sending took ~1.5 ms here, concatenating and sending ~0.9: the text is flattened once, as
    // it is written to the socket).
    let json = '[';
    let separator = '';
    for (const row of rows) {
      json += separator + row[column];
      separator = ',';
    }
    return `${json}]`;
  }
  return rows.map((row) => row[column]);
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
  // Without hooks nothing can be skipped: no bookkeeping of which requests were.
  if (!requests.some(({ job }) => job.hooks.beforeEnqueue || job.hooks.afterEnqueue)) {
    return await insertKept(db, config, requests, onPool);
  }
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
  // Nothing to insert (an empty list, or hooks that skipped every job): no statement.
  if (requests.length === 0) return [];
  const rows = await toInputRows(requests, config);
  // In a caller's transaction: always notify, at its commit.
  return await (onPool ? onPool.insert(rows) : insertRows(db, config, rows, { notify: true, extra: [] }));
}

/** Runs `fn` in a transaction of the pool's, on the `Queryable` it is given. */
export type PoolTransaction = <T>(fn: (db: Queryable) => Promise<T>) => Promise<T>;

/**
 * Inserts validated rows on the pool in one statement, telling `waker` around it; see
 * {@link Waker}. A batch of several rows with unique keys may take more statements (see
 * {@link insertRows}): it runs in `transaction`, so that it is inserted whole or not at all.
 */
export async function insertAndWake(
  db: Queryable,
  config: EnqueueConfig,
  rows: readonly InputRow[],
  waker: Waker,
  transaction: PoolTransaction,
): Promise<EnqueueResult[]> {
  const unique = rows.some((row) => row.unique_key !== null);
  // A unique key's holder may hold the insert up: it carries no other enqueue's wake-up.
  const ticket = waker.begin(unique);
  let inserted: EnqueueResult[];
  try {
    const whole = rows.length > 1 && unique;
    inserted = await (whole
      ? transaction((tx) => insertRows(tx, config, rows, ticket))
      : insertRows(db, config, rows, ticket));
  } catch (error) {
    waker.end(ticket, new Set(rows.map((row) => row.queue)), true);
    throw error;
  }
  const available = new Set<string>();
  for (const result of inserted)
    if (result.status === 'enqueued' && result.state === 'available') available.add(result.queue);
  waker.end(ticket, available, false);
  return inserted;
}

/** The result of a job the insert wrote. */
function enqueued({ name, queue }: InputRow, id: string, state: 'available' | 'scheduled'): EnqueueResult {
  return { status: 'enqueued', id, state, name, queue };
}

/**
 * Counts the jobs an insert wrote: one counter update per run of results of one queue and name
 * (undefined: a row still to be inserted again, counted then).
 */
function countEnqueued(telemetry: Telemetry, results: readonly (EnqueueResult | undefined)[]): void {
  let last: EnqueueResult | undefined;
  let run = 0;
  for (const result of results) {
    if (result?.status !== 'enqueued') continue;
    if (last && (result.queue !== last.queue || result.name !== last.name)) {
      telemetry.recordEnqueued(last.queue, last.name, run);
      run = 0;
    }
    last = result;
    run += 1;
  }
  if (last) telemetry.recordEnqueued(last.queue, last.name, run);
}

/**
 * The queues of `extra` that the insert's own notification leaves out: a job due at once (neither
 * `runAt` nor a positive `wait`) and without a unique key (which may turn out a duplicate, inserting
 * nothing) is available, and its queue notified anyway. In a stream of enqueues the queue carried is
 * usually the statement's own, which then needs no carrying. `extra` holds a few queues: looking each
 * up in the rows (usually the first row matches) costs less than collecting the queues of 10,000
 * rows.
 */
function queuesToCarry(rows: readonly InputRow[], extra: readonly string[]): readonly string[] {
  return extra.filter(
    (queue) =>
      !rows.some(
        (row) => row.queue === queue && row.run_at === null && (row.wait_ms ?? 0) <= 0 && row.unique_key === null,
      ),
  );
}

/** Rounds of inserting rows whose key's holder finished before it could be read (see insertRows). */
const MAX_KEY_ROUNDS = 3;

/**
 * Inserts validated rows in one round trip on `db`, one result per row, in order. A row whose
 * unique key turned out held by a job committed during the insert (outside its snapshot) is a
 * duplicate of that job, read in a second statement; when that job finished in between, the key is
 * free again and the row is inserted again (`round` counts these tries).
 */
async function insertRows(
  db: Queryable,
  config: EnqueueConfig,
  rows: readonly InputRow[],
  { notify, extra }: WakeTicket,
  round = 1,
): Promise<EnqueueResult[]> {
  const first = rows[0] as InputRow;
  const shape = rows.some((row) => row.unique_key !== null) ? 'unique' : rows.length === 1 ? 'one' : 'many';
  const perJob = shape === 'one' ? [] : varyingColumns(rows, first);
  const carried = notify ? queuesToCarry(rows, extra) : [];
  const carry = carried.length > 0;
  const statement = insertStatement(config, { shape, perJob, notify, carry });
  const values = INSERT_COLUMNS.map((column) => columnParam(column, rows, first, perJob));
  const params = carry ? [...values, config.channel, carried] : notify ? [...values, config.channel] : values;
  if (shape !== 'unique') {
    const [batch] = (await db.query<BatchInserted>(statement.text, params, statement.name)) as [BatchInserted];
    const ids = insertedIds(batch, rows.length);
    const { states } = batch; // a letter per job, or one for all
    const results = rows.map((row, index) =>
      enqueued(row, ids[index] as string, (states[index] ?? states) === 's' ? 'scheduled' : 'available'),
    );
    countEnqueued(config.telemetry, results);
    return results;
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
  const freed: number[] = [];
  const results = inserted.map((row, index): EnqueueResult | undefined => {
    const input = rows[index] as InputRow;
    if (row.state !== null && row.id !== null) return enqueued(input, row.id, row.state);
    const id = row.id ?? firstIdByKey.get(row.unique_key ?? '');
    if (id !== undefined) return { status: 'duplicate', id, name: input.name, queue: input.queue };
    freed.push(index);
    return undefined;
  });
  countEnqueued(config.telemetry, results);
  if (freed.length > 0) {
    const input = rows[freed[0] as number] as InputRow;
    if (round >= MAX_KEY_ROUNDS) {
      throw new EnqueueError(
        input.name,
        `unique key "${input.unique_key}" was taken and released again, over and over`,
      );
    }
    const again = await insertRows(
      db,
      config,
      freed.map((index) => rows[index] as InputRow),
      { notify, extra: [] },
      round + 1,
    );
    for (const [k, index] of freed.entries()) results[index] = again[k];
  }
  return results as EnqueueResult[];
}
