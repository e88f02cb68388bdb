import { parseArgs, type ParseArgsConfig } from 'node:util';
import { toMs } from 'skiplock';
import { UsageError } from './usage.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** A command's parsed flags. */
export interface Flags {
  help: boolean;
  /** The value of a string flag, if given. */
  string(name: string): string | undefined;
  /** Whether a boolean flag was given. */
  bool(name: string): boolean;
  /** The arguments that are not flags (only for commands that take them). */
  positionals: string[];
}

/**
 * Parses a command's flags strictly (`strings` take a value, `booleans` do not); unknown flags and
 * stray arguments (unless `allowPositionals`) are usage errors.
 */
export function parseFlags(
  command: string,
  argv: string[],
  strings: string[],
  booleans: string[] = [],
  allowPositionals = false,
): Flags {
  const options: Options = { help: { type: 'boolean', short: 'h' } };
  for (const name of strings) options[name] = { type: 'string' };
  for (const name of booleans) options[name] = { type: 'boolean' };
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options, strict: true, allowPositionals }));
  } catch (error) {
    throw new UsageError(`skiplock ${command}: ${(error as Error).message}`);
  }
  return {
    help: values.help === true,
    string: (name) => {
      const value = values[name];
      return typeof value === 'string' ? value : undefined;
    },
    bool: (name) => values[name] === true,
    positionals,
  };
}

/** Parses `--concurrency`-style positive integers. */
export function positiveInteger(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1)
    throw new UsageError(`${flag} must be a positive integer, got "${value}"`);
  return parsed;
}

/** Parses a duration flag (`30s`, `500ms`, `2m` or milliseconds) with `parse` (`toMs` unless given). */
export function durationFlag(
  flag: string,
  value: string | undefined,
  fallback: string,
  parse: (value: string, what: string) => number = toMs,
): number {
  try {
    return parse(value ?? fallback, flag);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** DATABASE_URL, or a usage error saying how to set it. */
export function databaseUrl(command: string): string {
  const url = process.env.DATABASE_URL;
  if (!url) {
    throw new UsageError(
      `skiplock ${command}: DATABASE_URL is not set (e.g. DATABASE_URL=postgres://postgres@localhost:5432/app)`,
    );
  }
  // The forms pg reads: a postgres:// URL (credentials before an empty host included, as for a
  // socket in ?host=), socket:, or a socket directory. Said without echoing a password.
  if (!/^(postgres(ql)?:\/\/|socket:|\/)/.test(url)) {
    throw new UsageError(
      `skiplock ${command}: DATABASE_URL is not a postgres:// URL (e.g. postgres://user:password@localhost:5432/app)`,
    );
  }
  return url;
}
