import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isJobDefinition, type AnyJobDefinition } from 'skiplock';
import { UsageError } from './usage.js';

function collect(value: unknown, into: Map<string, AnyJobDefinition>, nested: boolean): void {
  if (isJobDefinition(value)) {
    into.set(value.name, value);
  } else if (nested && Array.isArray(value)) {
    for (const item of value) collect(item, into, false);
  } else if (nested && typeof value === 'object' && value !== null) {
    for (const item of Object.values(value)) collect(item, into, false);
  }
}

/**
 * Where the syntax error in `file` is (`path:line`), which an import's SyntaxError does not say:
 * `node --check` prints it first.
 */
function syntaxErrorAt(file: string): string | undefined {
  // Without NODE_OPTIONS: its preloads (a tracer) are user code that need not run, or end, here.
  const env = { ...process.env, NODE_OPTIONS: '' };
  const { stderr } = spawnSync(process.execPath, ['--check', file], { encoding: 'utf8', env, timeout: 5000 });
  return /^(.+:\d+)$/m.exec(stderr)?.[1];
}

/**
 * Imports the jobs module; a module that fails to load is an error that says it was this one, and
 * where (a syntax error's file and line), not only what its code threw.
 */
async function importJobs(modulePath: string, absolute: string): Promise<Record<string, unknown>> {
  try {
    return (await import(pathToFileURL(absolute).href)) as Record<string, unknown>;
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ERR_UNKNOWN_FILE_EXTENSION' && /\.[mc]?ts$/.test(absolute)) {
      throw new UsageError(
        `--jobs: Node cannot import ${modulePath} as it is: compile it to .js, or run with a loader (NODE_OPTIONS="--import tsx")`,
      );
    }
    const message = error instanceof Error ? error.message : String(error);
    const at = error instanceof SyntaxError ? syntaxErrorAt(absolute) : undefined;
    throw new Error(`--jobs: ${modulePath} failed to load${at ? ` (${at})` : ''}: ${message}`, { cause: error });
  }
}

/**
 * Imports `modulePath` (relative to the working directory) and returns every job definition it
 * exports: named exports that are definitions, and a default export that is a definition or an
 * array/object of them. Definitions are recognised by brand, across copies of skiplock.
 */
export async function loadJobs(modulePath: string): Promise<AnyJobDefinition[]> {
  const absolute = resolve(process.cwd(), modulePath);
  if (!existsSync(absolute)) throw new UsageError(`--jobs: no such file: ${absolute}`);
  const module = await importJobs(modulePath, absolute);
  const jobs = new Map<string, AnyJobDefinition>();
  for (const [key, value] of Object.entries(module)) collect(value, jobs, key === 'default');
  if (jobs.size === 0) {
    throw new UsageError(`--jobs: ${modulePath} exports no job definitions (export the result of defineJob)`);
  }
  return [...jobs.values()];
}
