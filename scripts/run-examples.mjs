// Runs every compiled example (.examples-dist/*.js) against a fresh database of its own on the
// server in DATABASE_URL, and fails if one fails. `pnpm examples` compiles them first.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const dist = fileURLToPath(new URL('../.examples-dist/', import.meta.url));
/** Examples that serve until interrupted: stopped with SIGINT after a few seconds. */
const SERVES = { 'prometheus.js': 3000 };
/** Modules the examples share, not examples themselves. */
const HELPERS = new Set(['until-idle.js']);

const server = process.env.DATABASE_URL;
if (!server) {
  console.error('run-examples: set DATABASE_URL (the examples run in a fresh database on that server)');
  process.exit(2);
}

function run(file, url) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [`${dist}${file}`], {
      env: { ...process.env, DATABASE_URL: url, SKIPLOCK_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const timer = setTimeout(() => child.kill(SERVES[file] ? 'SIGINT' : 'SIGKILL'), SERVES[file] ?? 60_000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ ok: code === 0 || (SERVES[file] !== undefined && signal === 'SIGINT'), code: code ?? signal, output });
    });
  });
}

const admin = new pg.Client({ connectionString: server });
await admin.connect();
let failed = 0;
for (const file of readdirSync(dist)
  .filter((f) => f.endsWith('.js') && !HELPERS.has(f))
  .sort()) {
  const database = `skiplock_example_${process.pid}_${file.replace(/\W/g, '_')}`.slice(0, 63);
  await admin.query(`CREATE DATABASE "${database}"`);
  const url = new URL(server);
  url.pathname = `/${database}`;
  const result = await run(file, url.toString());
  await admin.query(`DROP DATABASE "${database}" WITH (FORCE)`);
  console.log(
    `${result.ok ? 'ok  ' : 'FAIL'} examples/${file.replace(/\.js$/, '.ts')}${result.ok ? '' : ` (exit ${result.code})`}`,
  );
  if (!result.ok || process.env.VERBOSE) console.log(result.output.replace(/^/gm, '    '));
  if (!result.ok) failed += 1;
}
await admin.end();
process.exit(failed === 0 ? 0 : 1);
