import { describe, expect, it } from 'vitest';
import { createBank } from '../../simulator/mod.js';

const DAY = 86_400_000;
const start = new Date('2025-03-21T00:00:00Z');
const STICKY = ['debit_card', 'bill_pay', 'online_banking', 'direct_deposit'];

describe('simulator: churn ground truth', () => {
  // Truth needs no events: a large population is cheap.
  const bank = createBank({ seed: 2024, customers: 10_000, start, days: 365 });
  const truth = bank.truth();
  const profiles = bank.profiles();
  const end = bank.options.end.getTime();

  it('has 20–25 % of the year’s new customers churn in their first year, about half of them within 90 days', () => {
    let fresh = 0;
    let firstYear = 0;
    let within90 = 0;
    for (const t of truth.values()) {
      const opened = Date.parse(t.opened_at);
      if (opened < start.getTime()) continue;
      fresh++;
      if (!t.churn_at) continue;
      const after = Date.parse(t.churn_at) - opened;
      if (after < 365 * DAY) firstYear++;
      if (after <= 90 * DAY) within90++;
    }
    const share = firstYear / fresh;
    const early = within90 / firstYear;
    console.log(`first-year churn ${(share * 100).toFixed(1)} % of ${fresh} new customers; ${(early * 100).toFixed(1)} % of it within 90 days`);
    expect(fresh).toBeGreaterThan(3000);
    expect(share).toBeGreaterThanOrEqual(0.2);
    expect(share).toBeLessThanOrEqual(0.25);
    expect(early).toBeGreaterThan(0.4);
    expect(early).toBeLessThan(0.6);
  });

  it('has established customers churn at 5–8 % a year, and a few per cent of churners come back', () => {
    let established = 0;
    let churned = 0;
    let churners = 0;
    let back = 0;
    for (const t of truth.values()) {
      if (t.churned) churners++;
      if (t.reactivated_at) {
        back++;
        expect(t.reactivated_at > t.churn_at!).toBe(true);
      }
      if (Date.parse(t.opened_at) >= start.getTime() - 365 * DAY) continue;
      established++;
      if (t.churn_at && Date.parse(t.churn_at) < end) churned++;
    }
    const annual = churned / established;
    console.log(`established churn ${(annual * 100).toFixed(1)} %/year; win-back ${((back / churners) * 100).toFixed(1)} % of ${churners} churners`);
    expect(annual).toBeGreaterThanOrEqual(0.05);
    expect(annual).toBeLessThanOrEqual(0.08);
    expect(back / churners).toBeGreaterThan(0.01);
    expect(back / churners).toBeLessThan(0.1);
  });

  it('has holders of sticky products churn less', () => {
    const rate = (pred: (n: number) => boolean): number => {
      let n = 0;
      let c = 0;
      for (const p of profiles) {
        const sticky = STICKY.filter((s) => p.products!.includes(s)).length;
        if (!pred(sticky)) continue;
        n++;
        const t = truth.get(p.customer_id)!;
        if (t.churn_at && Date.parse(t.churn_at) < end) c++;
      }
      return c / n;
    };
    const few = rate((s) => s <= 1);
    const many = rate((s) => s >= 3);
    console.log(`churn within the span: ≤ 1 sticky product ${(few * 100).toFixed(1)} %, ≥ 3 sticky products ${(many * 100).toFixed(1)} %`);
    expect(many).toBeLessThan(few * 0.7);
  });
});

describe('simulator: behaviour around churn', () => {
  const bank = createBank({ seed: 99, customers: 1000, start, days: 365 });
  const truth = bank.truth();
  const spanStart = start.getTime();
  const end = bank.options.end.getTime();
  const days = bank.options.days;
  const daily = new Map<string, Uint16Array>();
  const gone: string[] = [];
  for (const ev of bank.events()) {
    // The bank may still answer a complaint after the customer left: that is not the customer's activity.
    if (ev.kind === 'feedback' && ev.body.kind === 'resolution') continue;
    const id = ev.body.customer_id;
    const t = Date.parse(ev.body.occurred_at!);
    let a = daily.get(id);
    if (!a) daily.set(id, (a = new Uint16Array(days)));
    a[Math.floor((t - spanStart) / DAY)]!++;
    const tr = truth.get(id)!;
    if (tr.churn_at && ev.body.occurred_at! >= tr.churn_at && !(tr.reactivated_at && ev.body.occurred_at! >= tr.reactivated_at)) gone.push(id);
  }

  it('has no activity between churn and win-back', () => {
    expect(gone).toEqual([]);
  });

  it('has most churners less active in the 30 days before churn than before', () => {
    let compared = 0;
    let faded = 0;
    for (const [id, t] of truth) {
      if (!t.churn_at) continue;
      const churnDay = Math.floor((Date.parse(t.churn_at) - spanStart) / DAY);
      const firstDay = Math.max(0, Math.ceil((Date.parse(t.opened_at) - spanStart) / DAY));
      if (Date.parse(t.churn_at) >= end || churnDay - 30 - firstDay < 60) continue;
      const a = daily.get(id) ?? new Uint16Array(days);
      let before = 0;
      for (let d = firstDay; d < churnDay - 30; d++) before += a[d]!;
      let last = 0;
      for (let d = churnDay - 30; d < churnDay; d++) last += a[d]!;
      compared++;
      if (last / 30 < before / (churnDay - 30 - firstDay)) faded++;
    }
    console.log(`activity fell before churn for ${faded} of ${compared} churners`);
    expect(compared).toBeGreaterThan(30);
    expect(faded / compared).toBeGreaterThan(0.8);
  });

  it('keeps churners who came back active again', () => {
    let checked = 0;
    for (const [id, t] of truth) {
      if (!t.reactivated_at || Date.parse(t.reactivated_at) >= end - 30 * DAY) continue;
      const from = Math.floor((Date.parse(t.reactivated_at) - spanStart) / DAY);
      const a = daily.get(id)!;
      let after = 0;
      for (let d = from; d < days; d++) after += a[d]!;
      expect(after).toBeGreaterThan(0);
      checked++;
    }
    expect(checked).toBeGreaterThan(0);
  });
});
