#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { devCommand } from './commands/dev.js';
import { migrateCommand } from './commands/migrate.js';
import { workerCommand } from './commands/worker.js';
import { MAIN_HELP, UsageError } from './usage.js';

const COMMANDS: Record<string, (argv: string[]) => Promise<void>> = {
  migrate: migrateCommand,
  worker: workerCommand,
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

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof UsageError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
  const code = (error as { code?: unknown }).code;
  process.stderr.write(
    `skiplock: ${error instanceof Error ? error.message : String(error)}${typeof code === 'string' ? ` (${code})` : ''}\n`,
  );
  process.exit(1);
});
