import type { QueueStats } from 'skiplock';
import { print, withAdmin } from '../admin-session.js';
import { parseFlags } from '../args.js';
import { span, table } from '../table.js';
import { STATS_HELP } from '../usage.js';

/** The per-queue table `skiplock stats` prints. */
export function renderStats(stats: QueueStats[]): string {
  if (stats.length === 0) return 'no queues yet';
  const rows = stats.map((q) => [
    q.queue + (q.paused ? ' (paused)' : ''),
    ...[q.available, q.scheduled, q.running, q.retryable, q.discarded, q.cancelled].map(String),
    span(q.oldestWaitSeconds),
    String(q.completed1m),
    (q.completed5m / 5).toFixed(1),
  ]);
  return table(
    [
      'QUEUE',
      'AVAILABLE',
      'SCHEDULED',
      'RUNNING',
      'RETRYABLE',
      'DISCARDED',
      'CANCELLED',
      'OLDEST WAIT',
      'DONE/1M',
      'DONE/MIN (5M AVG)',
    ],
    rows,
  );
}

/** `skiplock stats`: per-queue counts, oldest wait, throughput. */
export async function statsCommand(argv: string[]): Promise<void> {
  const flags = parseFlags('stats', argv, ['schema'], ['json']);
  if (flags.help) return void process.stdout.write(`${STATS_HELP}\n`);
  print(flags, await withAdmin('stats', flags, (admin) => admin.stats()), renderStats);
}
