// `pnpm bench [--quick | --tiny] [--only S1,S3] [--runs N]`: issue 6's scenarios on Skiplock,
// graphile-worker, pg-boss and a raw SQL floor; prints Markdown, and writes RESULTS.md after a full run.
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import pg from 'pg';
import { parseArgs, USAGE } from './lib/config.mjs';
import { log } from './lib/runner.mjs';
import { measurementTable, markdownTable, targetsTable } from './lib/table.mjs';
import { checkTargets } from './lib/targets.mjs';
import { runS1 } from './scenarios/s1-enqueue.mjs';
import { runS2 } from './scenarios/s2-bulk.mjs';
import { runS3 } from './scenarios/s3-process.mjs';
import { runS4 } from './scenarios/s4-latency.mjs';
import { runS5 } from './scenarios/s5-two-processes.mjs';
import { runS6 } from './scenarios/s6-large-table.mjs';

/** @type {Record<string, (config: import('./lib/config.mjs').Config) => Promise<import('./lib/results.mjs').Measurement[]>>} */
const SCENARIOS = { S1: runS1, S2: runS2, S3: runS3, S4: runS4, S5: runS5, S6: runS6 };

const argv = process.argv.slice(2);
if (argv.includes('--help') || argv.includes('-h')) {
  process.stdout.write(USAGE);
  process.exit(0);
}
/** @type {import('./lib/config.mjs').Config} */
let config;
try {
  config = parseArgs(argv);
} catch (error) {
  process.stderr.write(`${/** @type {Error} */ (error).message}\n\n${USAGE}`);
  process.exit(2);
}
const startedAt = Date.now();
const machine = await describeMachine(config.databaseUrl);

/** @type {import('./lib/results.mjs').Measurement[]} */
const measurements = [];
for (const id of config.only) {
  log(`${id} (${config.mode}, ${config.runs} runs)`);
  measurements.push(...(await /** @type {NonNullable<(typeof SCENARIOS)[string]>} */ (SCENARIOS[id])(config)));
}

const seconds = ((Date.now() - startedAt) / 1000).toFixed(0);
const report = [
  `## Benchmark results (${config.mode}${config.mode === 'full' ? '' : ' mode: smaller N, not comparable with a full run'})`,
  '',
  machine,
  '',
  `Runs per scenario: ${config.runs}; S1 and S2 with the systems side by side in interleaved blocks, the others alternating run by run; min / median / max over runs; ratios of medians. Took ${seconds} s.`,
  '',
  ...measurements.flatMap((m) => [measurementTable(m), '']),
  '### Targets (issue 6, medians of this run)',
  '',
  targetsTable(checkTargets(measurements)),
  '',
].join('\n');
process.stdout.write(report);
if (config.mode === 'full' && config.only.length === 6) {
  writeFileSync(new URL('./RESULTS.md', import.meta.url), `${report}`);
  log('wrote scripts/bench/RESULTS.md');
}

/** The machine, Postgres and versions, as a small table. @param {string} databaseUrl */
async function describeMachine(databaseUrl) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const { rows } = await client.query(
    `SELECT version() AS version, current_setting('shared_buffers') AS shared_buffers,
            current_setting('synchronous_commit') AS synchronous_commit, current_setting('max_connections') AS max_connections`,
  );
  await client.end();
  // Read from the file: graphile-worker 0.18's `exports` does not expose its package.json.
  const version = (/** @type {string} */ name) =>
    /** @type {{ version: string }} */ (
      JSON.parse(readFileSync(new URL(`./node_modules/${name}/package.json`, import.meta.url), 'utf8'))
    ).version;
  const row = rows[0];
  return markdownTable(
    ['machine', 'value'],
    [
      ['CPU', `${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}`],
      [
        'PostgreSQL',
        `${String(row.version).split(' on ')[0]} (shared_buffers ${row.shared_buffers}, synchronous_commit ${row.synchronous_commit}, max_connections ${row.max_connections})`,
      ],
      ['Node.js', process.version],
      [
        'peers',
        `graphile-worker ${version('graphile-worker')}, pg-boss ${version('pg-boss')} (the issue's versions; they declare Node 22 but run on 20)`,
      ],
    ],
  );
}
