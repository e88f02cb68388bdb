// Builds the packages: copies migrations/ into the skiplock package, then compiles with tsc -b.
// Plain node (no nested pnpm) so `npx pnpm test` works where pnpm is not installed globally.
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const shipped = `${root}packages/skiplock/migrations`;
rmSync(shipped, { recursive: true, force: true });
cpSync(`${root}migrations`, shipped, { recursive: true });

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-b', 'packages/skiplock', 'packages/cli'], { cwd: root, stdio: 'inherit' });
