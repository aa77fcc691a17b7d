/**
 * The bench's results: one JSON document (medians and every repeat's values), the table for the
 * terminal, a bar chart of the ratios in unicode blocks, and a self-contained HTML page.
 */
import { item, num } from '../scorer/core/mod.js';
import { HEAP_BYTES_PER_RECORD_BYTE } from '../scorer/runtime/store/mod.js';
import { median, type LatencySummary } from './stats.js';
import type { GcPauses } from './cpu.js';
import type { MillionReport } from './million.js';
import type { ScalingReport } from './scaling.js';
import type { StateParts, StoreCost } from './core.js';
export type MeasurementId = 'core_publish' | 'stock_publish' | 'pull_consume' | 'http_batch' | 'http_single' | 'iso8583' | 'scorer' | 'scorer_steady_5k';

export const MEASUREMENTS: readonly { id: MeasurementId; name: string; group: 'ceiling' | 'vafa'; ceiling?: MeasurementId; stock?: boolean }[] = [
  { id: 'core_publish', name: '1a raw: core-NATS publish → stream (no acks)', group: 'ceiling' },
  { id: 'stock_publish', name: '1b raw: stock js.publish loop (await each)', group: 'ceiling' },
  { id: 'pull_consume', name: '1c raw: pull consume, AckPolicy.All, JSON.parse', group: 'ceiling' },
  { id: 'http_batch', name: '2a vafa: HTTP ingest, batches of 500', group: 'vafa', ceiling: 'core_publish', stock: true },
  { id: 'http_single', name: '2b vafa: HTTP ingest, one event a request', group: 'vafa', ceiling: 'core_publish', stock: true },
  { id: 'scorer', name: '2c vafa: JetStream → scorer → ClickHouse', group: 'vafa', ceiling: 'pull_consume' },
  { id: 'scorer_steady_5k', name: '2c vafa: the same at 5,000 events/s offered', group: 'vafa' },
  { id: 'iso8583', name: '2d vafa: ISO 8583 ingest (0200, TCP)', group: 'vafa', ceiling: 'core_publish', stock: true },
];

/** One repeat of one measurement, as measured. */
export interface RepeatSample {
  events: number;
  seconds: number;
  latency?: LatencySummary;
  cpu?: unknown;
  extra?: Record<string, unknown>;
}

export interface RepeatValue {
  repeat: number;
  events: number;
  seconds: number;
  events_per_s: number;
  p50_ms: number | null;
  p99_ms: number | null;
  /** This repeat's own ceiling and ratio (the headline ratio uses the medians). */
  ceiling_events_per_s: number | null;
  ratio: number | null;
  ratio_stock: number | null;
  cpu?: unknown;
  extra?: Record<string, unknown>;
}

export interface Measurement {
  id: MeasurementId;
  name: string;
  group: 'ceiling' | 'vafa';
  available: boolean;
  reason?: string;
  /** Median over repeats. */
  events_per_s: number | null;
  p50_ms: number | null;
  p99_ms: number | null;
  ceiling: MeasurementId | null;
  /** The ceiling's median events/s. */
  ceiling_events_per_s: number | null;
  /** events_per_s / ceiling_events_per_s. */
  ratio: number | null;
  /** The stock js.publish loop's median events/s and events_per_s over it (ingest paths). */
  stock_events_per_s: number | null;
  ratio_stock: number | null;
  /** The CPU of each part of the pipeline during the phase, % of one core, median over repeats (bench/cpu.ts). */
  cpu_roles: Record<string, number> | null;
  repeats: RepeatValue[];
}

export interface Machine {
  cores: number;
  cpu_model: string;
  memory_gib: number;
  os: string;
  node: string;
  nats_server: string;
  load_average_start: number[];
  load_average_end?: number[];
}

export interface BenchReport {
  kind: 'vafa-bench';
  version: 1;
  started_at: string;
  finished_at: string;
  duration_s: number;
  options: { events: number; repeat: number; quick: boolean; profile: boolean };
  machine: Machine;
  settings: Record<string, unknown>;
  plan: Record<string, unknown>;
  measurements: Measurement[];
  notes: string[];
  /** Issue 8: scorer scaling over processes and recovery after a kill (full run, `--scaling`). */
  scaling?: ScalingReport;
  /** The scorer's pure core alone over a simulated year (`--only core`, and the full run). */
  core?: CoreReport;
  /** Scorer state at the end of the core's replay: encoded bytes per customer. */
  state?: CoreReport['state'];
  /** 1,000,000 customers in the state store: scorer RSS, recovery after SIGKILL (`--only million`, bench/million.ts). */
  million?: MillionReport;
}

/** `scorer_core`: medians over repeats; the ratio is to 1c pull consume when it ran in the same run. */
export interface CoreReport {
  id: 'scorer_core';
  name: string;
  events: number;
  events_per_s: number;
  us_per_event: number;
  cpu_us_per_event: number;
  decode_us_per_event: number;
  ceiling: 'pull_consume';
  ceiling_events_per_s: number | null;
  ratio: number | null;
  plan: Record<string, unknown>;
  state: { customers: number; bytes_per_customer_median: number; bytes_per_customer_p99: number; bytes_per_customer_max: number; partition_bytes_per_customer: number; timers: number; encoder: string;
    /** The same customers as JSON, for comparison. */
    json?: { bytes_per_customer_median: number; bytes_per_customer_p99: number };
    /** With the store's encoder: each part's median bytes (scorer/runtime/store/codec.ts `RecordParts`). */
    parts_median?: StateParts };
  repeats: { repeat: number; events_per_s: number; us_per_event: number; cpu_us_per_event: number; decode_us_per_event: number; load_average: number[] }[];
  /** The same replay with the state store's commits encoded after every micro-batch (bench/core.ts `StoreCost`); medians. */
  store?: StoreCost;
}

/** The core's lines for the terminal. */
export function renderCore(core: CoreReport): string {
  const s = core.state;
  return [
    `${core.name}: ${fmtInt(core.events_per_s)} events/s, ${core.us_per_event.toFixed(1)} µs an event (CPU ${core.cpu_us_per_event.toFixed(1)} µs, of which decode ${core.decode_us_per_event.toFixed(1)} µs)`
      + (core.ratio !== null ? `, ${fmtRatio(core.ratio)} of 1c pull consume` : ''),
    ...(core.store ? [renderStoreCost(core.store)] : []),
    `state after the replay (${s.encoder}): ${s.customers.toLocaleString('en-US')} customers, median ${s.bytes_per_customer_median.toLocaleString('en-US')} B, p99 ${s.bytes_per_customer_p99.toLocaleString('en-US')} B a customer${s.json ? ` (as JSON: median ${s.json.bytes_per_customer_median.toLocaleString('en-US')} B, p99 ${s.json.bytes_per_customer_p99.toLocaleString('en-US')} B)` : ''}; timers ${s.timers.toLocaleString('en-US')}`,
    ...(s.parts_median ? [renderParts(s.parts_median)] : []),
  ].join('\n');
}

function renderParts(p: NonNullable<CoreReport['state']['parts_median']>): string {
  const bytes = (n: number): string => `${n.toLocaleString('en-US')} B`;
  return `   a record by part, medians: lots ${bytes(p.lots_section)}, earning records ${bytes(p.earned_section)}, remembered ids ${bytes(p.seen_section)}, feature buckets ${bytes(p.buckets_section)}, the rest ${bytes(p.generic)}`;
}

function renderStoreCost(store: StoreCost): string {
  return `   with the state store's commits (each customer a micro-batch reached encoded as LMDB is written; LMDB's write not included): ${store.us_per_event.toFixed(1)} µs an event, `
    + `of which encoding ${store.encode_us_per_event.toFixed(1)} µs (${store.writes_per_event.toFixed(2)} records an event, ${store.encode_us_per_write.toFixed(0)} µs each); a cold read decodes one in ${store.decode_us_per_read.toFixed(0)} µs; `
    + `with every customer read back from its record (a bank's customers, mostly not cached): ${store.cold_us_per_event.toFixed(1)} µs an event; `
    + `a cached customer takes ${store.cache_bytes_per_record_byte.toFixed(1)} bytes of memory a record byte (the cache counts ${HEAP_BYTES_PER_RECORD_BYTE})`;
}

const nn = (v: number | undefined | null): number | null => (v === undefined || v === null || !Number.isFinite(v) ? null : v);

/**
 * Builds the measurements from every repeat's samples (`samples[id][r]`; missing → unavailable). The
 * headline figures are medians over repeats; a ratio is this measurement's median events/s over its
 * ceiling's median events/s, both from this run (each repeat's own ratio is kept in `repeats`).
 */
export function summarize(samples: Partial<Record<MeasurementId, (RepeatSample | undefined)[]>>, unavailable: Partial<Record<MeasurementId, string>>): Measurement[] {
  const rates = (id: MeasurementId): (number | undefined)[] => (samples[id] ?? []).map((s) => (s && !unavailable[id] ? s.events / s.seconds : undefined));
  const medianRate = (id: MeasurementId): number | null => nn(median(rates(id).filter((x): x is number => x !== undefined)));
  return MEASUREMENTS.map((def) => {
    const list = samples[def.id] ?? [];
    const reason = unavailable[def.id];
    const ceilingRates = def.ceiling ? rates(def.ceiling) : [];
    const stockRates = def.stock ? rates('stock_publish') : [];
    const repeats: RepeatValue[] = [];
    list.forEach((s, r) => {
      if (!s || reason) return;
      const rate = s.events / s.seconds;
      const c = ceilingRates[r];
      const st = stockRates[r];
      repeats.push({
        repeat: r + 1, events: s.events, seconds: s.seconds, events_per_s: rate,
        p50_ms: nn(s.latency?.p50), p99_ms: nn(s.latency?.p99),
        ceiling_events_per_s: c ?? null, ratio: c === undefined ? null : rate / c,
        ratio_stock: st === undefined ? null : rate / st,
        ...(s.cpu ? { cpu: s.cpu } : {}), ...(s.extra ? { extra: s.extra } : {}),
      });
    });
    const available = repeats.length > 0;
    const rate = available ? medianRate(def.id) : null;
    const ceilingRate = def.ceiling ? medianRate(def.ceiling) : null;
    const stockRate = def.stock ? medianRate('stock_publish') : null;
    const lat = (k: 'p50_ms' | 'p99_ms'): number | null => {
      const v = repeats.map((x) => x[k]).filter((x): x is number => x !== null);
      return v.length ? median(v) : null;
    };
    return {
      id: def.id, name: def.name, group: def.group, available, ...(reason ? { reason } : !available ? { reason: 'not measured' } : {}),
      events_per_s: rate, p50_ms: lat('p50_ms'), p99_ms: lat('p99_ms'),
      ceiling: def.ceiling ?? null, ceiling_events_per_s: ceilingRate,
      ratio: rate !== null && ceilingRate ? rate / ceilingRate : null,
      stock_events_per_s: stockRate, ratio_stock: rate !== null && stockRate ? rate / stockRate : null,
      cpu_roles: medianRoles(repeats.map((x) => x.cpu)),
      repeats,
    };
  });
}

/** Each role's median over the repeats' `cpu.roles`; null when no repeat has them. */
export function medianRoles(cpus: readonly unknown[]): Record<string, number> | null {
  const all = cpus.map((c) => (c as { roles?: Record<string, number | null> } | undefined)?.roles).filter((r): r is Record<string, number | null> => r !== undefined);
  const [first] = all;
  if (!first) return null;
  const out: Record<string, number> = {};
  for (const k of Object.keys(first)) {
    const v = all.map((r) => r[k]).filter((x): x is number => typeof x === 'number');
    if (v.length) out[k] = median(v);
  }
  return out;
}

const CPU_COLUMNS: readonly [string, string][] = [
  ['scorer', 'scorer'], ['ingest', 'ingest'], ['nats-server', 'nats-server'], ['clickhouse', 'ClickHouse'], ['loadgen', 'load gen'], ['bench', 'bench rest'], ['others', 'others'], ['machine', 'machine'],
];

/** Each vafa phase's repeats' `cpu` records by phase name, the scorer's steady phase as a phase of its own. */
function vafaPhaseCpus(report: BenchReport): { name: string; cpus: unknown[] }[] {
  const phases: { name: string; cpus: unknown[] }[] = [];
  for (const m of report.measurements.filter((x) => x.group === 'vafa' && x.available)) {
    phases.push({ name: m.name, cpus: m.repeats.map((x) => x.cpu) });
    if (m.id === 'scorer') phases.push({ name: `${m.name}, steady phase`, cpus: m.repeats.map((x) => (x.extra?.steady as { cpu?: unknown } | undefined)?.cpu) });
  }
  return phases;
}

/** `head` and `rows` as aligned columns under a rule, the first to the left, the others to the right. */
function columns(head: string[], rows: string[][]): string {
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => item(r, i).length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(num(width, i)) : c.padStart(num(width, i)))).join('  ').trimEnd();
  return [line(head), line(width.map((w) => '─'.repeat(w))), ...rows.map(line)].join('\n');
}

/** Where the CPU went in each vafa phase, % of one core (100 per core; the machine's whole is cores × 100). */
export function renderCpu(report: BenchReport): string {
  const rows: string[][] = [];
  for (const { name, cpus } of vafaPhaseCpus(report)) {
    const roles = medianRoles(cpus);
    if (roles) rows.push([name, ...CPU_COLUMNS.map(([k]) => fmtPct(roles[k]))]);
  }
  return rows.length ? columns(['CPU by part, % of one core', ...CPU_COLUMNS.map(([, label]) => label)], rows) : '';
}

/** Each field's median over the repeats' `cpu.gc` (bench/cpu.ts `GcPauses`); null when no repeat has it. */
export function medianGc(cpus: readonly unknown[]): GcPauses | null {
  const all = cpus.map((c) => (c as { gc?: GcPauses } | undefined)?.gc).filter((g): g is GcPauses => g !== undefined);
  if (!all.length) return null;
  const of = (k: keyof GcPauses): number => median(all.map((g) => g[k]));
  return { count: of('count'), total_ms: of('total_ms'), share_pct: of('share_pct'), longest_ms: of('longest_ms'), minor_ms: of('minor_ms') };
}

/**
 * The main thread's garbage-collection pauses in each vafa phase (medians of the repeats): where the API or
 * the scorer runs in the bench process, every request and event in flight waits each pause out. A phase
 * without any (the ingest phases, whose API runs in worker processes by default) has no row.
 */
export function renderGc(report: BenchReport): string {
  const rows: string[][] = [];
  for (const { name, cpus } of vafaPhaseCpus(report)) {
    const gc = medianGc(cpus);
    if (gc && gc.count > 0) rows.push([name, fmtInt(gc.count), gc.share_pct.toFixed(1), fmtMs(gc.longest_ms), fmtMs(gc.minor_ms)]);
  }
  return rows.length ? columns(['main-thread GC pauses', 'pauses', '% of the time', 'longest ms', 'scavenges ms'], rows) : '';
}

const fmtPct = (v: number | undefined): string => (v === undefined ? '—' : v.toFixed(0));
const fmtInt = (v: number | null): string => (v === null ? '—' : Math.round(v).toLocaleString('en-US'));
const fmtMs = (v: number | null): string => (v === null ? '—' : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const fmtRatio = (v: number | null): string => (v === null ? '—' : v >= 10 ? `${v.toFixed(1)}×` : v >= 1 ? `${v.toFixed(2)}×` : `${(v * 100).toFixed(1)} %`);
const ceilingLabel = (id: MeasurementId | null): string => (id === 'core_publish' ? '1a core publish' : id === 'pull_consume' ? '1c pull consume' : '—');

export function renderTable(report: BenchReport): string {
  const head = ['measurement', 'events/s', 'p50 ms', 'p99 ms', 'ceiling used', 'ratio to ceiling', 'vs stock js.publish'];
  const rows = report.measurements.map((m) => m.available
    ? [m.name, fmtInt(m.events_per_s), fmtMs(m.p50_ms), fmtMs(m.p99_ms), ceilingLabel(m.ceiling), fmtRatio(m.ratio), fmtRatio(m.ratio_stock)]
    : [m.name, `not available yet: ${m.reason ?? ''}`, '', '', '', '', '']);
  const width = head.map((h, i) => Math.max(h.length, ...rows.filter((r) => r[2] !== '' || i === 0).map((r) => item(r, i).length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 || (cells[2] === '' && i === 1) ? c.padEnd(num(width, i)) : c.padStart(num(width, i)))).join('  ').trimEnd();
  const m = report.machine;
  const out = [
    `vafa bench — ${report.started_at} — median of ${report.options.repeat} repeat${report.options.repeat === 1 ? '' : 's'}${report.options.quick ? ' (quick)' : ''}, ${report.duration_s.toFixed(0)} s`,
    `machine: ${m.cores} cores, ${m.cpu_model}, ${m.memory_gib} GiB, ${m.os}; node ${m.node}; nats-server ${m.nats_server}; load average at start ${m.load_average_start.map((x) => x.toFixed(2)).join(' ')}`,
    '',
    line(head),
    line(width.map((w) => '─'.repeat(w))),
    ...rows.map(line),
  ];
  const cpu = renderCpu(report);
  if (cpu) out.push('', cpu);
  const gc = renderGc(report);
  if (gc) out.push('', gc);
  if (report.notes.length) out.push('', ...report.notes.map((n) => `note: ${n}`));
  return out.join('\n');
}

const EIGHTHS = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

/** A bar of `value` on a scale where `max` fills `width` cells, in eighth-cell steps. */
export function bar(value: number, max: number, width: number): string {
  if (!(value > 0) || !(max > 0)) return '';
  const eighths = Math.round((Math.min(value, max) / max) * width * 8);
  return '█'.repeat(Math.floor(eighths / 8)) + item(EIGHTHS, eighths % 8);
}

export function renderBars(report: BenchReport, width = 40): string {
  const vafa = report.measurements.filter((m) => m.group === 'vafa' && m.available);
  const label = Math.max(...vafa.map((m) => m.name.length), 10);
  const lines = ['', `ratio to the ceiling (1a core publish for ingest, 1c pull consume for the scorer); full bar = 100 %`];
  for (const m of vafa) lines.push(`${m.name.padEnd(label)} │${bar(m.ratio ?? 0, 1, width).padEnd(width)}│ ${fmtRatio(m.ratio)}`);
  const stocked = vafa.filter((m) => m.ratio_stock !== null);
  if (stocked.length) {
    const max = Math.max(1, ...stocked.map((m) => m.ratio_stock ?? 0));
    const one = Math.round((1 / max) * width);
    lines.push('', `multiple of the stock js.publish loop (1b); ┆ marks 1×, full bar = ${max.toFixed(1)}×`);
    for (const m of stocked) {
      const b = bar(m.ratio_stock ?? 0, max, width).padEnd(width);
      const marked = one > 0 && one < width && b[one] === ' ' ? `${b.slice(0, one)}┆${b.slice(one + 1)}` : b;
      lines.push(`${m.name.padEnd(label)} │${marked}│ ${fmtRatio(m.ratio_stock)}`);
    }
  }
  return lines.join('\n');
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * A self-contained HTML page: the table, and the ratios as bar charts, drawn with ECharts inlined from
 * node_modules when it is given, and always also as an HTML table of CSS-width bars (the fallback).
 */
export function renderHtml(report: BenchReport, echartsSource?: string): string {
  const vafa = report.measurements.filter((m) => m.group === 'vafa' && m.available);
  const maxStock = Math.max(1, ...vafa.map((m) => m.ratio_stock ?? 0));
  const cssBars = (title: string, value: (m: Measurement) => number | null, max: number): string => `
<h3>${esc(title)}</h3>
<table class="bars">${vafa.flatMap((m) => {
    const v = value(m);
    return v === null ? [] : [`
  <tr><th>${esc(m.name)}</th><td><div class="track"><div class="fill" style="width:${(Math.min(v, max) / max * 100).toFixed(2)}%"></div></div></td><td class="num">${esc(fmtRatio(v))}</td></tr>`];
  }).join('')}
</table>`;
  const table = `<table class="results"><thead><tr><th>measurement</th><th>events/s</th><th>p50 ms</th><th>p99 ms</th><th>ceiling used</th><th>ratio</th><th>vs stock js.publish</th></tr></thead><tbody>${report.measurements.map((m) => m.available
    ? `<tr><td>${esc(m.name)}</td><td class="num">${fmtInt(m.events_per_s)}</td><td class="num">${fmtMs(m.p50_ms)}</td><td class="num">${fmtMs(m.p99_ms)}</td><td>${esc(ceilingLabel(m.ceiling))}</td><td class="num">${esc(fmtRatio(m.ratio))}</td><td class="num">${esc(fmtRatio(m.ratio_stock))}</td></tr>`
    : `<tr><td>${esc(m.name)}</td><td colspan="6">not available yet: ${esc(m.reason ?? '')}</td></tr>`).join('')}</tbody></table>`;
  const stocked = vafa.filter((m) => m.ratio_stock !== null);
  const chartData = {
    ratio: { names: vafa.map((m) => m.name), values: vafa.map((m) => Number(((m.ratio ?? 0) * 100).toFixed(2))) },
    stock: { names: stocked.map((m) => m.name), values: stocked.map((m) => Number((m.ratio_stock ?? 0).toFixed(3))) },
  };
  const m = report.machine;
  const charts = echartsSource ? `
<div id="ratio" class="chart"></div>
<div id="stock" class="chart"></div>
<script>${echartsSource.replace(/<\/script/gi, '<\\/script')}</script>
<script>
const data = ${JSON.stringify(chartData)};
function draw(id, title, d, unit, markAt) {
  const chart = echarts.init(document.getElementById(id));
  chart.setOption({
    animation: false,
    title: { text: title, textStyle: { fontSize: 14 } },
    grid: { left: 330, right: 80, top: 40, bottom: 30 },
    xAxis: { type: 'value', axisLabel: { formatter: '{value}' + unit } },
    yAxis: { type: 'category', data: d.names, inverse: true },
    series: [{ type: 'bar', data: d.values, label: { show: true, position: 'right', formatter: (p) => p.value + unit },
      markLine: markAt === undefined ? undefined : { symbol: 'none', data: [{ xAxis: markAt }], label: { formatter: '1×' } } }],
  });
}
draw('ratio', 'Ratio to the ceiling (1a core publish for ingest, 1c pull consume for the scorer)', data.ratio, ' %');
if (data.stock.names.length) draw('stock', 'Multiple of the stock js.publish loop (1b)', data.stock, '×', 1);
</script>` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>vafa bench ${esc(report.started_at)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
.results td, .results th { border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: left; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.bars th { text-align: left; font-weight: normal; padding: 3px 10px 3px 0; white-space: nowrap; }
.track { width: 420px; height: 16px; background: #eee; }
.fill { height: 16px; background: #4a78c2; }
.chart { width: 900px; height: 300px; margin: 1em 0; }
.meta { color: #555; }
</style></head><body>
<h1>vafa bench</h1>
<p class="meta">${esc(report.started_at)} · median of ${report.options.repeat} repeat(s)${report.options.quick ? ' (quick)' : ''} · ${report.duration_s.toFixed(0)} s<br>
${m.cores} cores · ${esc(m.cpu_model)} · ${m.memory_gib} GiB · ${esc(m.os)} · node ${esc(m.node)} · nats-server ${esc(m.nats_server)} · load average at start ${m.load_average_start.map((x) => x.toFixed(2)).join(' ')}</p>
${table}
${charts}
${cssBars('Ratio to the ceiling (full width = 100 %)', (x) => x.ratio, 1)}
${cssBars(`Multiple of the stock js.publish loop (full width = ${maxStock.toFixed(1)}×)`, (x) => x.ratio_stock, maxStock)}
${report.notes.length ? `<ul>${report.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : ''}
<details><summary>JSON</summary><pre>${esc(JSON.stringify(report, null, 2))}</pre></details>
</body></html>
`;
}
