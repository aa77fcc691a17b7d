import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createBank, readHistory, writeHistory } from '../../simulator/mod.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('simulator: labelled history', () => {
  for (const gzip of [false, true]) {
    it(`writes and streams back profiles, events and labels${gzip ? ' (gzip)' : ''}`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'vafa-sim-'));
      dirs.push(dir);
      const bank = createBank({ seed: 8, customers: 150, start: new Date('2025-01-01T00:00:00Z'), days: 45 });
      const meta = await writeHistory(bank, dir, { gzip });
      const ext = gzip ? '.ndjson.gz' : '.ndjson';
      expect((await readdir(dir)).sort()).toEqual([`events${ext}`, `labels${ext}`, 'meta.json', `profiles${ext}`]);

      const h = await readHistory(dir);
      expect(h.meta).toEqual(meta);
      expect(await collect(h.profiles())).toEqual(bank.profiles());
      const events = await collect(h.events());
      expect(events).toEqual([...bank.events()]);
      expect(meta.counts.transactions + meta.counts.redemptions + meta.counts.feedback).toBe(events.length);
      expect(meta.counts.feedback).toBe(events.filter((e) => e.kind === 'feedback').length);
      expect(meta.counts.feedback).toBeGreaterThan(0);
      const labels = await collect(h.labels());
      expect(labels).toHaveLength(150);
      const truth = bank.truth();
      for (const l of labels) {
        const t = truth.get(l.customer_id)!;
        expect(l).toEqual({ customer_id: l.customer_id, churned: t.churned, churn_at: t.churn_at ?? null, opened_at: t.opened_at, reactivated_at: t.reactivated_at ?? null, hazard: t.hazard });
      }
    });
  }

  it('names a missing file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vafa-sim-'));
    dirs.push(dir);
    await expect(readHistory(dir)).rejects.toThrow(/profiles\.ndjson/);
  });
});
