/** The bench's arithmetic: percentiles, medians, ratios from medians, and the bars it draws. */
import { describe, expect, it } from 'vitest';
import { median, percentile, Reservoir } from '../../bench/stats.js';
import { bar, renderBars, renderHtml, renderTable, summarize, type BenchReport, type RepeatSample } from '../../bench/report.js';

describe('stats', () => {
  it('takes nearest-rank percentiles and medians', () => {
    const v = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentile(v, 50)).toBe(50);
    expect(percentile(v, 99)).toBe(99);
    expect(percentile(v, 100)).toBe(100);
    expect(percentile([], 50)).toBeNaN();
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
  });

  it('keeps exact counts and a bounded sample', () => {
    const r = new Reservoir(1000);
    for (let i = 1; i <= 100_000; i++) r.add(i);
    const s = r.summary();
    expect(s.count).toBe(100_000);
    expect(s.max).toBe(100_000);
    expect(s.p50).toBeGreaterThan(40_000);
    expect(s.p50).toBeLessThan(60_000);
  });
});

const sample = (events: number, seconds: number, p50?: number): RepeatSample => ({ events, seconds, ...(p50 ? { latency: { count: 1, p50, p90: p50, p99: p50 * 2, max: p50 * 2, mean: p50 } } : {}) });

describe('summarize', () => {
  const ms = summarize({
    core_publish: [sample(100_000, 1), sample(100_000, 0.5), sample(100_000, 2)], // 100k, 200k, 50k → median 100k
    stock_publish: [sample(10_000, 1), sample(10_000, 2), sample(10_000, 1)], // 10k, 5k, 10k → 10k
    pull_consume: [sample(80_000, 1), sample(80_000, 1), sample(80_000, 1)],
    http_batch: [sample(40_000, 2, 10), sample(40_000, 1, 20), sample(40_000, 4, 30)], // 20k, 40k, 10k → 20k
    scorer: [sample(8_000, 1, 5), sample(8_000, 1, 7), sample(8_000, 1, 6)],
  }, { iso8583: 'not there' });
  const get = (id: string) => ms.find((m) => m.id === id)!;

  it('reports medians and ratios of medians to the same run\'s ceilings', () => {
    expect(get('core_publish').events_per_s).toBe(100_000);
    expect(get('http_batch').events_per_s).toBe(20_000);
    expect(get('http_batch').p50_ms).toBe(20);
    expect(get('http_batch').p99_ms).toBe(40);
    expect(get('http_batch').ceiling_events_per_s).toBe(100_000);
    expect(get('http_batch').ratio).toBeCloseTo(0.2, 12);
    expect(get('http_batch').ratio_stock).toBeCloseTo(2, 12);
    expect(get('scorer').ratio).toBeCloseTo(0.1, 12);
    expect(get('scorer').ratio_stock).toBeNull();
  });

  it('keeps each repeat with its own ratio', () => {
    const reps = get('http_batch').repeats;
    expect(reps.map((r) => r.events_per_s)).toEqual([20_000, 40_000, 10_000]);
    expect(reps.map((r) => r.ratio)).toEqual([0.2, 0.2, 0.2]);
  });

  it('marks what was not measured, with the reason', () => {
    expect(get('iso8583')).toMatchObject({ available: false, reason: 'not there', events_per_s: null, ratio: null });
    expect(get('http_single')).toMatchObject({ available: false, reason: 'not measured' });
  });

  it('renders the table, the bars and the page', () => {
    const report: BenchReport = {
      kind: 'vafa-bench', version: 1, started_at: '2026-01-01T00:00:00.000Z', finished_at: '2026-01-01T00:03:00.000Z', duration_s: 180,
      options: { events: 1, repeat: 3, quick: false, profile: false },
      machine: { cores: 2, cpu_model: 'cpu', memory_gib: 4, os: 'linux', node: 'v20', nats_server: 'v2.9', load_average_start: [0, 0, 0] },
      settings: {}, plan: {}, measurements: ms, notes: [],
    };
    const table = renderTable(report);
    expect(table).toContain('2a vafa: HTTP ingest, batches of 500');
    expect(table).toMatch(/20,000 +20\.0 +40\.0 +1a core publish +20\.0 % +2\.00×/);
    expect(table).toContain('not available yet: not there');
    expect(renderBars(report)).toContain('│████████');
    const html = renderHtml(report);
    expect(html).toContain('style="width:20.00%"');
    expect(html).not.toContain('echarts.init');
    expect(renderHtml(report, '/* lib */')).toContain('echarts.init');
  });

  it('draws bars in eighths of a cell', () => {
    expect(bar(1, 1, 4)).toBe('████');
    expect(bar(0.5, 1, 4)).toBe('██');
    expect(bar(1 / 32, 1, 4)).toBe('▏');
    expect(bar(0, 1, 4)).toBe('');
    expect(bar(2, 1, 4)).toBe('████');
  });
});
