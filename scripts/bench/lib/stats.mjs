// Summaries of repeated measurements: min / median / max of runs, percentiles of latency samples.

/** @param {number[]} values @param {number} p 0…100 @returns {number} nearest-rank percentile */
export function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return /** @type {number} */ (sorted[rank]);
}

/** @param {number[]} values @returns {{ min: number, median: number, max: number, runs: number }} */
export function summarize(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median =
    sorted.length % 2 === 1
      ? /** @type {number} */ (sorted[mid])
      : /** @type {number} */ (sorted[mid - 1] + /** @type {number} */ (sorted[mid])) / 2;
  return { min: sorted[0] ?? NaN, median, max: sorted[sorted.length - 1] ?? NaN, runs: sorted.length };
}

/** Jobs per second from a count and a duration in ms. @param {number} jobs @param {number} ms */
export function rate(jobs, ms) {
  return (jobs * 1000) / ms;
}
