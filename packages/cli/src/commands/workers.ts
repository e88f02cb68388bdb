import type { WorkerInfo } from 'skiplock';
import { print, withAdmin } from '../admin-session.js';
import { parseFlags } from '../args.js';
import { span, table, time } from '../table.js';
import { WORKERS_HELP } from '../usage.js';

/** A worker silent this long is probably gone (heartbeats come every 10 s with the default lease). */
const STALE_SECONDS = 60;

function renderWorkers(workers: WorkerInfo[]): string {
  if (workers.length === 0) return 'no workers registered';
  return table(
    ['ID', 'HOST', 'PID', 'QUEUES', 'RUNNING', 'STARTED', 'LAST HEARTBEAT'],
    workers.map((w) => [
      w.id,
      w.host,
      String(w.pid),
      w.queues.join(','),
      String(w.running),
      time(w.startedAt),
      `${span(w.heartbeatAgeSeconds)} ago${w.heartbeatAgeSeconds > STALE_SECONDS ? ' (stale)' : ''}`,
    ]),
  );
}

/** `skiplock workers`: registered workers, from their heartbeats. */
export async function workersCommand(argv: string[]): Promise<void> {
  const flags = parseFlags('workers', argv, ['schema'], ['json']);
  if (flags.help) return void process.stdout.write(`${WORKERS_HELP}\n`);
  print(flags, await withAdmin('workers', flags, (admin) => admin.listWorkers()), renderWorkers);
}
