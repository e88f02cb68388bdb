// The claim loops' turns at the database, on their own: which claim waits for which is a matter of
// promise timing that a test through the database cannot pin down.
import { describe, expect, it } from 'vitest';
import { Turns } from '../src/worker/turns.js';

/** A promise and the functions that settle it. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

/** Lets every pending promise callback run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('Turns', () => {
  it('runs one task at a time, in the order they were asked for', async () => {
    const turns = new Turns();
    const started: string[] = [];
    const first = deferred<string>();
    const second = deferred<string>();
    const a = turns.take(() => (started.push('a'), first.promise));
    const b = turns.take(() => (started.push('b'), second.promise));
    const c = turns.take(async () => (started.push('c'), 'c'));
    await settle();
    expect(started).toEqual(['a']);
    first.resolve('a');
    expect(await a).toBe('a');
    await settle();
    expect(started).toEqual(['a', 'b']);
    second.resolve('b');
    expect(await b).toBe('b');
    expect(await c).toBe('c');
    expect(started).toEqual(['a', 'b', 'c']);
  });

  it('a task that fails rejects its own caller only, and the next task still gets its turn', async () => {
    const turns = new Turns();
    const failing = turns.take(() => Promise.reject(new Error('claim failed')));
    const next = turns.take(async () => 'claimed');
    await expect(failing).rejects.toThrow('claim failed');
    expect(await next).toBe('claimed');
  });

  it('a task asked for after the others have settled starts at once', async () => {
    const turns = new Turns();
    await turns.take(async () => undefined);
    let started = false;
    const late = turns.take(async () => (started = true));
    await settle();
    expect(started).toBe(true);
    expect(await late).toBe(true);
  });
});
