/**
 * Property: for random streams of purchases, refunds (of a known purchase, in part or in full, repeated,
 * over-refunded; of an unknown one; naming none; naming a purchase that arrives later, within
 * `pending_days` or after), reversals (of purchases and of refunds), redemptions and duplicate deliveries over
 * months, the engine writes exactly the refund, reversal, earning and redemption rows of a separately
 * written reference of docs/loyalty.md (Refunds), keeps balance = Σ lots − debt, and a refund never
 * earns. The policy has one tier and no expiry or period caps, so the reference stays small.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TransactionV1 } from '../../contracts/events.js';
import { checkInvariants, DAY, Driver, HOUR, rules } from './helpers.js';

const WINDOW_DAYS = 20;
const PENDING_DAYS = 3;
const POLICY = rules(`
version: "rp-1"
bank_time_offset: "+03:30"
tiers:
  window_months: 12
  levels:
    - { id: bronze, min_points: 0, multiplier: 1, expiry_days: 3650 }
reversals: { window_days: ${WINDOW_DAYS}, pending_days: ${PENDING_DAYS} }
rules:
  - { id: pos, when: { channels: [pos] }, award: { per_amount: { points: 1, per_minor: 10 } }, caps: { per_tx: 300 } }
  - { id: big, kind: bonus, when: { channels: [pos], amount_minor: { min: 1000 } }, award: { fixed: 5 } }
`);

type Step =
  | { t: 'buy'; gapH: number; channel: 'pos' | 'atm'; amount: number }
  | { t: 'refund'; gapH: number; of: number | 'none' | 'unknown' | { ahead: number }; amount: number }
  | { t: 'reverse'; gapH: number; of: number }
  | { t: 'void'; gapH: number; of: number }
  | { t: 'redeem'; gapH: number; points: number }
  | { t: 'again'; of: number };

const gap = fc.oneof(fc.integer({ min: 0, max: 30 }), fc.integer({ min: 24, max: 24 * 15 }));
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ t: fc.constant('buy' as const), gapH: gap, channel: fc.constantFrom('pos' as const, 'pos' as const, 'atm' as const), amount: fc.integer({ min: 0, max: 4000 }) }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('refund' as const), gapH: gap, of: fc.oneof(fc.nat(30), fc.constantFrom('none' as const, 'unknown' as const), fc.record({ ahead: fc.nat(3) }), fc.record({ ahead: fc.nat(1) })), amount: fc.integer({ min: 0, max: 3000 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('reverse' as const), gapH: gap, of: fc.nat(30) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('void' as const), gapH: gap, of: fc.nat(30) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('redeem' as const), gapH: gap, points: fc.integer({ min: 1, max: 400 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('again' as const), of: fc.nat(60) }) },
);

interface Earning { pts: number; amt: number; at: number; rf: number; rp: number }
interface Refunded { at: number; pts: number; of?: string; amt: number; rev: boolean; early?: { of: string; amt: number } }
type RefRow = [entry: string, points: number, rule: string, source: string];

/** The reference: docs/loyalty.md's refund, reversal and earning rules for this policy, written out plainly. */
function reference(events: TransactionV1[] | { redemption_id: string; points: number; occurred_at: string }[]): { rows: RefRow[]; balance: number } {
  const rows: RefRow[] = [];
  const seen = new Map<string, number>(); // tx id → event time
  const redeemed = new Map<string, number>(); // redemption id → event time, remembered for the window
  const earned = new Map<string, Earning>();
  const refunds = new Map<string, Refunded>();
  let balance = 0;
  let maxAt = 0;
  const earnOf = (channel: string, amount: number): [number, number] => (channel === 'pos' ? [Math.min(300, Math.floor(amount / 10)), amount >= 1000 ? 5 : 0] : [0, 0]);
  for (const e of events) {
    const at = Date.parse(e.occurred_at);
    maxAt = Math.max(maxAt, at);
    const horizon = maxAt - HOUR - WINDOW_DAYS * DAY;
    if ('redemption_id' in e) {
      const prev = redeemed.get(e.redemption_id);
      if (prev !== undefined && prev >= horizon) continue;
      redeemed.set(e.redemption_id, at);
      if (balance < e.points) rows.push([`refused:rd:${e.redemption_id}`, 0, 'redemption', e.redemption_id]);
      else {
        balance -= e.points;
        rows.push([`redeem:rd:${e.redemption_id}`, -e.points, 'redemption', e.redemption_id]);
      }
      continue;
    }
    if (seen.has(e.tx_id)) continue;
    seen.set(e.tx_id, at);
    if (e.reverses_tx_id !== undefined) {
      const voided = refunds.get(e.reverses_tx_id);
      if (voided && voided.at >= horizon) {
        if (voided.rev) continue;
        voided.rev = true;
        const purchase = voided.of !== undefined ? earned.get(voided.of) : undefined;
        if (purchase) {
          purchase.rf -= voided.amt;
          purchase.rp -= voided.pts;
        }
        balance += voided.pts;
        if (voided.pts > 0) rows.push([`reverse:tx:${e.tx_id}`, voided.pts, 'reversal:refund', e.reverses_tx_id]);
        continue;
      }
      const rec = earned.get(e.reverses_tx_id);
      if (rec && rec.at >= horizon) {
        earned.delete(e.reverses_tx_id);
        for (const r of refunds.values()) if (r.of === e.reverses_tx_id) r.pts = 0;
        const back = rec.pts - rec.rp;
        balance -= back;
        if (back > 0) rows.push([`reverse:tx:${e.tx_id}`, -back, 'reversal', e.reverses_tx_id]);
      }
      continue;
    }
    if (e.kind === 'refund') {
      const of = e.refund_of_tx_id;
      const rec = of !== undefined ? earned.get(of) : undefined;
      if (of !== undefined && rec && rec.at >= horizon) {
        const before = rec.rf;
        rec.rf = Math.min(rec.amt, rec.rf + e.amount_minor);
        const due = rec.amt === 0 ? rec.pts : Math.floor((rec.pts * rec.rf) / rec.amt);
        const back = Math.max(0, due - rec.rp);
        rec.rp += back;
        refunds.set(e.tx_id, { at, pts: back, of, amt: rec.rf - before, rev: false });
        balance -= back;
        if (back > 0) rows.push([`refund:tx:${e.tx_id}`, -back, 'refund', of]);
        continue;
      }
      const ofAt = of !== undefined && !rec ? seen.get(of) : undefined;
      if (ofAt !== undefined && Math.floor(ofAt / DAY) * DAY >= horizon) {
        refunds.set(e.tx_id, { at, pts: 0, amt: 0, rev: false });
        continue;
      }
      const [back] = earnOf(e.channel, e.amount_minor); // earn rules only, no bonus
      const early = of !== undefined && !seen.has(of) ? { of, amt: e.amount_minor } : undefined; // its purchase may still come
      refunds.set(e.tx_id, { at, pts: back, amt: 0, rev: false, ...(early ? { early } : {}) });
      balance -= back;
      if (back > 0) rows.push([`refund:tx:${e.tx_id}`, -back, 'refund:unlinked', e.tx_id]);
      continue;
    }
    const [pts, bonus] = earnOf(e.channel, e.amount_minor);
    if (pts > 0) rows.push([`earn:pos:${e.tx_id}`, pts, 'pos', e.tx_id]);
    if (bonus > 0) rows.push([`bonus:big:${e.tx_id}`, bonus, 'big', e.tx_id]);
    balance += pts + bonus;
    if (pts + bonus > 0) earned.set(e.tx_id, { pts: pts + bonus, amt: e.amount_minor, at, rf: 0, rp: 0 });
    // Refunds that named this purchase before it came: what they would have taken after it, the difference booked.
    for (const [id, r] of refunds) {
      if (r.early?.of !== e.tx_id) continue;
      const { amt } = r.early;
      delete r.early;
      if (r.rev || r.at < maxAt - HOUR - PENDING_DAYS * DAY) continue;
      const rec = earned.get(e.tx_id);
      let back = 0;
      if (rec) {
        const before = rec.rf;
        rec.rf = Math.min(rec.amt, rec.rf + amt);
        back = Math.max(0, Math.floor((rec.pts * rec.rf) / rec.amt) - rec.rp);
        rec.rp += back;
        r.of = e.tx_id;
        r.amt = rec.rf - before;
      }
      const diff = r.pts - back;
      r.pts = back;
      balance += diff;
      if (diff !== 0) rows.push([`refund:settled:tx:${id}`, diff, 'refund:settled', e.tx_id]);
    }
  }
  return { rows, balance };
}

/** The id of the `ahead`-th purchase after step `i` (it has not arrived when the refund does), else one that never comes. */
function laterBuy(steps: Step[], i: number, ahead: number): string {
  const later = steps.map((s, j) => (s.t === 'buy' && j > i ? j : -1)).filter((j) => j >= 0);
  return later.length > 0 ? `p${later[Math.min(ahead, later.length - 1)]!}` : 'gone';
}

function build(steps: Step[]): (TransactionV1 | { redemption_id: string; points: number; occurred_at: string; customer_id: string })[] {
  const out: (TransactionV1 | { redemption_id: string; points: number; occurred_at: string; customer_id: string })[] = [];
  const buys: string[] = [];
  const refunded: string[] = [];
  let at = Date.parse('2026-01-01T08:00:00Z');
  steps.forEach((s, i) => {
    if (s.t === 'again') {
      const prev = out[s.of % Math.max(1, out.length)];
      if (prev) out.push(prev);
      return;
    }
    at += s.gapH * HOUR;
    const occurred_at = new Date(at).toISOString();
    const base = { customer_id: 'c1', currency: 'IRR', occurred_at };
    if (s.t === 'buy') {
      out.push({ ...base, tx_id: `p${i}`, channel: s.channel, amount_minor: s.amount });
      buys.push(`p${i}`);
    } else if (s.t === 'refund') {
      const of = typeof s.of === 'number' ? buys[s.of % Math.max(1, buys.length)] : s.of === 'unknown' ? 'gone' : s.of === 'none' ? undefined : laterBuy(steps, i, s.of.ahead);
      out.push({ ...base, tx_id: `f${i}`, channel: 'pos', amount_minor: s.amount, kind: 'refund', ...(of !== undefined ? { refund_of_tx_id: of } : {}) });
      refunded.push(`f${i}`);
    } else if (s.t === 'void') {
      const of = refunded[s.of % Math.max(1, refunded.length)];
      if (of !== undefined) out.push({ ...base, tx_id: `v${i}`, channel: 'pos', amount_minor: 0, reverses_tx_id: of });
    } else if (s.t === 'reverse') {
      const of = buys[s.of % Math.max(1, buys.length)];
      if (of !== undefined) out.push({ ...base, tx_id: `r${i}`, channel: 'pos', amount_minor: 0, reverses_tx_id: of });
    } else {
      out.push({ ...base, redemption_id: `d${i}`, points: s.points });
    }
  });
  return out;
}

describe('refunds against a reference', () => {
  it('write the reference rows and balance; balance = Σ lots − debt after every event; a refund never earns', () => {
    const settled = { up: 0, down: 0 };
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 60 }), (steps) => {
        const events = build(steps);
        if (events.length === 0) return;
        const d = new Driver(POLICY);
        for (const e of events) {
          if ('redemption_id' in e) d.redeem(e);
          else d.tx(e);
          checkInvariants(d.customer());
        }
        const want = reference(events as TransactionV1[]);
        expect(d.rows().map((r) => [r.entry_id, r.points, r.rule_id, r.source_id])).toEqual(want.rows);
        expect(d.balance()).toBe(want.balance);
        expect(d.rows().reduce((s, r) => s + Number(r.points), 0)).toBe(d.balance());
        expect(d.rows().filter((r) => String(r.source_id).startsWith('f') && Number(r.points) > 0 && r.rule_id !== 'reversal:refund')).toEqual([]);
        for (const r of want.rows) if (r[2] === 'refund:settled') settled[r[1] > 0 ? 'up' : 'down']++;
      }),
      { numRuns: 300, seed: 1705 },
    );
    expect(settled.up).toBeGreaterThan(10); // refunds before their purchase were settled both ways
    expect(settled.down).toBeGreaterThan(3);
  });
});
