// The systems the harness compares, by name (the S5 child process looks its system up here).
import { graphileWorkerSystem } from './graphile-worker.mjs';
import { pgBossSystem } from './pg-boss.mjs';
import { rawSystem } from './raw.mjs';
import { skiplockSystem } from './skiplock.mjs';

export const RAW = rawSystem();
export const RAW_NO_NOTIFY = rawSystem({ notify: false });
export const RAW_DELETE = rawSystem({ finish: 'delete' });

/** The queues compared in every scenario, Skiplock first. */
export const QUEUES = [skiplockSystem, graphileWorkerSystem, pgBossSystem];

/** @type {import('./system.mjs').SystemFactory[]} */
const ALL = [...QUEUES, RAW, RAW_NO_NOTIFY, RAW_DELETE];

/** @param {string} name */
export function systemByName(name) {
  const factory = ALL.find((f) => f.name === name);
  if (!factory) throw new Error(`bench: no system named ${name}`);
  return factory;
}
