import type { JobContext } from './context.js';
import type { AnyJobDefinition, EnqueueResult, JobRequest } from './definition.js';

/**
 * Koa-style middleware: do something, call `next` (optionally with a changed input), do something
 * with what it returned.
 */
export type Middleware<Input, Result> = (input: Input, next: (input?: Input) => Promise<Result>) => Promise<Result>;

/**
 * Enqueue middleware: sees every batch (a single `performLater` is a batch of one) before it is
 * inserted, and its results after.
 *
 * @example
 * const tenant: EnqueueMiddleware = (batch, next) =>
 *   next(batch.map((r) => ({ ...r, options: { ...r.options, metadata: { ...r.options.metadata, tenant: currentTenant() } } })));
 */
export type EnqueueMiddleware = Middleware<readonly JobRequest[], EnqueueResult[]>;

/** One run of a handler, as perform middleware sees it. */
export interface PerformCall {
  readonly definition: AnyJobDefinition;
  /** The validated (and upgraded) arguments. */
  readonly args: unknown;
  readonly ctx: JobContext;
}

/**
 * Perform middleware: wraps each run (tracing, tenancy, an AsyncLocalStorage context restored from
 * `ctx.metadata`). Throwing fails the attempt like the handler throwing.
 *
 * @example
 * const tenancy: PerformMiddleware = ({ ctx }, next) => tenantStorage.run(String(ctx.metadata.tenant), () => next());
 */
export type PerformMiddleware = Middleware<PerformCall, void>;

/** Middleware of a Skiplock instance. */
export interface MiddlewareOptions {
  enqueue?: readonly EnqueueMiddleware[];
  perform?: readonly PerformMiddleware[];
}

/** Runs `input` through `chain` in order, then through `last`. */
export function runChain<Input, Result>(
  chain: readonly Middleware<Input, Result>[],
  input: Input,
  last: (input: Input) => Promise<Result>,
): Promise<Result> {
  const step = (index: number, current: Input): Promise<Result> => {
    const middleware = chain[index];
    if (!middleware) return last(current);
    return middleware(current, (next) => step(index + 1, next ?? current));
  };
  return step(0, input);
}
