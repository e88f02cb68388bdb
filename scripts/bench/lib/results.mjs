// The shape of what scenarios report, shared by the scenarios, the targets and the renderer.
import { summarize } from './stats.mjs';

/**
 * @typedef {{ system: string, settings: string, values: number[], summary: ReturnType<typeof summarize> }} Row
 * @typedef {{ id: string, title: string, unit: string, rawReference: string, note?: string, rows: Row[] }} Measurement
 * @typedef {{ target: string, measured: string, met: boolean | undefined }} TargetResult
 */

/**
 * Collects values per system over runs, in the order systems first report.
 * @param {{ id: string, title: string, unit: string, rawReference?: string, note?: string }} spec
 */
export function measurement(spec) {
  /** @type {Map<string, { settings: string, values: number[] }>} */
  const bySystem = new Map();
  return {
    /** @param {string} system @param {string} settings @param {number} value */
    add(system, settings, value) {
      const entry = bySystem.get(system) ?? { settings, values: [] };
      entry.settings = settings;
      entry.values.push(value);
      bySystem.set(system, entry);
    },
    /** @returns {Measurement} */
    done() {
      return {
        id: spec.id,
        title: spec.title,
        unit: spec.unit,
        rawReference: spec.rawReference ?? 'raw',
        note: spec.note,
        rows: [...bySystem].map(([system, e]) => ({
          system,
          settings: e.settings,
          values: e.values,
          summary: summarize(e.values),
        })),
      };
    },
  };
}

/** @param {Measurement[]} measurements @param {string} id @param {string} system @returns {number} median or NaN */
export function medianOf(measurements, id, system) {
  const row = measurements.find((m) => m.id === id)?.rows.find((r) => r.system === system);
  return row ? row.summary.median : NaN;
}
