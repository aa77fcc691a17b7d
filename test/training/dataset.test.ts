// History → labelled data set through the scorer core.
import { describe, expect, it } from 'vitest';
import type { TxMessage } from '../../contracts/events.js';
import { createBank } from '../../simulator/mod.js';
import { buildChurnDataset, historyMessages, nextMonthStart, type HistoryEvent } from '../../training/dataset.js';
import { MODEL_FEATURE_NAMES } from '../../contracts/features.js';

const DAY = 86_400_000;
const bank = createBank({ seed: 11, customers: 40, start: new Date('2025-01-01T00:00:00Z'), days: 130 });
const truth = bank.truth();

async function messages(): Promise<TxMessage[]> {
  const out: TxMessage[] = [];
  for await (const m of historyMessages(bank.profiles(), bank.events() as Iterable<HistoryEvent>)) out.push(m);
  return out;
}

describe('historyMessages', () => {
  it('keeps the events in order and puts every profile once, before the customer\'s first event', async () => {
    const msgs = await messages();
    const events = [...bank.events()];
    expect(msgs.filter((m) => m.kind !== 'profile').map((m) => m.body)).toEqual(events.map((e) => e.body));
    const seen = new Set<string>();
    const start = bank.options.start.getTime();
    for (const m of msgs) {
      if (m.kind === 'profile') {
        expect(seen.has(m.body.customer_id)).toBe(false);
        expect('cards' in m.body).toBe(false);
        seen.add(m.body.customer_id);
        const opened = Date.parse(m.body.opened_at);
        if (opened >= start) {
          // a customer opening during the history: no event at or after the opening comes before the profile
          const idx = msgs.indexOf(m);
          expect(msgs.slice(0, idx).some((x) => x.kind !== 'profile' && Date.parse(x.body.occurred_at ?? '') > opened)).toBe(false);
        }
      } else {
        expect(seen.has(m.body.customer_id), `event of ${m.body.customer_id} before its profile`).toBe(true);
      }
    }
    expect(seen.size).toBe(bank.profiles().length);
  });
});

describe('buildChurnDataset', () => {
  it('labels month-boundary snapshots from the truth, leaves out the gone, and does not depend on the partitioning', async () => {
    const msgs = await messages();
    const a = await buildChurnDataset(msgs, truth, { partitions: 1, warmupDays: 30 });
    const b = await buildChurnDataset(msgs, truth, { partitions: 8, warmupDays: 30 });
    const d = a.dataset;
    expect(d.features).toEqual([...MODEL_FEATURE_NAMES]);
    expect(a.observations).toEqual([Date.UTC(2025, 1, 1), Date.UTC(2025, 2, 1), Date.UTC(2025, 3, 1), Date.UTC(2025, 4, 1)]);
    expect(a.observations[0]).toBe(nextMonthStart(Date.UTC(2025, 0, 1) + 29 * DAY));
    expect(d.y.length).toBeGreaterThan(100);
    for (let i = 0; i < d.y.length; i++) {
      const t = truth.get(a.customers[i]!)!;
      const at = d.time[i]!;
      const churn = t.churn_at ? Date.parse(t.churn_at) : Infinity;
      const back = t.reactivated_at ? Date.parse(t.reactivated_at) : Infinity;
      expect(Date.parse(t.opened_at)).toBeLessThanOrEqual(at);
      expect(churn > at || back <= at).toBe(true);
      expect(d.y[i]).toBe(churn > at && churn <= at + 90 * DAY ? 1 : 0);
    }
    // Features are a function of each customer's own events: the partitioning changes nothing.
    const key = (x: typeof a, i: number): string => `${x.customers[i]}@${x.dataset.time[i]}`;
    const rowsB = new Map(b.customers.map((_, i) => [key(b, i), i]));
    const nf = d.features.length;
    expect(b.dataset.y.length).toBe(d.y.length);
    for (let i = 0; i < d.y.length; i++) {
      const j = rowsB.get(key(a, i))!;
      expect(Array.from(b.dataset.x.subarray(j * nf, (j + 1) * nf))).toEqual(Array.from(d.x.subarray(i * nf, (i + 1) * nf)));
    }
  });
});
