#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { devCommand } from './commands/dev.js';
import { jobsCommand } from './commands/jobs.js';
import { migrateCommand } from './commands/migrate.js';
import { pruneCommand } from './commands/prune.js';
import { queuesCommand } from './commands/queues.js';
import { statsCommand } from './commands/stats.js';
import { workerCommand } from './commands/worker.js';
import { workersCommand } from './commands/workers.js';
import { describeFailure } from './failure.js';
import { stopOnClosedOutput } from './signals.js';
import { MAIN_HELP, UsageError } from './usage.js';

const COMMANDS: Record<string, (argv: string[]) => Promise<void>> = {
  migrate: migrateCommand,
  worker: workerCommand,
  jobs: jobsCommand,
  queues: queuesCommand,
  stats: statsCommand,
  workers: workersCommand,
  prune: pruneCommand,
  dev: devCommand,
};

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(`${MAIN_HELP}\n`);
    return;
  }
  if (command === '-v' || command === '--version') {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    process.stdout.write(`${pkg.version}\n`);
    return;
  }
  const run = COMMANDS[command];
  if (!run)
    throw new UsageError(
      `unknown command "${command}" (commands: ${Object.keys(COMMANDS).join(', ')}; see skiplock --help)`,
    );
  await run(rest);
}

// A reader that closes the pipe early ends the command quietly instead of with an unhandled EPIPE
// error and a stack trace.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  stopOnClosedOutput();
});

main(process.argv.slice(2)).catch((error: unknown) => {
  const { message, exitCode } = describeFailure(error);
  process.stderr.write(`${message}\n`);
  process.exit(exitCode);
});
