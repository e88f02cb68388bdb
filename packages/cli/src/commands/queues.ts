import type { QueueStats } from 'skiplock';
import { print, withAdmin } from '../admin-session.js';
import { parseFlags } from '../args.js';
import { table } from '../table.js';
import { QUEUES_HELP, UsageError } from '../usage.js';

function renderQueues(stats: QueueStats[]): string {
  if (stats.length === 0) return 'no queues yet';
  return table(
    ['QUEUE', 'STATUS', 'DUE', 'RUNNING', 'SCHEDULED'],
    stats.map((q) => [q.queue, q.paused ? 'paused' : 'active', String(q.due), String(q.running), String(q.scheduled)]),
  );
}

/** `skiplock queues list|pause|resume`. */
export async function queuesCommand(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  const flags = parseFlags(`queues ${sub ?? ''}`.trim(), rest, ['schema'], ['json'], true);
  if (sub === undefined || sub === '-h' || sub === '--help' || flags.help) {
    return void process.stdout.write(`${QUEUES_HELP}\n`);
  }
  if (sub === 'list') {
    if (flags.positionals.length > 0) throw new UsageError('skiplock queues list: takes no arguments');
    print(flags, await withAdmin('queues list', flags, (admin) => admin.stats()), renderQueues);
    return;
  }
  if (sub !== 'pause' && sub !== 'resume') {
    throw new UsageError(`skiplock queues: unknown subcommand "${sub}" (list, pause, resume)`);
  }
  const [queue, ...extra] = flags.positionals;
  if (queue === undefined || extra.length > 0)
    throw new UsageError(`skiplock queues ${sub}: give exactly one queue name`);
  await withAdmin(`queues ${sub}`, flags, (admin) =>
    sub === 'pause' ? admin.pauseQueue(queue) : admin.resumeQueue(queue),
  );
  print(flags, { queue, paused: sub === 'pause' }, () => `queue ${queue}: ${sub === 'pause' ? 'paused' : 'resumed'}`);
}
