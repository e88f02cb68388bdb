import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { JobDefinition } from 'skiplock';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { createTestSchema, waitFor, type TestSchema } from './schema.js';

/** The built CLI entry point. */
export const CLI = fileURLToPath(new URL('../../packages/cli/dist/main.js', import.meta.url));

/** The fixture job module the worker processes load. */
export const FIXTURE_JOBS = fileURLToPath(new URL('../fixtures/jobs.mjs', import.meta.url));

/** The fixture definitions, typed for enqueueing from tests. */
export interface FixtureJobs {
  record: JobDefinition<{ n?: number }>;
  sleepy: JobDefinition<{ ms: number; firstMs?: number }>;
  dieAfterReturn: JobDefinition<Record<string, never>>;
  poison: JobDefinition<Record<string, never>>;
  hang: JobDefinition<Record<string, never>>;
  transactional: JobDefinition<Record<string, never>>;
  stubbornQuery: JobDefinition<Record<string, never>>;
  stubbornTransactional: JobDefinition<Record<string, never>>;
}

/** Imports the fixture definitions. */
export async function fixtureJobs(): Promise<FixtureJobs> {
  return (await import(FIXTURE_JOBS)) as FixtureJobs;
}

/** A spawned CLI process with its collected output. */
export interface CliProcess {
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code (or the signal's name). */
  exited: Promise<number | string>;
}

/** Spawns `skiplock <args>` with extra environment variables, in `cwd` (this process's by default). */
export function spawnCli(args: string[], env: Record<string, string> = {}, cwd?: string): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd,
    env: { ...process.env, SKIPLOCK_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  );
  return { child, output: () => output, exited };
}

/** What a finished CLI run printed, and its exit code. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `skiplock <args>` to its end. */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Creates the `runs` table the fixture jobs log to. */
export async function createRunsTable(t: TestSchema): Promise<void> {
  await t.pool.query(
    `CREATE TABLE "${t.schema}".runs (job_id bigint NOT NULL, attempt int NOT NULL, pid int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())`,
  );
}

/** Starts `skiplock worker` on the fixture jobs in `t`'s schema and waits until it is running. */
export async function startWorkerProcess(t: TestSchema, extra: string[] = []): Promise<CliProcess> {
  const p = spawnCli(['worker', '--jobs', FIXTURE_JOBS, '--schema', t.schema, ...extra], {
    DATABASE_URL: t.url,
    FIXTURE_SCHEMA: t.schema,
  });
  await waitFor(async () => p.output().includes('worker started') || (p.child.exitCode !== null && 'exited'), {
    what: 'worker started',
  }).then((state) => {
    if (state === 'exited') throw new Error(`worker exited at start:\n${p.output()}`);
  });
  return p;
}

/** A test file whose tests run worker processes against its own schema. */
export interface ProcessTestFile {
  /** The schema, with the `runs` table the fixture jobs write (ready from the first test on). */
  readonly t: TestSchema;
  /** The worker processes the current test started; those still alive are killed when it ends. */
  readonly processes: CliProcess[];
  /** Starts a worker process on the fixture jobs in `schema` (the file's unless told) for this test. */
  readonly startWorker: (extra?: string[], schema?: TestSchema) => Promise<CliProcess>;
}

/**
 * Registers the hooks of a test file that spawns worker processes: a fresh schema with a `runs`
 * table before its tests, dropped after them; after each test, its processes still alive killed
 * (SIGKILL, awaited), then `reset` run on the schema.
 */
export function useProcessTestSchema(reset?: (t: TestSchema) => Promise<void>): ProcessTestFile {
  let schema: TestSchema | undefined;
  const file: ProcessTestFile = {
    get t() {
      if (!schema) throw new Error('the test schema is created in beforeAll; use it inside tests and hooks');
      return schema;
    },
    processes: [],
    startWorker: async (extra = [], on = file.t) => {
      const p = await startWorkerProcess(on, extra);
      file.processes.push(p);
      return p;
    },
  };
  beforeAll(async () => {
    schema = await createTestSchema();
    await createRunsTable(schema);
  });
  afterEach(async () => {
    const alive = file.processes.splice(0).filter((p) => p.child.exitCode === null && p.child.signalCode === null);
    for (const p of alive) p.child.kill('SIGKILL');
    await Promise.all(alive.map((p) => p.exited));
    await reset?.(file.t);
  });
  afterAll(() => schema?.drop());
  return file;
}
