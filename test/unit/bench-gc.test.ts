/**
 * The bench's main-thread GC figures (bench/cpu.ts `GcWatch`, bench/report.ts `renderGc`): the pauses of the
 * garbage made while a phase runs are counted, and each vafa phase's medians print as a table.
 */
import { describe, expect, it } from 'vitest';
import { CpuProbe, GcWatch, type GcPauses } from '../../bench/cpu.js';
import { medianGc, renderGc, summarize, type BenchReport } from '../../bench/report.js';

/** Short-lived garbage, enough for the young generation to be collected several times. */
function makeGarbage(megabytes: number): number {
  let kept = 0;
  for (let i = 0; i < megabytes * 64; i++) {
    const chunk = Array.from({ length: 1024 }, (_, k) => ({ k, s: `x${k}` }));
    kept += chunk.length;
  }
  return kept;
}

/** Node reports a collection's entry on a later turn of the event loop (as it does during a bench phase). */
async function turns(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setTimeout(resolve, 20));
}

describe('bench: main-thread GC pauses', () => {
  it('counts the pauses of the garbage made while it watches, the longest within the total', async () => {
    const watch = new GcWatch();
    expect(makeGarbage(200)).toBeGreaterThan(0);
    await turns();
    const gc = watch.stop();
    expect(gc.count).toBeGreaterThan(0);
    expect(gc.total_ms).toBeGreaterThan(0);
    expect(gc.longest_ms).toBeGreaterThan(0);
    expect(gc.longest_ms).toBeLessThanOrEqual(gc.total_ms);
    expect(gc.minor_ms).toBeLessThanOrEqual(gc.total_ms);
    expect(gc.minor_ms).toBeGreaterThan(0); // short-lived objects: scavenges
    expect(gc.share_pct).toBeGreaterThan(0);
    expect(gc.share_pct).toBeLessThanOrEqual(100);
  });

  it('is part of a phase\'s CPU share', async () => {
    const probe = new CpuProbe({});
    makeGarbage(100);
    await turns();
    const share = probe.stop();
    expect(share.gc?.count).toBeGreaterThan(0);
  });

  it('prints each vafa phase\'s medians, the scorer\'s steady phase apart, and nothing for a phase without pauses or figures', () => {
    const gc = (count: number, longest: number): GcPauses => ({ count, total_ms: count * 10, share_pct: count / 10, longest_ms: longest, minor_ms: count * 8 });
    const measurements = summarize({
      core_publish: [{ events: 1000, seconds: 1 }],
      pull_consume: [{ events: 1000, seconds: 1 }],
      http_batch: [{ events: 100, seconds: 1, cpu: { gc: gc(10, 5) } }, { events: 100, seconds: 1, cpu: { gc: gc(30, 9) } }, { events: 100, seconds: 1, cpu: { gc: gc(20, 7) } }],
      scorer: [{ events: 100, seconds: 1, cpu: { gc: gc(40, 150) }, extra: { steady: { cpu: { gc: gc(12, 60) } } } }],
      http_single: [{ events: 100, seconds: 1 }],
      iso8583: [{ events: 100, seconds: 1, cpu: { gc: gc(0, 0) } }],
    }, {});
    const batch = measurements.find((m) => m.id === 'http_batch')!;
    expect(medianGc(batch.repeats.map((x) => x.cpu))).toEqual(gc(20, 7));
    const lines = renderGc({ measurements } as BenchReport).split('\n');
    const cells = (name: string): string[] | undefined => lines.find((l) => l.startsWith(`${name}  `))?.split(/\s{2,}/).slice(1);
    expect(cells(batch.name)).toEqual(['20', '2.0', '7.00', '160']);
    const scorer = measurements.find((m) => m.id === 'scorer')!;
    expect(cells(scorer.name)).toEqual(['40', '4.0', '150', '320']);
    expect(cells(`${scorer.name}, steady phase`)).toEqual(['12', '1.2', '60.0', '96.0']);
    for (const id of ['http_single', 'iso8583']) expect(lines.some((l) => l.startsWith(measurements.find((m) => m.id === id)!.name)), id).toBe(false);
    expect(renderGc({ measurements: summarize({ http_single: [{ events: 1, seconds: 1 }] }, {}) } as BenchReport)).toBe('');
  });
});
