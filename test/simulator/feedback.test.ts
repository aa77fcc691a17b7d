import { describe, expect, it } from 'vitest';
import type { FeedbackV1, TransactionV1 } from '../../contracts/events.js';
import { IngestService } from '../../ingest/service.js';
import type { Publisher } from '../../platform/publisher.js';
import { createBank, NPS_CAMPAIGN, VISIT_CAMPAIGN, type SimEvent } from '../../simulator/mod.js';
import { buildChurnDataset, historyMessages, type HistoryEvent } from '../../training/dataset.js';

const DAY = 86_400_000;
const start = new Date('2025-01-01T00:00:00Z');
const ingest = new IngestService({ publisher: {} as Publisher, partitions: 8, tokenKey: 'test-key' });

const feedbackOf = (events: Iterable<SimEvent>): FeedbackV1[] => [...events].flatMap((e) => (e.kind === 'feedback' ? [e.body] : []));

describe('simulator: feedback events', () => {
  const bank = createBank({ seed: 21, customers: 1200, start, days: 120, feedback: 5 });
  const events = [...bank.events()];
  const feedback = feedbackOf(events);
  const byKind = (k: FeedbackV1['kind']): FeedbackV1[] => feedback.filter((f) => f.kind === k);

  it('are valid for the API (schema and the feedback rules), with ids F<prefix>-<n>', () => {
    expect(byKind('complaint').length).toBeGreaterThan(50);
    expect(byKind('resolution').length).toBeGreaterThan(30);
    expect(byKind('survey').length).toBeGreaterThan(100);
    expect(byKind('compliment').length).toBeGreaterThan(0);
    const ids = new Set<string>();
    for (const f of feedback) {
      const r = ingest.prepare('feedback', f, new Date());
      if (!r.ok) expect.fail(`${JSON.stringify(f)}: ${JSON.stringify(r.errors)}`);
      expect(f.feedback_id).toMatch(new RegExp(`^F${bank.options.feedbackIdPrefix}-\\d+$`));
      expect(ids.has(f.feedback_id)).toBe(false);
      ids.add(f.feedback_id);
      // Free text from templates: nothing personal, no numbers at all (so no card or account numbers).
      if (f.text !== undefined) expect(f.text).not.toMatch(/\d/);
    }
  });

  it('resolve earlier complaints of the same customer, most of them, hours to days later', () => {
    const complaints = new Map(byKind('complaint').map((c) => [c.feedback_id, c]));
    const resolved = new Set<string>();
    const hours: number[] = [];
    for (const r of byKind('resolution')) {
      const c = complaints.get(r.resolves_feedback_id!);
      expect(c, `resolution ${r.feedback_id} names no complaint`).toBeDefined();
      expect(c!.customer_id).toBe(r.customer_id);
      expect(resolved.has(c!.feedback_id)).toBe(false);
      resolved.add(c!.feedback_id);
      expect(r.channel).toBe(c!.channel);
      expect(r.branch_id).toBe(c!.branch_id);
      const h = (Date.parse(r.occurred_at) - Date.parse(c!.occurred_at)) / 3_600_000;
      expect(h).toBeGreaterThan(0);
      expect(h).toBeLessThanOrEqual(56 * 24);
      hours.push(h);
    }
    // Complaints of the last weeks may still be open at the end of the data: count those of the first 90 days.
    const early = [...complaints.values()].filter((c) => Date.parse(c.occurred_at) < start.getTime() + 90 * DAY);
    const share = early.filter((c) => resolved.has(c.feedback_id)).length / early.length;
    expect(share).toBeGreaterThan(0.7);
    expect(share).toBeLessThan(0.95);
    hours.sort((a, b) => a - b);
    const median = hours[Math.floor(hours.length / 2)]!;
    expect(median).toBeGreaterThan(8);
    expect(median).toBeLessThan(96);
  });

  it('tie complaints to where the bad experience happened', () => {
    const complaints = byKind('complaint');
    const atm = complaints.filter((c) => c.channel === 'atm');
    expect(atm.length).toBeGreaterThan(0);
    for (const c of atm) expect(c.branch_id).toMatch(/^BR\d{2}$/);
    const channels = new Set(complaints.map((c) => c.channel ?? 'none'));
    expect(channels.size).toBeGreaterThanOrEqual(4);
    // A decline complaint follows a declined transaction of the same customer on that channel within 3 days.
    const declines = new Map<string, TransactionV1[]>();
    for (const e of events) {
      if (e.kind !== 'transaction' || e.body.status !== 'declined') continue;
      const list = declines.get(e.body.customer_id) ?? [];
      list.push(e.body);
      declines.set(e.body.customer_id, list);
    }
    const afterDecline = complaints.filter((c) => c.text?.match(/declined|refused|rejected|failed|did not give/i) && c.channel && c.channel !== 'online');
    expect(afterDecline.length).toBeGreaterThan(20);
    for (const c of afterDecline) {
      const t = Date.parse(c.occurred_at);
      const cause = (declines.get(c.customer_id) ?? []).find((d) => d.channel === c.channel && Date.parse(d.occurred_at) <= t && t - Date.parse(d.occurred_at) <= 3 * DAY);
      expect(cause, `no decline before ${JSON.stringify(c)}`).toBeDefined();
    }
  });

  it('include the bank\'s own surveys: a quarterly relationship NPS and a CSAT after branch visits', () => {
    const surveys = byKind('survey');
    const nps = surveys.filter((s) => s.campaign_id === NPS_CAMPAIGN);
    const csat = surveys.filter((s) => s.campaign_id === VISIT_CAMPAIGN);
    expect(nps.length).toBeGreaterThan(10);
    expect(csat.length).toBeGreaterThan(100);
    for (const s of nps) expect(s.scale).toBe('nps10');
    for (const s of csat) {
      expect(s.scale).toBe('csat5');
      expect(s.branch_id).toMatch(/^BR\d{2}$/);
      expect(['deposit', 'bill_pay', 'installment']).toContain(s.channel);
    }
    expect(new Set(nps.map((s) => s.score)).size).toBeGreaterThan(5);
    expect(new Set(csat.map((s) => s.score))).toEqual(new Set([1, 2, 3, 4, 5]));
  });

  it('are the same for the same options, none at feedback 0, and never change the other events', () => {
    const key = (e: SimEvent): string => JSON.stringify(e);
    const opts = { seed: 22, customers: 400, start, days: 60 };
    const many = [...createBank({ ...opts, feedback: 10 }).events()];
    expect(many.filter((e) => e.kind === 'feedback').length).toBeGreaterThan(100);
    expect([...createBank({ ...opts, feedback: 10 }).events()].map(key)).toEqual(many.map(key));
    const off = [...createBank({ ...opts, feedback: 0 }).events()];
    expect(off.some((e) => e.kind === 'feedback')).toBe(false);
    expect(off.map(key)).toEqual(many.filter((e) => e.kind !== 'feedback').map(key));
    const one = createBank(opts);
    expect(one.options.idPrefix).toBe(createBank({ ...opts, feedback: 10 }).options.idPrefix);
    expect(one.options.feedbackIdPrefix).toBe(one.options.idPrefix);
    expect(bank.options.feedbackIdPrefix).not.toBe(bank.options.idPrefix);
    expect(() => createBank({ seed: 1, customers: 1, start, days: 1, feedback: -1 })).toThrow(/feedback/);
  });

  it('lower satisfaction with a decline, as the pass reaches it', () => {
    const stream = createBank({ seed: 21, customers: 300, start, days: 30 }).events();
    let seen = 0;
    let pending: { id: string; at: number; before: number } | undefined;
    for (const e of stream) {
      if (pending) {
        expect(stream.satisfaction(pending.id, pending.at)!).toBeLessThan(pending.before - 0.02);
        pending = undefined;
        if (++seen >= 20) break;
      }
      if (e.kind === 'transaction' && e.body.status === 'declined') {
        const at = Date.parse(e.body.occurred_at);
        pending = { id: e.body.customer_id, at, before: stream.satisfaction(e.body.customer_id, at)! };
      }
    }
    expect(seen).toBe(20);
    expect(stream.satisfaction('C999999')).toBeUndefined();
    expect(stream.satisfaction('nobody')).toBeUndefined();
  });
});

describe('simulator: satisfaction, complaints and churn', () => {
  it('has realistic rates at feedback 1: complaints per customer-year, CSAT, NPS', () => {
    const bank = createBank({ seed: 5, customers: 1500, start, days: 365 });
    const end = bank.options.end.getTime();
    let years = 0;
    for (const t of bank.truth().values()) {
      const from = Math.max(start.getTime(), Date.parse(t.opened_at));
      const to = Math.min(end, t.churn_at ? Date.parse(t.churn_at) : end);
      if (to > from) years += (to - from) / (365 * DAY);
    }
    const feedback = feedbackOf(bank.events());
    const perHundred = (k: FeedbackV1['kind']): number => (100 * feedback.filter((f) => f.kind === k).length) / years;
    const csat = feedback.filter((f) => f.scale === 'csat5').map((f) => f.score!);
    const nps = feedback.filter((f) => f.scale === 'nps10').map((f) => f.score!);
    const csatShare = csat.filter((s) => s >= 4).length / csat.length;
    const npsValue = (100 * (nps.filter((s) => s >= 9).length - nps.filter((s) => s <= 6).length)) / nps.length;
    console.log(`per 100 customer-years: complaints ${perHundred('complaint').toFixed(1)}, compliments ${perHundred('compliment').toFixed(1)}; CSAT ${(100 * csatShare).toFixed(0)} % of ${csat.length}, NPS ${npsValue.toFixed(0)} of ${nps.length}`);
    expect(perHundred('complaint')).toBeGreaterThan(4);
    expect(perHundred('complaint')).toBeLessThan(14);
    expect(perHundred('compliment')).toBeLessThan(perHundred('complaint') / 5);
    expect(csatShare).toBeGreaterThan(0.65);
    expect(csatShare).toBeLessThan(0.9);
    expect(npsValue).toBeGreaterThan(-15);
    expect(npsValue).toBeLessThan(45);
  });

  it('has customers about to leave and customers with many declines complain more: complaints carry churn signal', () => {
    const bank = createBank({ seed: 9, customers: 2500, start, days: 365, feedback: 3 });
    const truth = bank.truth();
    const end = bank.options.end.getTime();
    const complaints = new Map<string, number[]>();
    const declines = new Map<string, number>();
    const scores = new Map<string, number[]>();
    for (const e of bank.events()) {
      const id = e.body.customer_id;
      if (e.kind === 'transaction' && e.body.status === 'declined') declines.set(id, (declines.get(id) ?? 0) + 1);
      if (e.kind !== 'feedback') continue;
      if (e.body.kind === 'complaint') complaints.set(id, [...(complaints.get(id) ?? []), Date.parse(e.body.occurred_at)]);
      if (e.body.scale === 'csat5') scores.set(id, [...(scores.get(id) ?? []), e.body.score!]);
    }
    const churns = (id: string): boolean => {
      const t = truth.get(id)!;
      return t.churn_at !== undefined && Date.parse(t.churn_at) < end + 90 * DAY;
    };
    const rate = (ids: string[]): number => ids.filter(churns).length / ids.length;
    const ids = [...truth.keys()].filter((id) => Date.parse(truth.get(id)!.opened_at) < end);
    const complainers = ids.filter((id) => complaints.has(id));
    const others = ids.filter((id) => !complaints.has(id));
    console.log(`churn: complainers ${(100 * rate(complainers)).toFixed(1)} % of ${complainers.length}, others ${(100 * rate(others)).toFixed(1)} % of ${others.length}`);
    expect(complainers.length).toBeGreaterThan(150);
    expect(rate(complainers)).toBeGreaterThan(1.5 * rate(others));

    // Complaints per customer-day in the 90 days before churn against the rest of the exposure.
    let inWindow = 0;
    let inDays = 0;
    let outside = 0;
    let outDays = 0;
    for (const id of ids) {
      const t = truth.get(id)!;
      const from = Math.max(start.getTime(), Date.parse(t.opened_at));
      const churn = t.churn_at ? Date.parse(t.churn_at) : Infinity;
      const to = Math.min(end, churn);
      if (to <= from) continue;
      const w = Math.max(from, churn - 90 * DAY);
      inDays += Math.max(0, to - w) / DAY;
      outDays += Math.max(0, Math.min(to, w) - from) / DAY;
      for (const c of complaints.get(id) ?? []) if (c >= w) inWindow++;
      else outside++;
    }
    const before = inWindow / inDays;
    const otherwise = outside / outDays;
    console.log(`complaints per 100 customer-years: 90 days before churn ${(36_500 * before).toFixed(0)}, otherwise ${(36_500 * otherwise).toFixed(0)}`);
    expect(before).toBeGreaterThan(2.5 * otherwise);

    // The tenth of customers with the most declines complain at least twice as often as the rest.
    const ranked = ids.filter((id) => declines.has(id)).sort((a, b) => declines.get(b)! - declines.get(a)!);
    const top = ranked.slice(0, Math.floor(ranked.length / 10));
    const rest = ranked.slice(top.length);
    const complainShare = (xs: string[]): number => xs.filter((id) => complaints.has(id)).length / xs.length;
    expect(complainShare(top)).toBeGreaterThan(2 * complainShare(rest));

    // Complainers answer surveys less happily.
    const mean = (xs: string[]): number => {
      const all = xs.flatMap((id) => scores.get(id) ?? []);
      return all.reduce((a, b) => a + b, 0) / all.length;
    };
    expect(mean(complainers)).toBeLessThan(mean(others) - 0.2);
  });

  it('reach the training data: the replay through the scorer core counts complaints', async () => {
    const bank = createBank({ seed: 4, customers: 100, start, days: 75, feedback: 30 });
    const built = await buildChurnDataset(historyMessages(bank.profiles(), bank.events() as Iterable<HistoryEvent>), bank.truth(), { partitions: 2, warmupDays: 30 });
    const d = built.dataset;
    const column = (name: string): number[] => {
      const j = d.features.indexOf(name);
      expect(j, name).toBeGreaterThanOrEqual(0);
      return Array.from({ length: d.y.length }, (_, i) => d.x[i * d.features.length + j]!);
    };
    expect(column('complaints_90d').filter((v) => v > 0).length).toBeGreaterThan(5);
    expect(column('open_complaints').some((v) => v > 0)).toBe(true);
  });
});
