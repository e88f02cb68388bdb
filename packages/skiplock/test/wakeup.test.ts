// The claim loops' latch, on its own: the lost wake-up it exists to prevent needs one loop asleep
// and another inside a claim at the moment of a notification, a timing no database test can force.
import { describe, expect, it } from 'vitest';
import { Wakeup } from '../src/worker/wakeup.js';

/** Whether `promise` settles within `ms`. */
async function settlesWithin(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const settled = await Promise.race([promise.then(() => true), late]);
  clearTimeout(timer);
  return settled;
}

describe('Wakeup', () => {
  it('a notification while one loop sleeps and another claims wakes the sleeper and is not lost to the other', async () => {
    const wakeup = new Wakeup();
    const asleep = wakeup.wait(60_000, wakeup.epoch);
    const claimingSaw = wakeup.epoch; // the other loop, about to claim
    wakeup.notify();
    expect(await settlesWithin(asleep, 1000)).toBe(true);
    // Its claim returns: the wake-up that came meanwhile ends its wait at once.
    expect(await settlesWithin(wakeup.wait(60_000, claimingSaw), 1000)).toBe(true);
    // With no new notification, the next wait sleeps (here: until its timeout).
    expect(await settlesWithin(wakeup.wait(60_000, wakeup.epoch), 100)).toBe(false);
  });

  it('a notification wakes one sleeper, the one asleep longest; the next wakes the next', async () => {
    const wakeup = new Wakeup();
    const first = wakeup.wait(60_000, wakeup.epoch);
    const second = wakeup.wait(60_000, wakeup.epoch);
    wakeup.notify();
    expect(await settlesWithin(first, 1000)).toBe(true);
    expect(await settlesWithin(second, 100)).toBe(false);
    wakeup.notify();
    expect(await settlesWithin(second, 1000)).toBe(true);
  });

  it('close() wakes every sleeper, and every later wait returns at once', async () => {
    const wakeup = new Wakeup();
    const other = wakeup.wait(60_000, wakeup.epoch);
    const asleep = wakeup.wait(60_000, wakeup.epoch);
    const seen = wakeup.epoch;
    wakeup.close();
    expect(await settlesWithin(asleep, 1000)).toBe(true);
    expect(await settlesWithin(other, 1000)).toBe(true);
    expect(await settlesWithin(wakeup.wait(60_000, wakeup.epoch), 1000)).toBe(true);
    expect(await settlesWithin(wakeup.wait(60_000, seen), 1000)).toBe(true);
  });

  it('a wait without a notification ends at its timeout', async () => {
    const wakeup = new Wakeup();
    const started = performance.now();
    await wakeup.wait(30, wakeup.epoch);
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
  });
});
