import { JobPayloadError } from './errors.js';

/** A JSON value as Skiplock stores it. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A UTF-16 surrogate without its pair: JSON renders it as an escape that Postgres refuses. */
export const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Default cap on a job's serialized arguments: 1 MiB. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;

function describe(value: unknown): string {
  if (typeof value === 'bigint') return `a BigInt (${value}n); pass it as a string`;
  if (typeof value === 'number') return `${value}, which JSON cannot represent`;
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'symbol') return 'a symbol';
  if (value === undefined) return 'undefined';
  if (value instanceof Date) return 'a Date; pass date.toISOString()';
  const ctor = (value as { constructor?: { name?: string } }).constructor?.name ?? 'unknown';
  return `an instance of ${ctor}; pass a plain object`;
}

/** An object made by `{}` or `Object.create(null)`: what job arguments and metadata must be. */
export function isPlainObject(value: unknown): value is Record<string, JsonValue> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Where a value sits below the root: keys and indexes, rendered (`args.a[0].b`) only for an error. */
class ValuePath {
  readonly #segments: Array<string | number> = [];

  constructor(
    readonly jobName: string,
    readonly root: string,
  ) {}

  enter(segment: string | number): void {
    this.#segments.push(segment);
  }

  leave(): void {
    this.#segments.pop();
  }

  error(problem: string): JobPayloadError {
    let path = this.root;
    for (const segment of this.#segments) path += typeof segment === 'number' ? `[${segment}]` : `.${segment}`;
    return new JobPayloadError(this.jobName, path, problem);
  }
}

/** What is wrong with a string as a JSON value (or key, or text) Postgres stores, if anything. */
export function stringProblem(value: string): string | undefined {
  // Postgres jsonb cannot store U+0000.
  if (value.includes('\u0000')) return 'contains a NUL character (U+0000), which Postgres cannot store';
  if (value.search(LONE_SURROGATE) !== -1) return 'contains a lone UTF-16 surrogate, which is not valid Unicode';
  return undefined;
}

/**
 * True when every property of the plain object `value` is a boolean, null, a finite number, an
 * acceptable string or undefined (left out, as by JSON): the common shape of job arguments, checked
 * without allocating anything. Any other property (a nested object, an array, a value to refuse)
 * leaves the object to {@link check}.
 */
function isFlatJson(value: object): boolean {
  for (const key in value) {
    if (!Object.hasOwn(value, key) || stringProblem(key) !== undefined) return false;
    const item = (value as Record<string, unknown>)[key];
    switch (typeof item) {
      case 'boolean':
      case 'undefined':
        continue;
      case 'string':
        if (stringProblem(item) !== undefined) return false;
        continue;
      case 'number':
        if (!Number.isFinite(item)) return false;
        continue;
      default:
        if (item !== null) return false;
    }
  }
  return true;
}

function check(value: unknown, path: ValuePath, ancestors: Set<object>): void {
  switch (typeof value) {
    case 'boolean':
      return;
    case 'string': {
      const problem = stringProblem(value);
      if (problem !== undefined) throw path.error(problem);
      return;
    }
    case 'number':
      if (Number.isFinite(value)) return;
      break;
    case 'object':
      if (value === null) return;
      if (ancestors.has(value)) throw path.error('refers back to itself (a cycle)');
      if (Array.isArray(value)) {
        // JSON would store what its toJSON returns, or null for a hole: neither is what was given.
        if (Object.getPrototypeOf(value) !== Array.prototype) break;
        if (Object.hasOwn(value, 'toJSON')) throw path.error('is an array with its own toJSON');
        ancestors.add(value);
        for (let index = 0; index < value.length; index++) {
          path.enter(index);
          if (!(index in value)) throw path.error('is a hole in a sparse array (JSON would store null)');
          check(value[index], path, ancestors);
          path.leave();
        }
        ancestors.delete(value);
        return;
      }
      if (isPlainObject(value)) {
        ancestors.add(value);
        for (const key of Object.keys(value)) {
          const item = (value as Record<string, unknown>)[key];
          // Like JSON.stringify, an undefined property is simply absent.
          if (item === undefined) continue;
          path.enter(key);
          const keyProblem = stringProblem(key);
          if (keyProblem !== undefined) throw path.error(`has a key that ${keyProblem}`);
          check(item, path, ancestors);
          path.leave();
        }
        ancestors.delete(value);
        return;
      }
      break;
  }
  throw path.error(`is ${describe(value)}`);
}

/** Bytes of UTF-8 a UTF-16 code unit takes at most. */
const MAX_UTF8_BYTES_PER_UNIT = 3;

/**
 * Serializes job arguments (or metadata) strictly: only plain objects, arrays, strings, finite numbers, booleans
 * and null. Anything JSON would silently change (BigInt, NaN, Date, Map, class instances, functions,
 * cycles) is refused, as is a payload larger than `maxBytes`.
 *
 * @throws JobPayloadError naming the job and the path of the offending value.
 */
export function serializeJsonObject(jobName: string, value: unknown, maxBytes: number, root = 'args'): string {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || !isPlainObject(value)) {
    const got = value === null ? 'null' : Array.isArray(value) ? 'an array' : describe(value);
    throw new JobPayloadError(jobName, root, `must be a plain object, got ${got}`);
  }
  if (!isFlatJson(value)) check(value, new ValuePath(jobName, root), new Set());
  const json = JSON.stringify(value);
  if (json.length * MAX_UTF8_BYTES_PER_UNIT <= maxBytes) return json;
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes > maxBytes) {
    throw new JobPayloadError(jobName, root, `is ${bytes} bytes of JSON, over the limit of ${maxBytes} bytes`);
  }
  return json;
}

/* eslint-disable @typescript-eslint/no-explicit-any */
/** Values JSON cannot carry faithfully: they would be refused at enqueue. */
type NotJson = bigint | symbol | Date | RegExp | Map<any, any> | Set<any> | Promise<any> | ((...args: any[]) => any);
/* eslint-enable @typescript-eslint/no-explicit-any */

/** Levels checked deep (deeper levels are taken on trust, so recursive types stay cheap). */
type Depth = [never, 0, 1, 2, 3, 4, 5, 6, 7];

type SafeAt<T, D extends number> = [D] extends [never]
  ? true
  : unknown extends T
    ? true
    : T extends string | number | boolean | null | undefined
      ? true
      : T extends NotJson
        ? false
        : T extends readonly (infer U)[]
          ? SafeAt<U, Depth[D]>
          : T extends object
            ? { [K in keyof T]-?: SafeAt<T[K], Depth[D]> }[keyof T] | true
            : false;

/**
 * `true` when every value of type `T` survives a JSON round trip unchanged (no Date, bigint, Map,
 * Set, functions …), else `false`. Used to refuse such argument types at compile time.
 */
export type JsonSafe<T> = false extends SafeAt<T, 8> ? false : true;
