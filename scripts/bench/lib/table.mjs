// Markdown rendering of the results: one table per measurement, then the targets table.

/** @param {number} value */
export function formatNumber(value) {
  if (!Number.isFinite(value)) return '–';
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-US');
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

/** @param {number} value */
export function formatRatio(value) {
  return Number.isFinite(value) ? `${value.toFixed(2)}×` : '–';
}

/** @param {string[]} header @param {string[][]} rows */
export function markdownTable(header, rows) {
  const line = (/** @type {string[]} */ cells) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/**
 * One measurement (e.g. "S3 jobs/s") across systems, with ratios to Skiplock and to the raw floor.
 * @param {import('./results.mjs').Measurement} m
 */
export function measurementTable(m) {
  const skiplock = m.rows.find((r) => r.system === 'skiplock');
  const raw = m.rows.find((r) => r.system === m.rawReference);
  const rows = m.rows.map((r) => [
    r.system,
    formatNumber(r.summary.min),
    formatNumber(r.summary.median),
    formatNumber(r.summary.max),
    skiplock ? formatRatio(r.summary.median / skiplock.summary.median) : '–',
    raw ? formatRatio(r.summary.median / raw.summary.median) : '–',
    r.settings,
  ]);
  const header = ['system', `min ${m.unit}`, `median ${m.unit}`, `max ${m.unit}`, '÷ Skiplock', `÷ ${m.rawReference}`];
  return `### ${m.title}\n\n${m.note ? `${m.note}\n\n` : ''}${markdownTable([...header, 'settings'], rows)}`;
}

/** @param {import('./results.mjs').TargetResult[]} targets */
export function targetsTable(targets) {
  return markdownTable(
    ['target', 'measured (medians)', 'met'],
    targets.map((t) => [t.target, t.measured, t.met === undefined ? 'not measured' : t.met ? 'yes' : '**no**']),
  );
}
