/**
 * A tiny responder model on top of the pure core (the simulator has no responder hooks yet): new
 * customers open accounts and transact; the engine decides an onboarding offer (or a holdout decision);
 * a customer who was offered it pays a first bill within the window with probability `qTreated` when
 * treated and `qHoldout` when in the holdout — the simulated effect is `qTreated − qHoldout`.
 * Everything is seeded: the same options give the same rows.
 */
import type { TxMessage } from '../../contracts/events.js';
import type { OffersCatalogue } from '../../config/schema/offers.js';
import { type Row } from '../../sinks/mapping.js';
import { catalogue, DAY, Driver, HOUR, iso } from './helpers.js';

export const RESPONDER_CATALOGUE: OffersCatalogue = catalogue(`
version: "uplift-1"
bank_time_offset: "+03:30"
contact_policy:
  per_channel: { app: { max: 3, period_days: 7 } }
  cooldown_days: 30
campaigns:
  - { id: onboarding, holdout_share: 0.3 }
offers:
  - code: ONB-BILLPAY
    campaign: onboarding
    channels: [app]
    when: { triggers: [transaction], stages: [welcome, getting_acquainted], not_held: [bill_pay] }
    valid_days: 14
    limit: { per_customer: 1 }
    cost: 20000
    expected_value: 600000
    churn_exponent: 0
    goal: { id: first_bill_payment, kind: transaction, channels: [bill_pay], within_days: 21 }
`);

export interface ResponderOptions {
  seed: number;
  customers: number;
  qTreated: number;
  qHoldout: number;
}

export interface ResponderRun {
  offers: Row[];
  conversions: Row[];
  events: number;
}

/** mulberry32: a small seeded PRNG (tests only; the core never draws random numbers). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Queued { at: number; order: number; msg: TxMessage }

/** Runs the population through one partition of the engine, answering each decision as the model says. */
export function runResponders(opts: ResponderOptions, cat: OffersCatalogue = RESPONDER_CATALOGUE): ResponderRun {
  const rnd = prng(opts.seed);
  const start = Date.parse('2026-02-01T05:00:00Z');
  const queue: Queued[] = [];
  let order = 0;
  const push = (at: number, msg: TxMessage): void => {
    const q = { at, order: order++, msg };
    let lo = 0;
    let hi = queue.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const m = queue[mid]!;
      if (m.at < at || (m.at === at && m.order < q.order)) lo = mid + 1;
      else hi = mid;
    }
    queue.splice(lo, 0, q);
  };
  let txn = 0;
  const tx = (customer: string, at: number, channel: 'pos' | 'bill_pay' | 'atm'): TxMessage => ({
    kind: 'transaction',
    body: { tx_id: `r${opts.seed}-${txn++}`, customer_id: customer, channel, amount_minor: 1_000_000 + Math.floor(rnd() * 9_000_000), currency: 'IRR', occurred_at: iso(at) },
  });
  for (let i = 0; i < opts.customers; i++) {
    const id = `u${opts.seed}-${i}`;
    const opened = start + Math.floor(rnd() * 60 * DAY);
    push(opened, { kind: 'profile', body: { customer_id: id, opened_at: iso(opened), products: ['current_account'], segment: 'retail' } });
    // a first card purchase within hours of opening (bank hours), then some background activity
    push(opened + 2 * HOUR, tx(id, opened + 2 * HOUR, 'pos'));
    const extra = Math.floor(rnd() * 4);
    for (let k = 0; k < extra; k++) {
      const at = opened + 3 * HOUR + Math.floor(rnd() * 40 * DAY);
      push(at, tx(id, at, rnd() < 0.5 ? 'pos' : 'atm'));
    }
  }
  const d = new Driver(cat);
  let events = 0;
  while (queue.length) {
    const { msg } = queue.shift()!;
    const emit = d.send(msg);
    events++;
    for (const o of emit.rows.get('offers') ?? []) {
      const q = o.holdout === 1 ? opts.qHoldout : opts.qTreated;
      if (rnd() < q) {
        const at = Date.parse(String(o.created_at)) + HOUR + Math.floor(rnd() * 18 * DAY);
        push(at, tx(String(o.customer_id), at, 'bill_pay'));
      }
    }
  }
  return { offers: d.offers, conversions: d.conversions, events };
}

/** Treated and holdout counts of a campaign, as the views count them (decisions, and decisions that converted). */
export function campaignCounts(run: ResponderRun, campaign: string): { treated: { n: number; x: number }; holdout: { n: number; x: number } } {
  const converted = new Set(run.conversions.map((c) => String(c.offer_id)));
  const mine = run.offers.filter((o) => o.campaign_id === campaign);
  const group = (h: number): { n: number; x: number } => {
    const g = mine.filter((o) => o.holdout === h);
    return { n: g.length, x: g.filter((o) => converted.has(String(o.offer_id))).length };
  };
  return { treated: group(0), holdout: group(1) };
}
