import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { JobContext, JobDatabase } from './context.js';
import type { AnyJobDefinition } from './definition.js';
import { checkedQueue, validateArgs } from './enqueue.js';
import { defaultLogger } from './logger.js';
import { runChain, type PerformMiddleware } from './middleware.js';
import { DEFAULT_MAX_PAYLOAD_BYTES, serializeJsonObject } from './payload.js';

/**
 * Calls a job's handler the way every path does (worker, `performNow`, test helpers): perform
 * middleware around `beforePerform`, the handler, and `afterPerform` (after success only). A
 * handler with nothing around it (most jobs) is called as it is: its own result is returned (a
 * promise, or nothing when a synchronous handler returned) and what it throws is thrown.
 */
export function invokeHandler(
  definition: AnyJobDefinition,
  args: unknown,
  ctx: JobContext,
  middleware: readonly PerformMiddleware[],
): Promise<void> | void {
  const { beforePerform, afterPerform } = definition.hooks;
  if (middleware.length === 0 && !beforePerform && !afterPerform) return definition.perform(args, ctx);
  return runChain(middleware, { definition, args, ctx }, async (call) => {
    await beforePerform?.(call.args, call.ctx);
    await definition.perform(call.args, call.ctx);
    await afterPerform?.(call.args, call.ctx);
  });
}

/** What an inline run takes from its Skiplock instance (none: no middleware, default logger). */
export interface InlineEnvironment {
  middleware: readonly PerformMiddleware[];
  logger: Logger;
  db: JobDatabase | undefined;
  /** The instance's payload limit (1 MiB). */
  maxPayloadBytes: number;
}

/** Options of an inline run. */
export interface InlineOptions {
  /** The attempt number the handler sees (1). */
  attempt?: number;
  /** `ctx.metadata` (`{}`). */
  metadata?: JobContext['metadata'];
  /** `ctx.signal` (never aborted; under `runJob`, also aborted at the job's `timeout`). */
  signal?: AbortSignal;
  /** `ctx.db` (the instance's). */
  db?: JobDatabase;
  /** `ctx.id` (`inline-<uuid>`). */
  id?: string;
  /** `ctx.queue` (the queue the job would be enqueued on). */
  queue?: string;
  /** `ctx.maxAttempts` (the definition's). */
  maxAttempts?: number;
}

/** An inline run before its arguments are validated: the handler's context, and the stored arguments. */
export interface InlineRun {
  ctx: JobContext;
  /** The arguments after a JSON round trip, as a worker reads them from the row. */
  stored: unknown;
}

/**
 * Prepares an inline run: the arguments go through JSON (as they would through the database), the
 * context is built as a worker builds it from a row. Throws JobPayloadError for arguments that are
 * not plain JSON and EnqueueError for a bad queue, as enqueueing would; the caller validates the
 * schema.
 */
export function prepareInline(
  definition: AnyJobDefinition,
  input: unknown,
  env: InlineEnvironment | undefined,
  options: InlineOptions = {},
): InlineRun {
  const stored = JSON.parse(
    serializeJsonObject(definition.name, input, env?.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES, 'args'),
  ) as unknown;
  const id = options.id ?? `inline-${randomUUID()}`;
  const logger = (env?.logger ?? defaultLogger()).child({ jobId: id, name: definition.name, inline: true });
  const ctx: JobContext = {
    id,
    name: definition.name,
    queue: options.queue ?? checkedQueue(definition.name, definition.queueFor(input)),
    attempt: options.attempt ?? 1,
    maxAttempts: options.maxAttempts ?? definition.maxAttempts,
    signal: options.signal ?? new AbortController().signal,
    logger,
    metadata: options.metadata ?? {},
    db: (options.db ?? env?.db) as JobDatabase,
  };
  return { ctx, stored };
}

/**
 * Runs a job in this process as a worker would, without a row: the arguments go through JSON (as
 * they would through the database) and the schema, then the handler runs through the middleware
 * and hooks. Rejects with whatever the handler threw.
 */
export async function performInline(
  definition: AnyJobDefinition,
  input: unknown,
  env: InlineEnvironment | undefined,
  options: InlineOptions = {},
): Promise<void> {
  const { ctx, stored } = prepareInline(definition, input, env, options);
  const args = await validateArgs({ job: definition, args: stored });
  await invokeHandler(definition, args, ctx, env?.middleware ?? []);
}
