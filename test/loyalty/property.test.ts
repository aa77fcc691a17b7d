/**
 * Property: for random event sequences over a few customers (duplicates, reversals before and after
 * their originals, out-of-order events within the allowed lateness, redemptions, profile changes), the
 * engine driven through `Engine.apply` / `complete` produces the same ledger rows, tier changes,
 * balances and tiers as a deliberately simple reference written here: it hard-codes the test policy in
 * plain code (no rules interpreter, no timers heap, no pruning) and recomputes bank time with Date.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TransactionV1, TxMessage } from '../../contracts/events.js';
import { type Row } from '../../sinks/mapping.js';
import { checkInvariants, DAY, Driver, HOUR, rules } from './helpers.js';

const POLICY = `
version: "prop-1"
bank_time_offset: "+03:30"
week_starts: sat
currencies: [IRR]
mcc_sets: { fuel: ["5541"] }
tiers:
  window_months: 2
  review: monthly
  levels:
    - { id: bronze, min_points: 0, multiplier: 1, expiry_days: 5 }
    - { id: silver, min_points: 60, multiplier: 1.5, expiry_days: 9 }
    - { id: gold, min_points: 200, multiplier: 2.25, expiry_days: 14 }
campaigns:
  - { id: promo, from: "2026-01-10T00:00:00+03:30", to: "2026-01-25T00:00:00+03:30", budget_points: 61 }
reversals: { window_days: 20, pending_days: 3 }
rules:
  - id: fuel
    priority: 50
    exclusive: true
    when: { channels: [pos], mcc_sets: [fuel] }
    award: { per_amount: { points: 3, per_minor: 1000 } }
    caps: { per_day: 40 }
  - id: pos
    priority: 10
    when: { channels: [pos] }
    award: { per_amount: { points: 1, per_minor: 1000 } }
    caps: { per_tx: 30 }
  - id: online
    priority: 10
    when: { channels: [online] }
    award: { per_amount: { points: 1, per_minor: 700 }, multiplier: 1.1 }
    caps: { per_week: 60 }
  - id: bill
    priority: 10
    when: { channels: [bill_pay, installment], at_branch: false }
    award: { fixed: 4 }
    caps: { per_month: 30 }
  - id: early
    kind: bonus
    priority: 5
    when: { channels: [bill_pay, installment], early_by_days: 2 }
    award: { fixed: 7, tier_multiplier: false }
  - id: night
    kind: bonus
    when: { time_of_day: { from: "22:00", to: "02:00" }, amount_minor: { min: 5000 } }
    award: { fixed: 3 }
  - id: promo
    kind: bonus
    priority: 100
    when: { channels: [pos, online], campaign: promo }
    award: { per_amount: { points: 1, per_minor: 2000 }, tier_multiplier: false }
  - id: gold-friday
    kind: bonus
    when: { tiers: [gold], days_of_week: [fri] }
    award: { fixed: 2 }
branches:
  B1:
    disable: [night]
    rules:
      - id: pos
        priority: 10
        when: { channels: [pos] }
        award: { per_amount: { points: 2, per_minor: 1000 } }
        caps: { per_tx: 30 }
`;

// ------------------------------------------------------------------------------------------------
// The reference
// ------------------------------------------------------------------------------------------------

const OFF = 210 * 60_000;
const VERSION = 'prop-1';
const TIERS = [
  { id: 'bronze', min: 0, mul: 10_000, days: 5 },
  { id: 'silver', min: 60, mul: 15_000, days: 9 },
  { id: 'gold', min: 200, mul: 22_500, days: 14 },
];
const PROMO_FROM = Date.parse('2026-01-10T00:00:00+03:30');
const PROMO_TO = Date.parse('2026-01-25T00:00:00+03:30');
const PROMO_SHARE = 30; // partition 1 of 2: floor(61 / 2)

const local = (at: number): Date => new Date(at + OFF);
const dayNo = (at: number): number => Math.floor((at + OFF) / DAY);
const monthNo = (at: number): number => local(at).getUTCFullYear() * 12 + local(at).getUTCMonth();
const SATURDAY = Date.UTC(2000, 0, 1) / DAY; // 2000-01-01 was a Saturday
const weekNo = (at: number): number => Math.floor((dayNo(at) - SATURDAY) / 7);
const endOfDayAfter = (at: number, days: number): number => {
  const d = local(at);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + days + 1) - OFF - 1;
};
const nextMonthStart = (at: number): number => {
  const d = local(at);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) - OFF;
};
const iso = (ms: number): string => new Date(ms).toISOString();

interface RLot { src: string; id: string; at: number; seq: number; exp: number; pts: number; rem: number; tier: string }
interface RAward { rule: string; kind: string; pts: number; caps: string[]; campaign: boolean }
interface RCust {
  id: string; branch: string; segment: string | undefined; tier: string; balance: number; debt: number; lots: RLot[];
  earned: Map<string, { at: number; pts: number; x: number; month: number; awards: RAward[] }>;
  pending: Map<string, number>; caps: Map<string, number>; months: Map<number, number>; reviewAt: number;
  redemptions: Map<string, number>; seen: Set<string>;
}

class Reference {
  readonly customers = new Map<string, RCust>();
  readonly ledger: Row[] = [];
  readonly tierChanges: Row[] = [];
  seq = 0;
  maxT = 0;
  wm = 0;
  budgetUsed = 0;

  cust(id: string): RCust {
    let c = this.customers.get(id);
    if (!c) {
      c = {
        id, branch: '', segment: undefined, tier: '', balance: 0, debt: 0, lots: [], earned: new Map(), pending: new Map(), caps: new Map(),
        months: new Map(), reviewAt: 0, redemptions: new Map(), seen: new Set(),
      };
      this.customers.set(id, c);
    }
    return c;
  }

  apply(msg: TxMessage): void {
    this.seq++;
    const at = Date.parse(msg.kind === 'profile' ? msg.body.opened_at : (msg.body as { occurred_at: string }).occurred_at);
    this.maxT = Math.max(this.maxT, at);
    this.wm = Math.max(this.wm, this.maxT - HOUR);
    for (const c of this.customers.values()) this.fireDue(c);
    const c = this.cust(msg.body.customer_id);
    if (msg.kind === 'profile') {
      c.branch = msg.body.branch_id ?? '';
      c.segment = msg.body.segment;
      this.place(c, at);
    } else if (msg.kind === 'transaction') {
      const tx = msg.body;
      if (c.seen.has(tx.tx_id)) return;
      c.seen.add(tx.tx_id);
      this.place(c, at);
      if (tx.reverses_tx_id !== undefined) this.reverse(c, tx, tx.reverses_tx_id, at);
      else this.earn(c, tx, at);
    } else if (msg.kind === 'redemption') {
      const r = msg.body;
      this.place(c, at);
      const prev = c.redemptions.get(r.redemption_id);
      if (prev !== undefined && prev >= this.wm - 20 * DAY) return;
      c.redemptions.set(r.redemption_id, at);
      if (c.balance < r.points) {
        this.row(c, `refused:rd:${r.redemption_id}`, 'redeem_refused', 0, 'redemption', r.redemption_id, '', at, null);
        return;
      }
      this.take(c, r.points, undefined);
      c.balance -= r.points;
      this.row(c, `redeem:rd:${r.redemption_id}`, 'redeem', -r.points, 'redemption', r.redemption_id, '', at, null);
    }
  }

  private fireDue(c: RCust): void {
    for (;;) {
      const exps = c.lots.map((l) => l.exp).filter((e) => e <= this.wm);
      const nextExp = exps.length ? Math.min(...exps) : Infinity;
      const review = c.reviewAt !== 0 && c.reviewAt <= this.wm ? c.reviewAt : Infinity;
      if (nextExp === Infinity && review === Infinity) return;
      if (nextExp < review) {
        const gone = c.lots.filter((l) => l.exp <= nextExp);
        c.lots = c.lots.filter((l) => l.exp > nextExp);
        for (const l of gone) {
          c.balance -= l.rem;
          const rec = c.earned.get(l.id);
          if (rec) rec.x += l.rem;
          this.row(c, `expire:${l.src}:${l.id}`, 'expire', -l.rem, `expiry:${l.tier}`, l.id, '', l.exp, l.exp);
        }
      } else {
        c.reviewAt = 0;
        const q = this.qualifying(c, review);
        const to = this.qualified(q);
        if (to !== c.tier) this.changeTier(c, review, to, `review: ${q} points in 2 months`);
        if (to !== 'bronze') c.reviewAt = nextMonthStart(review);
      }
    }
  }

  private qualifying(c: RCust, at: number): number {
    let q = 0;
    for (const [m, p] of c.months) if (m >= monthNo(at) - 1) q += p;
    return q;
  }

  private qualified(q: number): string {
    return q >= 200 ? 'gold' : q >= 60 ? 'silver' : 'bronze';
  }

  private rank(t: string): number {
    return TIERS.findIndex((x) => x.id === t);
  }

  private place(c: RCust, at: number): void {
    if (c.tier !== '') return;
    c.tier = this.qualified(this.qualifying(c, at));
    if (c.tier !== 'bronze' && c.reviewAt === 0) c.reviewAt = nextMonthStart(at);
  }

  private changeTier(c: RCust, at: number, to: string, reason: string): void {
    this.tierChanges.push({
      change_id: `${c.id}:${this.seq}:${at}:${to}`, customer_id: c.id, from_tier: c.tier, to_tier: to, occurred_at: iso(at), reason,
      branch_id: c.branch, stream_seq: this.seq,
    });
    c.tier = to;
  }

  private row(c: RCust, id: string, kind: string, points: number, rule: string, source: string, channel: string, at: number, exp: number | null, version = VERSION): void {
    this.ledger.push({
      entry_id: id, customer_id: c.id, kind, points, rule_id: rule, rules_version: version, source_id: source, channel, branch_id: c.branch,
      tier: c.tier, occurred_at: iso(at), expires_at: exp === null ? null : iso(exp), balance_after: c.balance, stream_seq: this.seq,
    });
  }

  private take(c: RCust, amount: number, first: string | undefined): number {
    let left = amount;
    const order = [...c.lots.filter((l) => l.src === 'tx' && l.id === first), ...c.lots];
    for (const l of order) {
      const k = Math.min(l.rem, left);
      l.rem -= k;
      left -= k;
    }
    c.lots = c.lots.filter((l) => l.rem > 0);
    return amount - left;
  }

  private earn(c: RCust, tx: TransactionV1, at: number): void {
    const p = c.pending.get(tx.tx_id);
    if (p !== undefined) {
      c.pending.delete(tx.tx_id);
      if (p >= this.wm - 3 * DAY) return;
    }
    if (tx.status === 'declined' || tx.currency !== 'IRR') return;
    const tier = TIERS[this.rank(c.tier)]!;
    const amount = tx.amount_minor;
    const calc = (fixed: number, rate: number, per: number, mul: number, tierOn: boolean): number =>
      Math.floor(((fixed * per + rate * amount) * mul * (tierOn ? tier.mul : 10_000)) / (per * 100_000_000));
    const awards: RAward[] = [];
    const used = (k: string): number => c.caps.get(k) ?? 0;
    const add = (kind: string, rule: string, pts: number, caps: string[], campaign = false): void => {
      if (pts <= 0) return;
      for (const k of caps) c.caps.set(k, used(k) + pts);
      if (campaign) this.budgetUsed += pts;
      awards.push({ rule, kind, pts, caps, campaign });
    };
    const pos = tx.channel === 'pos';
    const online = tx.channel === 'online';
    const bill = tx.channel === 'bill_pay' || tx.channel === 'installment';
    const mins = local(at).getUTCHours() * 60 + local(at).getUTCMinutes();
    if ((pos || online) && at >= PROMO_FROM && at < PROMO_TO) add('bonus', 'promo', Math.min(calc(0, 1, 2000, 10_000, false), PROMO_SHARE - this.budgetUsed), [], true);
    if (pos && tx.mcc === '5541') {
      const k = `fuel|d${dayNo(at)}`;
      add('earn', 'fuel', Math.min(calc(0, 3, 1000, 10_000, true), 40 - used(k)), [k]);
    } else {
      const b1 = c.branch === 'B1';
      if (pos) add('earn', b1 ? 'B1/pos' : 'pos', Math.min(calc(0, b1 ? 2 : 1, 1000, 10_000, true), 30), []);
      if (online) {
        const k = `online|w${weekNo(at)}`;
        add('earn', 'online', Math.min(calc(0, 1, 700, 11_000, true), 60 - used(k)), [k]);
      }
      if (bill && tx.branch_id === undefined) {
        const k = `bill|m${monthNo(at)}`;
        add('earn', 'bill', Math.min(calc(4, 0, 1, 10_000, true), 30 - used(k)), [k]);
      }
      if (bill && tx.due_date !== undefined && Date.parse(tx.due_date) / DAY - dayNo(at) >= 2) add('bonus', 'early', 7, []);
      if (!b1 && (mins >= 22 * 60 || mins < 120) && amount >= 5000) add('bonus', 'night', calc(3, 0, 1, 10_000, true), []);
      if (c.tier === 'gold' && local(at).getUTCDay() === 5) add('bonus', 'gold-friday', calc(2, 0, 1, 10_000, true), []);
    }
    if (awards.length === 0) return;
    const total = awards.reduce((s, a) => s + a.pts, 0);
    const exp = endOfDayAfter(at, tier.days);
    for (const a of awards) {
      c.balance += a.pts;
      this.row(c, `${a.kind}:${a.rule}:${tx.tx_id}`, a.kind, a.pts, a.rule, tx.tx_id, tx.channel, at, exp);
    }
    const repay = Math.min(c.debt, total);
    c.debt -= repay;
    if (total - repay > 0) {
      c.lots.push({ src: 'tx', id: tx.tx_id, at, seq: this.seq, exp, pts: total, rem: total - repay, tier: c.tier });
      c.lots.sort((a, b) => a.at - b.at || a.seq - b.seq);
    }
    c.earned.set(tx.tx_id, { at, pts: total, x: 0, month: monthNo(at), awards });
    c.months.set(monthNo(at), (c.months.get(monthNo(at)) ?? 0) + total);
    const q = this.qualifying(c, at);
    const to = this.qualified(q);
    if (this.rank(to) > this.rank(c.tier)) {
      this.changeTier(c, at, to, `upgrade: ${q} points in 2 months`);
      if (c.reviewAt === 0) c.reviewAt = nextMonthStart(at);
    }
  }

  private reverse(c: RCust, tx: TransactionV1, orig: string, at: number): void {
    if (tx.status === 'declined' || orig === tx.tx_id) return;
    const rec = c.earned.get(orig);
    if (!rec || rec.at < this.wm - 20 * DAY) {
      if (c.seen.has(orig)) return;
      const p = c.pending.get(orig);
      if (p === undefined || p < this.wm - 3 * DAY) c.pending.set(orig, at);
      return;
    }
    c.earned.delete(orig);
    const back = rec.pts - rec.x;
    const got = this.take(c, back, orig);
    c.debt += back - got;
    c.balance -= back;
    for (const a of rec.awards) {
      for (const k of a.caps) c.caps.set(k, Math.max(0, (c.caps.get(k) ?? 0) - a.pts));
      if (a.campaign) this.budgetUsed = Math.max(0, this.budgetUsed - a.pts);
    }
    c.months.set(rec.month, (c.months.get(rec.month) ?? 0) - rec.pts);
    if (back > 0) this.row(c, `reverse:tx:${tx.tx_id}`, 'reverse', -back, 'reversal', orig, tx.channel, at, null);
  }
}

// ------------------------------------------------------------------------------------------------
// Random streams
// ------------------------------------------------------------------------------------------------

const CHANNELS = ['pos', 'pos', 'online', 'bill_pay', 'installment', 'atm', 'fuel', 'transfer'] as const;
const CUSTOMERS = ['c1', 'c2', 'c3'];

const step = fc.record({
  dt: fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 0, max: 240 }) },
    { weight: 3, arbitrary: fc.integer({ min: 0, max: 2 * 1440 }) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 15 * 1440 }) },
  ),
  jitter: fc.integer({ min: 0, max: 59 }),
});

const opArb = fc.oneof(
  { weight: 10, arbitrary: fc.record({
    t: fc.constant('tx' as const), cust: fc.nat(2), channel: fc.constantFrom(...CHANNELS), amount: fc.oneof(fc.integer({ min: 0, max: 20_000 }), fc.integer({ min: 0, max: 120_000 })),
    mcc: fc.constantFrom(undefined, '5541', '5411'), atBranch: fc.boolean(), dueIn: fc.option(fc.integer({ min: -2, max: 5 })),
    usd: fc.integer({ min: 0, max: 15 }).map((n) => n === 0), declined: fc.integer({ min: 0, max: 10 }).map((n) => n === 0), step,
  }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('dup' as const), pick: fc.nat(), step }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('rev' as const), pick: fc.nat(), step }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('red' as const), cust: fc.nat(2), points: fc.oneof(fc.integer({ min: 1, max: 30 }), fc.integer({ min: 1, max: 200 })), reuse: fc.boolean(), step }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('prof' as const), cust: fc.nat(2), branch: fc.constantFrom(undefined, 'B1', 'B2'), segment: fc.constantFrom(undefined, 'payroll') }) },
);

type Op = typeof opArb extends fc.Arbitrary<infer T> ? T : never;

function materialize(ops: Op[], startMs: number): TxMessage[] {
  const txOps = ops.map((o, i) => (o.t === 'tx' ? i : -1)).filter((i) => i >= 0);
  const txById = new Map<number, TransactionV1>();
  const msgs: TxMessage[] = CUSTOMERS.map((id, i) => ({ kind: 'profile', body: { customer_id: id, opened_at: iso(startMs - 30 * DAY), ...(i === 0 ? { branch_id: 'B1' } : {}) } }));
  const redemptionIds: string[] = [];
  let cursor = startMs;
  const when = (s: { dt: number; jitter: number }): string => {
    cursor += s.dt * 60_000;
    return iso(cursor - s.jitter * 60_000);
  };
  // the bodies of transactions are fixed up front, so a reversal can name one that comes later
  ops.forEach((o, i) => {
    if (o.t !== 'tx') return;
    txById.set(i, {
      tx_id: `t${i}`, customer_id: CUSTOMERS[o.cust]!, channel: o.channel, amount_minor: o.amount, currency: o.usd ? 'USD' : 'IRR', occurred_at: '',
      ...(o.declined ? { status: 'declined' as const } : {}), ...(o.mcc ? { mcc: o.mcc } : {}), ...(o.atBranch ? { branch_id: 'BR7' } : {}),
    });
  });
  ops.forEach((o, i) => {
    if (o.t === 'tx') {
      const tx = txById.get(i)!;
      tx.occurred_at = when(o.step);
      if (o.dueIn !== null) tx.due_date = new Date(Math.floor((Date.parse(tx.occurred_at) + 210 * 60_000) / DAY) * DAY + o.dueIn * DAY).toISOString().slice(0, 10);
      msgs.push({ kind: 'transaction', body: { ...tx } });
    } else if (o.t === 'dup') {
      const before = txOps.filter((j) => j < i);
      if (before.length === 0) return;
      const tx = txById.get(before[o.pick % before.length]!)!;
      cursor += o.step.dt * 60_000;
      msgs.push({ kind: 'transaction', body: { ...tx } });
    } else if (o.t === 'rev') {
      if (txOps.length === 0) return;
      const target = txById.get(txOps[o.pick % txOps.length]!)!;
      msgs.push({ kind: 'transaction', body: { tx_id: `rev${i}`, customer_id: target.customer_id, channel: target.channel, amount_minor: target.amount_minor, currency: target.currency, occurred_at: when(o.step), reverses_tx_id: target.tx_id } });
    } else if (o.t === 'red') {
      const id = o.reuse && redemptionIds.length ? redemptionIds[o.points % redemptionIds.length]! : `r${i}`;
      redemptionIds.push(id);
      msgs.push({ kind: 'redemption', body: { redemption_id: id, customer_id: CUSTOMERS[o.cust]!, points: o.points, occurred_at: when(o.step) } });
    } else {
      msgs.push({ kind: 'profile', body: { customer_id: CUSTOMERS[o.cust]!, opened_at: iso(startMs - 30 * DAY), ...(o.branch ? { branch_id: o.branch } : {}), ...(o.segment ? { segment: o.segment } : {}) } });
    }
  });
  return msgs;
}

/** Longer than any generated stream (at most 120 steps of at most 15 days). */
const UNBOUNDED_DEDUP_MS = 10 * 365 * DAY;

describe('loyalty engine against a reference implementation', () => {
  const policy = rules(POLICY);

  it('gives the same ledger, tier changes, balances and tiers for random streams', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 120, size: 'max' }), fc.integer({ min: 0, max: 40 * 24 }), (ops, startHours) => {
        const msgs = materialize(ops, Date.parse('2025-12-25T00:00:00Z') + startHours * HOUR);
        // The reference never forgets a tx id; a stream can span ~130 days and more, past the engine's
        // default de-duplication horizon (120 days), so the engine remembers ids longer than any stream here.
        const engine = new Driver(policy, { partition: 1, partitions: 2, config: { dedupHorizonMs: UNBOUNDED_DEDUP_MS } });
        const ref = new Reference();
        for (const m of msgs) {
          engine.send(m);
          ref.apply(m);
        }
        for (const id of CUSTOMERS) {
          const c = engine.state.customers[id]!;
          checkInvariants(c);
          const r = ref.customers.get(id)!;
          expect(engine.rows(id)).toEqual(ref.ledger.filter((x) => x.customer_id === id));
          expect(engine.tierChanges.filter((x) => x.customer_id === id)).toEqual(ref.tierChanges.filter((x) => x.customer_id === id));
          expect(c.loyalty.balance).toBe(r.balance);
          expect(c.loyalty.tier).toBe(r.tier);
          // the ledger explains the balance
          expect(engine.rows(id).reduce((s, x) => s + Number(x.points), 0)).toBe(c.loyalty.balance);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('replays to the same result after a checkpoint (JSON round trip) at any point', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 2, maxLength: 80, size: 'max' }), fc.nat(), (ops, cutAt) => {
        const msgs = materialize(ops, Date.parse('2026-01-05T00:00:00Z'));
        const straight = new Driver(policy, { partition: 1, partitions: 2 });
        for (const m of msgs) straight.send(m);
        const cut = cutAt % msgs.length;
        const first = new Driver(policy, { partition: 1, partitions: 2 });
        msgs.slice(0, cut).forEach((m) => first.send(m));
        const resumed = new Driver(policy, { partition: 1, partitions: 2 });
        resumed.state = JSON.parse(JSON.stringify(first.state)) as typeof resumed.state;
        resumed.seq = first.seq;
        msgs.slice(cut).forEach((m) => resumed.send(m));
        expect([...first.ledger, ...resumed.ledger]).toEqual(straight.ledger);
        expect(resumed.state).toEqual(straight.state);
      }),
      { numRuns: 40 },
    );
  });
});
