import { describe, expect, it } from 'vitest';
import { createProgress, formatProgress, type FeederProgress } from '../../simulator/mod.js';

const p = (sent: number, seconds: number): FeederProgress => ({
  phase: 'events', sent, accepted: sent - 3, duplicates: 0, invalid: 1, failed: 2, seconds, eventsPerSecond: sent / seconds, eventTime: '2025-04-01T10:15:00.000Z',
});

function fakeStream(isTTY: boolean): { stream: NodeJS.WritableStream & { isTTY: boolean }; out: string[] } {
  const out: string[] = [];
  const stream = { isTTY, write: (s: string) => (out.push(s), true) } as unknown as NodeJS.WritableStream & { isTTY: boolean };
  return { stream, out };
}

describe('simulator: progress line', () => {
  it('formats the figures a human wants', () => {
    expect(formatProgress(p(12_000, 6))).toBe('events sent 12,000 · 2,000/s · accepted 11,997 · invalid 1 · failed 2 · 00:06.0 · event time 2025-04-01 10:15Z');
    expect(formatProgress({ ...p(12_000, 6), feedback: 0 })).toBe(formatProgress(p(12_000, 6)));
    expect(formatProgress({ ...p(12_000, 6), feedback: 1234 })).toContain(' · failed 2 · feedback 1,234 · 00:06.0');
    expect(formatProgress({ ...p(12_000, 6), feedback: 41, answers: 3 })).toContain(' · feedback 41 · answers 3 · 00:06.0');
  });

  it('redraws at most 5 times a second on a terminal', () => {
    let now = 0;
    const { stream, out } = fakeStream(true);
    const progress = createProgress({ stream, now: () => now });
    for (let i = 0; i < 100; i++) {
      now = i * 20;
      progress.update(p(i * 10 + 1, 1 + i / 50));
    }
    expect(out).toHaveLength(10);
    expect(out.every((s) => s.startsWith('\r\x1b[2K'))).toBe(true);
    progress.done(p(1000, 2));
    expect(out.at(-1)!.startsWith('\r\x1b[2Kevents sent 1,000 ')).toBe(true);
    expect(out.at(-1)!.endsWith('\n')).toBe(true);
  });

  it('prints only the final line when not a terminal', () => {
    const { stream, out } = fakeStream(false);
    const progress = createProgress({ stream });
    for (let i = 0; i < 10; i++) progress.update(p(i + 1, 1));
    progress.done(p(10, 1));
    expect(out).toEqual([`${formatProgress(p(10, 1))}\n`]);
  });
});
