import { Skiplock } from 'skiplock';
import { databaseUrl, parseFlags } from '../args.js';
import { cliLogger } from '../logging.js';
import { MIGRATE_HELP } from '../usage.js';

/** `skiplock migrate`: applies pending migrations. */
export async function migrateCommand(argv: string[]): Promise<void> {
  const flags = parseFlags('migrate', argv, ['schema']);
  if (flags.help) {
    process.stdout.write(`${MIGRATE_HELP}\n`);
    return;
  }
  const logger = cliLogger();
  const skiplock = new Skiplock({
    connectionString: databaseUrl('migrate'),
    schema: flags.string('schema'),
    logger,
    poolSize: 1,
  });
  try {
    const { applied } = await skiplock.migrate();
    logger.info({ schema: skiplock.schema, applied }, applied.length > 0 ? 'migrated' : 'already up to date');
  } finally {
    await skiplock.close();
  }
}
