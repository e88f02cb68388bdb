/** A named statement: pg prepares it on a connection's first use, then only binds and executes it. */
export interface Statement {
  readonly name: string;
  readonly text: string;
}

/** Every statement named so far, by text. */
const named = new Map<string, Statement>();

/**
 * The named statement of `text`, called `skiplock-<kind>-<n>` with `n` unique in the process. The
 * same text always gets the same statement, so a connection prepares it once however many workers,
 * instances or variants use it. Names never spell out a schema or a variant: Postgres cuts a
 * statement's name at 63 bytes, and two long names cut alike make a connection that prepares both
 * fail with "prepared statement … already exists".
 */
export function namedStatement(kind: string, text: string): Statement {
  let statement = named.get(text);
  if (!statement) {
    statement = { name: `skiplock-${kind}-${named.size + 1}`, text };
    named.set(text, statement);
  }
  return statement;
}
