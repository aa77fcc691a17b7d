// Streaming features: windows, late events, reversals, channel mix, bounded memory, catalogue.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { FeedbackV1, StoredProfileV1, TransactionV1 } from '../../contracts/events.js';
import { Engine } from '../../scorer/core/engine.js';
import {
  FEATURE_CATALOGUE, FEATURE_NAMES, MODEL_FEATURE_NAMES, featureVector, featuresOnFeedback, featuresOnTransaction, isFeature,
} from '../../scorer/core/features/engine.js';
import { B_APPROVED, B_COMPLAINTS, B_DECLINES, B_INFLOW, B_OUT_COUNT, B_SPEND, B_VISITS, BUCKET_WIDTH, DAY_TIER_DAYS, WEEK_SUMS } from '../../scorer/core/features/state.js';
import { getCustomer, newPartitionState, type CustomerState } from '../../scorer/core/state.js';
import { DAY_MS, Emit, type Ctx } from '../../scorer/core/types.js';
import { defaultEngineConfig } from '../../config/policy.js';

const T0 = Date.UTC(2026, 0, 1, 12); // noon, so ±hours stay within the day
const HOUR = 3_600_000;

function customer(): CustomerState {
  return getCustomer(newPartitionState(0), 'C1');
}

let n = 0;
function tx(at: number, extra: Partial<TransactionV1> = {}): TransactionV1 {
  return { tx_id: `T${n++}`, customer_id: 'C1', channel: 'pos', amount_minor: 1000, currency: 'IRR', occurred_at: new Date(at).toISOString(), status: 'approved', ...extra };
}

/** Applies in order with the watermark trailing the largest event time by `lateness`. */
function feed(c: CustomerState, txs: TransactionV1[], lateness = HOUR): { folded: boolean[] } {
  let max = 0;
  const folded: boolean[] = [];
  for (const t of txs) {
    const at = Date.parse(t.occurred_at);
    max = Math.max(max, at);
    const ctx: Ctx = { seq: n, partition: 0, at, watermark: max - lateness };
    folded.push(featuresOnTransaction(c, t, ctx));
  }
  return { folded };
}

describe('feature catalogue', () => {
  it('featureVector returns every catalogue name, in catalogue order, all finite numbers', () => {
    const c = customer();
    expect(Object.keys(featureVector(c, T0))).toEqual(FEATURE_NAMES);
    feed(c, [tx(T0), tx(T0 + DAY_MS, { channel: 'deposit' })]);
    const v = featureVector(c, T0 + 2 * DAY_MS);
    expect(Object.keys(v)).toEqual(FEATURE_NAMES);
    for (const [k, x] of Object.entries(v)) expect(Number.isFinite(x), k).toBe(true);
  });

  it('names are unique, described, with units; diagnostics are not model features', () => {
    expect(new Set(FEATURE_NAMES).size).toBe(FEATURE_NAMES.length);
    for (const f of FEATURE_CATALOGUE) {
      expect(f.description.length).toBeGreaterThan(10);
      expect(f.unit.length).toBeGreaterThan(0);
    }
    expect(MODEL_FEATURE_NAMES).not.toContain('late_events');
    expect(isFeature('recency_days')).toBe(true);
    expect(isFeature('amount_30d')).toBe(false);
  });

  it('docs/features.md documents every feature', () => {
    const doc = readFileSync(new URL('../../docs/features.md', import.meta.url), 'utf8');
    for (const f of FEATURE_NAMES) expect(doc, f).toContain(`\`${f}\``);
  });

  it('tier order follows the shipped loyalty rules', () => {
    expect(defaultEngineConfig().features.tiers).toEqual(defaultEngineConfig().loyalty.timeline.latest.rules.tiers.map((t) => t.id));
  });
});

describe('windows', () => {
  it('counts each event in the calendar-day windows that contain it (today and the N − 1 days before)', () => {
    const c = customer();
    const ages = [0, 6, 7, 29, 30, 89, 90, 200, 364, 365];
    feed(c, ages.slice().reverse().map((d) => tx(T0 - d * DAY_MS, { amount_minor: 100 + d })));
    const v = featureVector(c, T0);
    expect(v.tx_count_7d).toBe(2); // 0, 6
    expect(v.tx_count_30d).toBe(4); // + 7, 29
    expect(v.tx_count_90d).toBe(6); // + 30, 89
    expect(v.spend_7d_minor).toBe(100 + 106);
    expect(v.spend_90d_minor).toBe([0, 6, 7, 29, 30, 89].reduce((s, d) => s + 100 + d, 0));
    // 365 days: the day tier exactly, beyond it whole weeks whose first day is within the window.
    expect(v.tx_count_365d).toBeGreaterThanOrEqual(8);
    expect(v.tx_count_365d).toBeLessThanOrEqual(9);
    expect(v.active_days_30d).toBe(4);
    expect(v.active_days_90d).toBe(6);
  });

  it('windows slide with the evaluation time, without new events', () => {
    const c = customer();
    feed(c, [tx(T0), tx(T0 + DAY_MS)]);
    expect(featureVector(c, T0 + DAY_MS).tx_count_7d).toBe(2);
    expect(featureVector(c, T0 + 7 * DAY_MS).tx_count_7d).toBe(1);
    expect(featureVector(c, T0 + 8 * DAY_MS).tx_count_7d).toBe(0);
    expect(featureVector(c, T0 + 8 * DAY_MS).tx_count_30d).toBe(2);
    expect(featureVector(c, T0 + 10 * DAY_MS).recency_days).toBeCloseTo(9, 10);
  });

  it('recency per channel, sentinel 730 for never; declines count as visits, not as spend', () => {
    const c = customer();
    feed(c, [tx(T0, { channel: 'atm' }), tx(T0 + 2 * DAY_MS, { channel: 'online', status: 'declined', amount_minor: 5000 })]);
    const v = featureVector(c, T0 + 3 * DAY_MS);
    expect(v.recency_days).toBeCloseTo(1, 10);
    expect(v.recency_atm_days).toBeCloseTo(3, 10);
    expect(v.recency_online_days).toBeCloseTo(1, 10);
    expect(v.recency_fuel_days).toBe(730);
    expect(v.tx_count_30d).toBe(1);
    expect(v.spend_30d_minor).toBe(1000);
    expect(v.declines_30d).toBe(1);
    expect(v.decline_rate_90d).toBe(0.5);
  });

  it('deposits are inflow, not spend; the average ticket is over outgoing transactions', () => {
    const c = customer();
    feed(c, [tx(T0, { channel: 'deposit', amount_minor: 9000 }), tx(T0 + HOUR, { amount_minor: 300 }), tx(T0 + 2 * HOUR, { channel: 'bill_pay', amount_minor: 700 })]);
    const v = featureVector(c, T0 + 3 * HOUR);
    expect(v.inflow_90d_minor).toBe(9000);
    expect(v.spend_90d_minor).toBe(1000);
    expect(v.avg_ticket_90d_minor).toBe(500);
    expect(v.tx_count_90d).toBe(3);
  });

  it('interval mean and trend over active days; the activity trend compares the last 30 days with the 60 before', () => {
    const c = customer();
    // Visits every 2 days for 60 days, then every 10 days.
    const days = [...Array.from({ length: 30 }, (_, i) => i * 2), 70, 80, 90];
    feed(c, days.map((d) => tx(T0 + d * DAY_MS)));
    const v = featureVector(c, T0 + 90 * DAY_MS);
    const active = days.filter((d) => d > 0); // day 0 is 90 days back: outside the 90-day window
    const gaps = active.slice(1).map((d, i) => d - active[i]!);
    expect(v.interval_mean_days).toBeCloseTo(gaps.reduce((a, b) => a + b, 0) / gaps.length, 10);
    expect(v.interval_trend_days).toBeGreaterThan(0);
    expect(v.activity_trend).toBeLessThan(0);
    expect(v.overdue_ratio).toBe(0);
  });

  it('channel mix: decayed shares that sum to 1', () => {
    const c = customer();
    feed(c, [tx(T0, { channel: 'atm' }), tx(T0 + 60 * DAY_MS), tx(T0 + 60 * DAY_MS + HOUR)]);
    const v = featureVector(c, T0 + 61 * DAY_MS);
    const total = ['pos', 'atm', 'bill_pay', 'installment', 'online', 'fuel', 'transfer', 'deposit'].reduce((s, ch) => s + v[`mix_${ch}`]!, 0);
    expect(total).toBeCloseTo(1, 12);
    const atmWeight = Math.exp(-(60 * DAY_MS + HOUR) / (30 * DAY_MS));
    expect(v.mix_atm).toBeCloseTo(atmWeight / (atmWeight + Math.exp(-HOUR / (30 * DAY_MS)) + 1), 12);
  });

  it('sticky products from the profile and from behaviour in the last 90 days', () => {
    const c = customer();
    c.profile = { customer_id: 'C1', opened_at: new Date(T0 - 400 * DAY_MS).toISOString(), products: ['current_account', 'debit_card', 'installment_loan'] };
    feed(c, [tx(T0, { channel: 'bill_pay' }), tx(T0 + HOUR, { channel: 'deposit' }), tx(T0 + 2 * HOUR, { channel: 'deposit', branch_id: 'BR01' })]);
    let v = featureVector(c, T0 + DAY_MS);
    expect([v.has_bill_pay, v.has_online_banking, v.has_debit_card, v.has_direct_deposit, v.has_installments]).toEqual([1, 0, 1, 1, 1]);
    expect(v.sticky_products).toBe(4);
    expect(v.sticky_used_90d).toBe(2);
    expect(v.tenure_days).toBeCloseTo(401, 5);
    v = featureVector(c, T0 + 91 * DAY_MS);
    expect(v.has_bill_pay).toBe(0);
    expect(v.sticky_used_90d).toBe(0);
    expect(v.sticky_products).toBe(2);
  });
});

describe('late events', () => {
  it('folds in an event within the allowed lateness, counts one beyond it', () => {
    const c = customer();
    const { folded } = feed(c, [tx(T0), tx(T0 + 5 * HOUR), tx(T0 + 4.5 * HOUR), tx(T0 + 2 * HOUR)]);
    expect(folded).toEqual([true, true, true, false]);
    const v = featureVector(c, T0 + 6 * HOUR);
    expect(v.tx_count_7d).toBe(3);
    expect(v.late_events).toBe(1);
  });

  it('a late event lands in its own day, even days back (within the lateness bound)', () => {
    const c = customer();
    const lateness = 10 * DAY_MS;
    feed(c, [tx(T0), tx(T0 + 8 * DAY_MS), tx(T0 + 3 * DAY_MS, { amount_minor: 5 })], lateness);
    const v = featureVector(c, T0 + 8 * DAY_MS);
    expect(v.tx_count_7d).toBe(2); // days 8 and 3 (day 0 is outside the 7-day window)
    expect(v.spend_7d_minor).toBe(1005);
    expect(v.tx_count_30d).toBe(3);
    expect(v.active_days_30d).toBe(3);
  });

  it('the engine counts too-late events in stats.late and reports them as late_events in the vector', () => {
    const engine = new Engine(defaultEngineConfig());
    const state = newPartitionState(0);
    let seq = 0;
    const apply = (t: TransactionV1) => {
      const emit = new Emit();
      const p = engine.apply(state, { seq: ++seq, partition: 0, msg: { kind: 'transaction', body: t } }, emit);
      if (p) engine.complete(state, p, undefined, emit);
      return p;
    };
    apply(tx(T0 + 10 * HOUR));
    const late = apply(tx(T0));
    expect(state.stats.late).toBe(1);
    expect(late?.features.late_events).toBe(1);
    expect(late?.features.tx_count_7d).toBe(1);
  });
});

describe('reversals', () => {
  it('a reversal takes the original out of its day', () => {
    const engine = new Engine(defaultEngineConfig());
    const state = newPartitionState(0);
    const orig = tx(T0, { amount_minor: 4000 });
    const rev = tx(T0 + DAY_MS, { amount_minor: 4000, reverses_tx_id: orig.tx_id });
    let last;
    let seq = 0;
    for (const t of [orig, tx(T0 + HOUR, { amount_minor: 100 }), rev]) {
      const emit = new Emit();
      last = engine.apply(state, { seq: ++seq, partition: 0, msg: { kind: 'transaction', body: t } }, emit);
      if (last) engine.complete(state, last, undefined, emit);
    }
    expect(last!.features.spend_7d_minor).toBe(100);
    expect(last!.features.tx_count_7d).toBe(1);
    expect(last!.features.recency_days).toBeCloseTo(1 - 1 / 24, 10); // a reversal is not a visit
  });
});

describe('bounded memory', () => {
  it('three years of daily activity keep at most 91 day buckets and a year of week buckets', () => {
    const c = customer();
    c.profile = { customer_id: 'C1', opened_at: new Date(T0).toISOString() } as StoredProfileV1;
    const txs: TransactionV1[] = [];
    for (let d = 0; d < 3 * 365; d++) for (let k = 0; k < 3; k++) txs.push(tx(T0 + d * DAY_MS + k * HOUR, { channel: k === 1 ? 'deposit' : 'pos' }));
    feed(c, txs);
    const f = c.features;
    expect(f.days.length / BUCKET_WIDTH).toBeLessThanOrEqual(DAY_TIER_DAYS); // flat buckets of BUCKET_WIDTH numbers
    expect(f.weeks.length / BUCKET_WIDTH).toBeLessThanOrEqual(54);
    expect(JSON.stringify(f).length).toBeLessThan(12_000);
    const v = featureVector(c, T0 + (3 * 365 - 1) * DAY_MS + 3 * HOUR);
    expect(v.tx_count_90d).toBe(270);
    expect(v.tx_count_365d).toBeGreaterThanOrEqual(3 * 358);
    expect(v.tx_count_365d).toBeLessThanOrEqual(3 * 365);
  });

  it('week buckets keep only the sums the year\'s windows read, whether rolled from a day or reached late', () => {
    expect(WEEK_SUMS).toBe((1 << B_APPROVED) | (1 << B_SPEND) | (1 << B_COMPLAINTS));
    const c = customer();
    const txs: TransactionV1[] = [];
    for (let d = 0; d < 200; d++) {
      txs.push(tx(T0 + d * DAY_MS, { channel: 'pos', amount_minor: 1000 + d }));
      txs.push(tx(T0 + d * DAY_MS + HOUR, { channel: 'deposit', amount_minor: 50_000 }));
      if (d % 10 === 0) txs.push(tx(T0 + d * DAY_MS + 2 * HOUR, { status: 'declined' }));
    }
    feed(c, txs);
    const f = c.features;
    const weeks = f.weeks.length / BUCKET_WIDTH;
    expect(weeks).toBeGreaterThan(10);
    const lastWeek = f.weeks.at(-BUCKET_WIDTH)!;
    // a late refund of a day in the week tier takes its spend back there; a late purchase is folded into its week
    const late = lastWeek * 7 * DAY_MS + 12 * HOUR;
    const spendBefore = f.weeks.at(-BUCKET_WIDTH + B_SPEND)!;
    const approvedBefore = f.weeks.at(-BUCKET_WIDTH + B_APPROVED)!;
    feed(c, [tx(late, { amount_minor: 777 })], 400 * DAY_MS);
    expect(f.weeks.at(-BUCKET_WIDTH + B_SPEND)).toBe(spendBefore + 777);
    expect(f.weeks.at(-BUCKET_WIDTH + B_APPROVED)).toBe(approvedBefore + 1);
    let approved = 0;
    for (let o = 0; o < f.weeks.length; o += BUCKET_WIDTH) {
      for (const field of [B_VISITS, B_OUT_COUNT, B_INFLOW, B_DECLINES]) expect(f.weeks[o + field], `week ${f.weeks[o]} field ${field}`).toBe(0);
      approved += f.weeks[o + B_APPROVED]!;
    }
    let dayApproved = 0;
    for (let o = 0; o < f.days.length; o += BUCKET_WIDTH) dayApproved += f.days[o + B_APPROVED]!;
    const v = featureVector(c, T0 + 199 * DAY_MS + 3 * HOUR);
    expect(approved + dayApproved).toBe(2 * 200 + 1);
    expect(v.tx_count_365d).toBe(2 * 200 + 1);
    expect(v.tx_count_90d).toBe(2 * 90);
  });

  it('state survives a JSON round trip (checkpoints) with identical features', () => {
    const c = customer();
    feed(c, Array.from({ length: 200 }, (_, i) => tx(T0 + i * 0.77 * DAY_MS, { channel: i % 3 ? 'pos' : 'online', amount_minor: 1000 + i })));
    const copy = JSON.parse(JSON.stringify(c)) as CustomerState;
    const at = T0 + 170 * DAY_MS;
    expect(featureVector(copy, at)).toEqual(featureVector(c, at));
    const next = tx(at, { channel: 'fuel' });
    feed(c, [next]);
    feed(copy, [next]);
    expect(featureVector(copy, at + HOUR)).toEqual(featureVector(c, at + HOUR));
  });
});

describe('complaints and survey answers', () => {
  const fb = (c: CustomerState, at: number, body: Partial<FeedbackV1>): boolean =>
    featuresOnFeedback(c, { feedback_id: `F${n++}`, customer_id: 'C1', kind: 'survey', occurred_at: new Date(at).toISOString(), ...body }, { seq: n, partition: 0, at, watermark: at - HOUR });

  it('count complaints over 90 and 365 days, keep the days since the latest, and count open ones until resolved', () => {
    const c = customer();
    const none = featureVector(c, T0);
    expect([none.complaints_365d, none.days_since_complaint, none.low_scores_90d, none.surveys_365d, none.last_survey_score]).toEqual([0, 730, 0, 0, 0.5]);
    fb(c, T0 - 200 * DAY_MS, { kind: 'complaint', feedback_id: 'OLD' });
    fb(c, T0 - 10 * DAY_MS, { kind: 'complaint', feedback_id: 'NEW' });
    fb(c, T0 - 5 * DAY_MS, { kind: 'resolution', resolves_feedback_id: 'NEW' });
    const v = featureVector(c, T0);
    expect([v.complaints_90d, v.complaints_365d, v.open_complaints]).toEqual([1, 2, 1]);
    expect(v.days_since_complaint).toBeCloseTo(10, 9);
  });

  it('normalise survey scores, count dissatisfied answers (CSAT 1–2, NPS 0–6) over 90 days, and forget answers after a year', () => {
    const c = customer();
    fb(c, T0 - 400 * DAY_MS, { scale: 'nps10', score: 0 });
    fb(c, T0 - 120 * DAY_MS, { scale: 'csat5', score: 1 });
    fb(c, T0 - 30 * DAY_MS, { scale: 'nps10', score: 6 });
    fb(c, T0 - 20 * DAY_MS, { scale: 'csat5', score: 3 });
    fb(c, T0 - 2 * DAY_MS, { scale: 'nps10', score: 9 });
    fb(c, T0 - DAY_MS, { kind: 'compliment' });
    const v = featureVector(c, T0);
    expect(v.surveys_365d).toBe(4);
    expect(v.low_scores_90d).toBe(1); // the NPS 6; the CSAT 1 is older than 90 days
    expect(v.last_survey_score).toBeCloseTo(0.9, 9);
    // An answer arriving out of order (still within the lateness) takes its place in time, not the last one.
    fb(c, T0 - 3 * DAY_MS, { scale: 'csat5', score: 2 });
    const w = featureVector(c, T0);
    expect([w.surveys_365d, w.low_scores_90d]).toEqual([5, 2]);
    expect(w.last_survey_score).toBeCloseTo(0.9, 9);
    const late = featureVector(c, T0 + 400 * DAY_MS);
    expect([late.surveys_365d, late.low_scores_90d, late.last_survey_score]).toEqual([0, 0, 0.5]);
  });

  it('keep at most 50 answers', () => {
    const c = customer();
    for (let i = 0; i < 80; i++) fb(c, T0 + i * HOUR, { scale: 'csat5', score: 1 + (i % 5) });
    expect(c.features.scores).toHaveLength(50);
    expect(featureVector(c, T0 + 80 * HOUR).surveys_365d).toBe(50);
  });
});
