import { createHash } from 'node:crypto';

/** A named statement: pg prepares it on a connection's first use, then only binds and executes it. */
export interface Statement {
  readonly name: string;
  readonly text: string;
}

/**
 * The named statement of `text`, called `skiplock-<kind>-<16 hex digits of its SHA-256>`: the same
 * text gets the same name in every process and every copy of Skiplock, so a connection prepares it
 * once however many workers or instances use it, and different texts get different names. Names
 * never spell out a schema or a variant: Postgres cuts a statement's name at 63 bytes, and two long
 * names cut alike make a connection that prepares both fail with "prepared statement … already
 * exists".
 */
export function namedStatement(kind: string, text: string): Statement {
  const digest = createHash('sha256').update(text).digest('hex').slice(0, 16);
  return { name: `skiplock-${kind}-${digest}`, text };
}
