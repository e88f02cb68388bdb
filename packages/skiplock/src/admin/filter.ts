import { toMs, type Duration } from '../duration.js';
import { InvalidArgumentError } from '../errors.js';
import { isValidQueueName } from '../identifiers.js';
import { inQueue } from '../sql/queue-match.js';

/** Every state a job row can be in. */
export const JOB_STATES = [
  'available',
  'scheduled',
  'running',
  'retryable',
  'completed',
  'discarded',
  'cancelled',
] as const;

/** A job row's `state`. */
export type JobState = (typeof JOB_STATES)[number];

/** Which jobs an admin call looks at. Every field given must match; none given means every job. */
export interface JobFilter {
  /** Only these job ids. */
  ids?: readonly (string | number)[];
  /** Only jobs in this state (or one of these). */
  state?: JobState | readonly JobState[];
  /** Only jobs of this queue. */
  queue?: string;
  /** Only jobs with this name. */
  name?: string;
  /** Only jobs created at or after this time, or within this long before now (Postgres clock): `'1h'`. */
  since?: Date | Duration;
  /** Only jobs created before this time, or more than this long before now: `'1d'`. */
  until?: Date | Duration;
}

const JOB_ID = /^[1-9][0-9]{0,18}$/;
/** The largest job id (bigint's largest). */
export const MAX_JOB_ID = 9223372036854775807n;

/**
 * Checks a job id (a positive bigint, as a string or a safe integer) and returns it as a string. A
 * number past 2^53 is refused: it has already become another id (9007199254740993 reads as …992).
 * `what` names it in the error (a cursor is an id too).
 */
export function jobId(id: string | number, what = 'job id'): string {
  if (
    typeof id === 'number' &&
    Number.isInteger(id) &&
    id > 0 &&
    !Number.isSafeInteger(id) &&
    BigInt(id) <= MAX_JOB_ID
  ) {
    throw new InvalidArgumentError(
      `${what} ${String(BigInt(id))} is not a safe integer: pass ids past 2^53 as strings`,
    );
  }
  const text = String(id);
  if (!JOB_ID.test(text) || BigInt(text) > MAX_JOB_ID) {
    throw new InvalidArgumentError(
      `${what} must be a positive integer of at most ${MAX_JOB_ID}, got ${JSON.stringify(id)}`,
    );
  }
  return text;
}

/** Checks a state name. */
export function jobState(state: string): JobState {
  if (!(JOB_STATES as readonly string[]).includes(state)) {
    throw new InvalidArgumentError(`unknown job state "${state}": expected one of ${JOB_STATES.join(', ')}`);
  }
  return state as JobState;
}

/** Checks a queue name. */
export function queueName(queue: string): string {
  if (!isValidQueueName(queue)) {
    throw new InvalidArgumentError(
      `queue name ${JSON.stringify(queue)} is not valid: 1 to 128 letters, digits or _ . : / -, starting with a letter or digit`,
    );
  }
  return queue;
}

function timeBound(value: Date | Duration, what: string, op: '>=' | '<', params: unknown[]): string {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new InvalidArgumentError(`${what} is an invalid Date`);
    params.push(value);
    return `created_at ${op} $${params.length}::timestamptz`;
  }
  let ms: number;
  try {
    ms = toMs(value, what);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
  params.push(ms);
  return `created_at ${op} now() - $${params.length}::float8 * interval '1 millisecond'`;
}

/**
 * Validates `filter` and renders it as SQL conditions on the jobs table, appending its values to
 * `params` (so their placeholders continue the caller's numbering). Returns `true` for no filter.
 */
export function filterConditions(filter: JobFilter, params: unknown[]): string {
  const conditions: string[] = [];
  const add = (sql: (placeholder: string) => string, value: unknown) => {
    params.push(value);
    conditions.push(sql(`$${params.length}`));
  };
  if (filter.ids !== undefined)
    add(
      (p) => `id = ANY(${p}::bigint[])`,
      filter.ids.map((id) => jobId(id)),
    );
  if (filter.state !== undefined) {
    const states = (typeof filter.state === 'string' ? [filter.state] : filter.state).map(jobState);
    add((p) => `state = ANY(${p}::text[])`, states);
  }
  // As the claim names it: available, scheduled and retryable jobs of one queue by their indexes.
  if (filter.queue !== undefined) add(inQueue, queueName(filter.queue));
  if (filter.name !== undefined) {
    if (typeof filter.name !== 'string' || filter.name.length === 0) {
      throw new InvalidArgumentError('name filter must be a non-empty string');
    }
    add((p) => `name = ${p}`, filter.name);
  }
  if (filter.since !== undefined) conditions.push(timeBound(filter.since, 'since', '>=', params));
  if (filter.until !== undefined) conditions.push(timeBound(filter.until, 'until', '<', params));
  return conditions.length === 0 ? 'true' : conditions.join(' AND ');
}
