// Issue 6's targets, checked against the medians of this run.
import { medianOf } from './results.mjs';
import { formatNumber, formatRatio } from './table.mjs';

/**
 * @param {import('./results.mjs').Measurement[]} ms
 * @returns {import('./results.mjs').TargetResult[]}
 */
export function checkTargets(ms) {
  const m = (/** @type {string} */ id, /** @type {string} */ system) => medianOf(ms, id, system);
  /** @type {import('./results.mjs').TargetResult[]} */
  const results = [];
  /** A ratio target: `numerator / denominator ≥ at least`. */
  const ratio = (
    /** @type {string} */ target,
    /** @type {number} */ numerator,
    /** @type {number} */ denominator,
    /** @type {number} */ atLeast,
  ) => {
    const value = numerator / denominator;
    results.push({
      target,
      measured: `${formatRatio(value)} (${formatNumber(numerator)} vs ${formatNumber(denominator)})`,
      met: Number.isFinite(value) ? value >= atLeast : undefined,
    });
  };
  /** An absolute bound: `value < below` (or ≤ when `inclusive`). */
  const bound = (
    /** @type {string} */ target,
    /** @type {number} */ value,
    /** @type {number} */ below,
    inclusive = false,
  ) => {
    results.push({
      target,
      measured: `${formatNumber(value)} ms`,
      met: Number.isFinite(value) ? (inclusive ? value <= below : value < below) : undefined,
    });
  };
  const sk = 'skiplock';
  ratio('S3 ≥ 1.5× graphile-worker', m('S3', sk), m('S3', 'graphile-worker'), 1.5);
  ratio('S3 ≥ 0.9× raw UPDATE floor (completed rows kept)', m('S3', sk), m('S3', 'raw'), 0.9);
  ratio('S2 ≥ 3× graphile-worker', m('S2', sk), m('S2', 'graphile-worker'), 3);
  ratio('S2 ≥ 0.8× raw', m('S2', sk), m('S2', 'raw'), 0.8);
  ratio('S1 sequential ≥ 0.9× raw', m('S1seq', sk), m('S1seq', 'raw'), 0.9);
  ratio('S1 10 producers ≥ 0.8× raw without NOTIFY', m('S1conc', sk), m('S1conc', 'raw (no NOTIFY)'), 0.8);
  const p50 = m('S4p50', sk) / m('S4p50', 'raw');
  results.push({
    target: '… while S4 p50 ≤ 1.2× raw',
    measured: `${formatRatio(p50)} (${formatNumber(m('S4p50', sk))} vs ${formatNumber(m('S4p50', 'raw'))} ms)`,
    met: Number.isFinite(p50) ? p50 <= 1.2 : undefined,
  });
  ratio('S5 (2 processes) ≥ S3 (1 process)', m('S5', sk), m('S3', sk), 1);
  const dup = m('S5dup', sk);
  results.push({
    target: 'S5 zero duplicates',
    measured: Number.isFinite(dup) ? `${dup}` : '–',
    met: Number.isFinite(dup) ? dup === 0 : undefined,
  });
  bound('S6 claim p99 < 25 ms', m('S6claim', sk), 25);
  bound('S6 enqueue p99 < 10 ms', m('S6enqueue', sk), 10);
  return results;
}
