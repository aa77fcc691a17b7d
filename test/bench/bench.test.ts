/**
 * Smoke test of `vafa bench --quick`: the whole bench runs (its own nats-server and embedded
 * ClickHouse), prints only JSON with --json, and every measurement is there with positive rates and
 * ratios computed from the same run's ceilings. Speed is the benchmark's business, not this test's:
 * nothing here asserts a threshold.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BenchReport, Measurement, MeasurementId } from '../../bench/report.js';

const BIN = path.resolve(import.meta.dirname, '../../bin/vafa.js');
const out = mkdtempSync(path.join(os.tmpdir(), 'vafa-bench-test-'));
let report: BenchReport;
let stdout = '';
let stderr = '';
let code: number | null = null;

function runBench(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'bench', '--quick', '--json', '--out', out], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LOG_LEVEL: 'error' },
    });
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('exit', (c) => {
      code = c;
      resolve();
    });
  });
}

beforeAll(async () => {
  await runBench();
  if (code !== 0) throw new Error(`vafa bench --quick exited with ${code}\n${stderr.slice(-4000)}`);
  report = JSON.parse(stdout) as BenchReport;
}, 180_000);

afterAll(() => {
  rmSync(out, { recursive: true, force: true });
});

const byId = (id: MeasurementId): Measurement => {
  const m = report.measurements.find((x) => x.id === id);
  if (!m) throw new Error(`no measurement ${id}`);
  return m;
};

const close = (actual: number | null, expected: number): void => {
  expect(actual).not.toBeNull();
  expect(Math.abs(actual! - expected)).toBeLessThanOrEqual(Math.abs(expected) * 1e-9);
};

describe('vafa bench --quick --json', () => {
  it('prints one JSON report, the same as the file it writes, and an HTML page', () => {
    expect(report.kind).toBe('vafa-bench');
    expect(report.options).toMatchObject({ quick: true, repeat: 1 });
    const json = readFileSync(path.join(out, `bench-${report.started_at.replace(/:/g, '-').replace(/\.\d{3}Z$/, 'Z')}.json`), 'utf8');
    expect(JSON.parse(json)).toEqual(report);
    const html = readFileSync(path.join(out, `bench-${report.started_at.replace(/:/g, '-').replace(/\.\d{3}Z$/, 'Z')}.html`), 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('2a vafa: HTTP ingest, batches of 500');
    expect(html).toContain('class="fill"');
  });

  it('describes the machine', () => {
    expect(report.machine.cores).toBeGreaterThan(0);
    expect(report.machine.node).toBe(process.version);
    expect(report.machine.nats_server).toMatch(/\d+\.\d+/);
    expect(report.machine.cpu_model.length).toBeGreaterThan(0);
  });

  it('has every measurement, each with a positive rate from its repeat', () => {
    expect(report.measurements.map((m) => m.id).sort()).toEqual(['core_publish', 'http_batch', 'http_single', 'iso8583', 'pull_consume', 'scorer', 'scorer_steady_5k', 'stock_publish']);
    for (const m of report.measurements) {
      if (m.id === 'iso8583' && !m.available) {
        expect(m.reason).toBeTruthy();
        continue;
      }
      expect(m.available, m.id).toBe(true);
      expect(m.repeats).toHaveLength(1);
      const r = m.repeats[0]!;
      expect(r.events, m.id).toBeGreaterThan(0);
      expect(r.seconds, m.id).toBeGreaterThan(0);
      close(r.events_per_s, r.events / r.seconds);
      close(m.events_per_s, r.events_per_s);
      expect(m.events_per_s!, m.id).toBeGreaterThan(0);
    }
  });

  it('computes each ratio from the same run\'s ceilings', () => {
    const core = byId('core_publish').events_per_s!;
    const stock = byId('stock_publish').events_per_s!;
    const pull = byId('pull_consume').events_per_s!;
    for (const id of ['http_batch', 'http_single', 'iso8583'] as const) {
      const m = byId(id);
      if (!m.available) continue;
      expect(m.ceiling).toBe('core_publish');
      expect(m.ceiling_events_per_s).toBe(core);
      close(m.ratio, m.events_per_s! / core);
      expect(m.stock_events_per_s).toBe(stock);
      close(m.ratio_stock, m.events_per_s! / stock);
      close(m.repeats[0]!.ratio, m.repeats[0]!.events_per_s / core);
    }
    const s = byId('scorer');
    expect(s.ceiling).toBe('pull_consume');
    expect(s.ceiling_events_per_s).toBe(pull);
    close(s.ratio, s.events_per_s! / pull);
    expect(s.ratio_stock).toBeNull();
    for (const id of ['core_publish', 'stock_publish', 'pull_consume'] as const) expect(byId(id).ratio).toBeNull();
  });

  it('reports latencies for vafa\'s paths and the scorer\'s batch sizes', () => {
    for (const id of ['http_batch', 'http_single', 'scorer', 'scorer_steady_5k', 'iso8583'] as const) {
      const m = byId(id);
      if (!m.available) continue;
      expect(m.p50_ms, id).toBeGreaterThan(0);
      expect(m.p99_ms!, id).toBeGreaterThanOrEqual(m.p50_ms!);
    }
    const extra = byId('scorer').repeats[0]!.extra as { drain: { mean_events: number; p50_events: number }; steady: { offered_rate: number; latency_events: number; mean_events: number } };
    expect(extra.drain.mean_events).toBeGreaterThan(0);
    expect(extra.drain.p50_events).toBeGreaterThan(0);
    expect(extra.steady.latency_events).toBeGreaterThan(0);
    expect(extra.steady.mean_events).toBeGreaterThan(0);
    // The steady phase is offered half the measured drain throughput.
    expect(Math.abs(extra.steady.offered_rate - Math.max(10, Math.round(byId('scorer').events_per_s! * 0.5)))).toBeLessThanOrEqual(1);
  });

  it('leaves nothing running and removes its temporary directories', () => {
    expect(stderr).not.toMatch(/cleanup of .* failed/);
    expect(existsSync(out)).toBe(true);
  });
});
