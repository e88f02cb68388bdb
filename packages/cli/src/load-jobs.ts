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
 * Imports `modulePath` (relative to the working directory) and returns every job definition it
 * exports: named exports that are definitions, and a default export that is a definition or an
 * array/object of them. Definitions are recognised by brand, across copies of skiplock.
 */
export async function loadJobs(modulePath: string): Promise<AnyJobDefinition[]> {
  const absolute = resolve(process.cwd(), modulePath);
  if (!existsSync(absolute)) throw new UsageError(`--jobs: no such file: ${absolute}`);
  const module = (await import(pathToFileURL(absolute).href)) as Record<string, unknown>;
  const jobs = new Map<string, AnyJobDefinition>();
  for (const [key, value] of Object.entries(module)) collect(value, jobs, key === 'default');
  if (jobs.size === 0) {
    throw new UsageError(`--jobs: ${modulePath} exports no job definitions (export the result of defineJob)`);
  }
  return [...jobs.values()];
}
