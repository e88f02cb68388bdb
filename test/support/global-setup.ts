import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres } from '@skiplock/cli';
import { pino } from 'pino';
import type { TestProject } from 'vitest/node';
import { freePort } from './ports.js';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
  }
}

function dockerAnswers(): boolean {
  return Boolean(process.env.DOCKER_HOST) || existsSync('/var/run/docker.sock');
}

/**
 * Picks the database the suite runs against: DATABASE_URL when set, else a testcontainers Postgres
 * when Docker answers, else an embedded Postgres in a temporary directory. Each test file then
 * works in a schema of its own.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const logger = pino({ level: 'warn' });
  if (process.env.DATABASE_URL) {
    project.provide('databaseUrl', process.env.DATABASE_URL);
    return async () => undefined;
  }
  if (dockerAnswers()) {
    try {
      const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
      const container = await new PostgreSqlContainer('postgres:17-alpine').start();
      project.provide('databaseUrl', container.getConnectionUri());
      return async () => {
        await container.stop();
      };
    } catch (error) {
      logger.warn({ err: error }, 'Docker did not start a container; using embedded Postgres');
    }
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'skiplock-test-pg-'));
  const server = await startEmbeddedPostgres({ dataDir, port: await freePort(), database: 'test', fast: true, logger });
  project.provide('databaseUrl', server.url);
  return async () => {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  };
}
