import type { Retention } from 'skiplock';
import { print, withAdmin } from '../admin-session.js';
import { durationFlag, parseFlags } from '../args.js';
import { PRUNE_HELP, UsageError } from '../usage.js';

const STATES = ['completed', 'discarded', 'cancelled'] as const;

/** `skiplock prune`: deletes finished jobs past their retention now. */
export async function pruneCommand(argv: string[]): Promise<void> {
  const flags = parseFlags('prune', argv, ['schema', ...STATES], ['json']);
  if (flags.help) return void process.stdout.write(`${PRUNE_HELP}\n`);
  const retention: Retention = {};
  for (const state of STATES) {
    const value = flags.string(state);
    if (value === 'forever') retention[state] = false;
    else if (value !== undefined) {
      try {
        retention[state] = durationFlag(`--${state}`, value, value);
      } catch (error) {
        throw new UsageError(`${(error as Error).message}, or be "forever"`);
      }
    }
  }
  const result = await withAdmin('prune', flags, (admin) => admin.prune(), retention);
  print(flags, result, ({ deleted, ran }) =>
    ran ? `pruned ${deleted} finished jobs` : "another prune (a worker's) is running; nothing done",
  );
}
