/**
 * Human-readable views of a churn model's held-out evaluation: a ROC curve and a calibration chart for
 * the terminal (unicode), and a self-contained HTML report with SVG charts written next to the metrics.
 */
import { num } from '../scorer/core/mod.js';
import type { CalibrationBin } from './metrics.js';

/** ROC curve points (false-positive rate, true-positive rate), ties taken together, from (0,0) to (1,1). */
export function rocCurve(y: ArrayLike<number>, p: ArrayLike<number>): { fpr: number; tpr: number }[] {
  const labels = Array.from(y);
  const n = labels.length;
  // A missing score (NaN: an empty cell of a baseline column) ranks lowest; compared as it is, NaN equals
  // nothing, so its group would never close.
  const scores = Array.from(p, (v) => (Number.isNaN(v) ? -Infinity : v));
  const ranked = labels.map((label, i) => ({ i, label, score: num(scores, i) })).sort((a, b) => b.score - a.score || a.i - b.i);
  let pos = 0;
  for (const label of labels) pos += label;
  const neg = n - pos;
  const out = [{ fpr: 0, tpr: 0 }];
  if (pos === 0 || neg === 0) return [...out, { fpr: 1, tpr: 1 }];
  let tp = 0;
  let fp = 0;
  for (const [k, row] of ranked.entries()) {
    if (row.label === 1) tp++;
    else fp++;
    if (ranked[k + 1]?.score !== row.score) out.push({ fpr: fp / neg, tpr: tp / pos });
  }
  return out;
}

/** TPR of a curve at a given FPR (linear between points). */
function tprAt(curve: readonly { fpr: number; tpr: number }[], fpr: number): number {
  let a: { fpr: number; tpr: number } | undefined;
  for (const b of curve) {
    if (a && b.fpr >= fpr) return b.fpr === a.fpr ? b.tpr : a.tpr + ((fpr - a.fpr) / (b.fpr - a.fpr)) * (b.tpr - a.tpr);
    a = b;
  }
  return 1;
}

/**
 * A ROC chart in characters: `●` the model, `○` the baseline, `·` chance. `width` × `height` cells.
 */
export function rocChart(model: readonly { fpr: number; tpr: number }[], baseline: readonly { fpr: number; tpr: number }[], width = 41, height = 17): string[] {
  const grid: string[][] = Array.from({ length: height }, () => new Array<string>(width).fill(' '));
  const put = (col: number, tpr: number, ch: string, over: boolean): void => {
    const row = height - 1 - Math.round(tpr * (height - 1));
    const line = grid[row];
    const cell = line?.[col];
    if (line === undefined || cell === undefined) return;
    if (over || cell === ' ') line[col] = ch;
  };
  for (let col = 0; col < width; col++) {
    const fpr = col / (width - 1);
    put(col, fpr, '·', false);
    put(col, tprAt(baseline, fpr), '○', true);
    put(col, tprAt(model, fpr), '●', true);
  }
  const lines = grid.map((r, i) => {
    const label = i === 0 ? '1.0' : i === height - 1 ? '0.0' : i === Math.floor((height - 1) / 2) ? 'TPR' : '';
    return `${label.padStart(4)} │${r.join('')}`;
  });
  lines.push(`     └${'─'.repeat(width)}`);
  lines.push(`      0.0${'FPR'.padStart(Math.floor(width / 2) - 1)}${'1.0'.padStart(width - Math.floor(width / 2) - 4)}`);
  return lines;
}

/** Calibration by decile of prediction: mean predicted against observed rate, as bars. */
export function calibrationChart(bins: readonly CalibrationBin[], width = 40): string[] {
  const max = Math.max(1e-9, ...bins.map((b) => Math.max(b.meanPredicted, b.observedRate)));
  const bar = (v: number, ch: string): string => {
    const cells = (v / max) * width;
    const full = Math.floor(cells);
    const parts = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    const frac = ch === '█' ? (parts[Math.floor((cells - full) * 8)] ?? '') : '';
    return ch.repeat(full) + frac;
  };
  const lines = ['decile  predicted / observed churn rate'];
  for (const b of bins) {
    lines.push(`  ${String(b.bin + 1).padStart(2)}    ${b.meanPredicted.toFixed(3)} ${bar(b.meanPredicted, '█')}`);
    lines.push(`        ${b.observedRate.toFixed(3)} ${bar(b.observedRate, '▒')}`);
  }
  return lines;
}

const esc = (s: string): string => s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');

function svgRoc(model: readonly { fpr: number; tpr: number }[], baseline: readonly { fpr: number; tpr: number }[], aucModel: number, aucBase: number, baseLabel = 'recency only'): string {
  const S = 320;
  const pad = 40;
  const path = (c: readonly { fpr: number; tpr: number }[]): string => {
    const step = Math.max(1, Math.floor(c.length / 600));
    const pts = c.filter((_, i) => i % step === 0 || i === c.length - 1);
    return pts.map((q, i) => `${i ? 'L' : 'M'}${(pad + q.fpr * S).toFixed(1)},${(pad + S - q.tpr * S).toFixed(1)}`).join('');
  };
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${S + 2 * pad}" height="${S + 2 * pad}" font-family="sans-serif" font-size="12">
<rect x="${pad}" y="${pad}" width="${S}" height="${S}" fill="none" stroke="#999"/>
<line x1="${pad}" y1="${pad + S}" x2="${pad + S}" y2="${pad}" stroke="#ccc" stroke-dasharray="4 4"/>
<path d="${path(baseline)}" fill="none" stroke="#e08a00" stroke-width="2"/>
<path d="${path(model)}" fill="none" stroke="#1f5fbf" stroke-width="2"/>
<text x="${pad + S / 2}" y="${pad + S + 30}" text-anchor="middle">false-positive rate</text>
<text x="12" y="${pad + S / 2}" transform="rotate(-90 12 ${pad + S / 2})" text-anchor="middle">true-positive rate</text>
<text x="${pad + S - 8}" y="${pad + S - 28}" text-anchor="end" fill="#1f5fbf">model AUC ${aucModel.toFixed(3)}</text>
<text x="${pad + S - 8}" y="${pad + S - 12}" text-anchor="end" fill="#e08a00">${esc(baseLabel)} AUC ${aucBase.toFixed(3)}</text>
</svg>`;
}

function svgCalibration(bins: readonly CalibrationBin[], before: readonly CalibrationBin[] = []): string {
  const S = 320;
  const pad = 40;
  const max = Math.min(1, Math.max(0.05, ...[...bins, ...before].map((b) => Math.max(b.meanPredicted, b.observedRate))) * 1.1);
  const x = (v: number): number => pad + (v / max) * S;
  const y = (v: number): number => pad + S - (v / max) * S;
  const dots = bins.map((b) => `<circle cx="${x(b.meanPredicted).toFixed(1)}" cy="${y(b.observedRate).toFixed(1)}" r="4" fill="#1f5fbf"><title>decile ${b.bin + 1}: predicted ${b.meanPredicted.toFixed(4)}, observed ${b.observedRate.toFixed(4)} (${b.count} rows)</title></circle>`).join('\n')
    + before.map((b) => `<circle cx="${x(b.meanPredicted).toFixed(1)}" cy="${y(b.observedRate).toFixed(1)}" r="4" fill="none" stroke="#e08a00"><title>before calibration, decile ${b.bin + 1}: predicted ${b.meanPredicted.toFixed(4)}, observed ${b.observedRate.toFixed(4)}</title></circle>`).join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${S + 2 * pad}" height="${S + 2 * pad}" font-family="sans-serif" font-size="12">
<rect x="${pad}" y="${pad}" width="${S}" height="${S}" fill="none" stroke="#999"/>
<line x1="${pad}" y1="${pad + S}" x2="${pad + S}" y2="${pad}" stroke="#ccc" stroke-dasharray="4 4"/>
${dots}
<text x="${pad + S / 2}" y="${pad + S + 30}" text-anchor="middle">mean predicted P(churn) (0 – ${max.toFixed(2)})</text>
<text x="12" y="${pad + S / 2}" transform="rotate(-90 12 ${pad + S / 2})" text-anchor="middle">observed churn rate</text>
</svg>`;
}

export interface HtmlReportInput {
  title: string;
  command: string;
  rows: [string, string, string][];
  roc: { model: { fpr: number; tpr: number }[]; baseline: { fpr: number; tpr: number }[]; aucModel: number; aucBaseline: number };
  calibration: CalibrationBin[];
  /** The reliability curve before calibration (hollow dots), when the model is calibrated. */
  calibrationBefore?: CalibrationBin[];
  importance: { feature: string; value: number }[];
  /** Name of the baseline column and curve. Default "recency-only baseline". */
  baselineLabel?: string;
}

/** A self-contained HTML page (inline SVG, no scripts). */
export function htmlReport(r: HtmlReportInput): string {
  const table = r.rows.map(([k, a, b]) => `<tr><th>${esc(k)}</th><td>${esc(a)}</td><td>${esc(b)}</td></tr>`).join('\n');
  const top = r.importance.slice(0, 15);
  const maxImp = Math.max(1e-12, ...top.map((i) => Math.abs(i.value)));
  const imp = top.map((i) => `<tr><th>${esc(i.feature)}</th><td><div style="background:#1f5fbf;height:10px;width:${((Math.abs(i.value) / maxImp) * 200).toFixed(0)}px"></div></td><td>${i.value.toPrecision(3)}</td></tr>`).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(r.title)}</title>
<style>body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}th,td{padding:3px 10px;text-align:left;border-bottom:1px solid #eee}
code{background:#f4f4f4;padding:2px 4px}.charts{display:flex;gap:2em;flex-wrap:wrap}</style></head><body>
<h1>${esc(r.title)}</h1>
<p>Trained with <code>${esc(r.command)}</code></p>
<h2>Held-out period</h2>
<table><tr><th></th><th>model</th><th>${esc(r.baselineLabel ?? 'recency-only baseline')}</th></tr>
${table}
</table>
<div class="charts"><div><h3>ROC</h3>${svgRoc(r.roc.model, r.roc.baseline, r.roc.aucModel, r.roc.aucBaseline, r.baselineLabel?.replace(/ baseline$/, '') ?? 'recency only')}</div>
<div><h3>Reliability (calibration by decile)</h3>${svgCalibration(r.calibration, r.calibrationBefore)}${r.calibrationBefore ? '<p>filled: calibrated · hollow: before calibration · dashed: perfect</p>' : ''}</div></div>
<h2>Feature importance</h2><table>${imp}</table>
</body></html>
`;
}
