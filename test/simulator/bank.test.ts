import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Value } from '@sinclair/typebox/value';
import { CustomerProfileV1, FeedbackV1, RedemptionV1, TransactionV1 } from '../../contracts/events.js';
import { createBank, type SimEvent } from '../../simulator/mod.js';

const start = new Date('2025-03-21T00:00:00Z');
const RFC3339_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function digest(events: Iterable<SimEvent>): { hash: string; count: number } {
  const h = createHash('sha256');
  let count = 0;
  for (const ev of events) {
    h.update(JSON.stringify(ev));
    h.update('\n');
    count++;
  }
  return { hash: h.digest('hex'), count };
}

function luhn(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

describe('simulator: determinism', () => {
  it('gives byte-identical profiles, events and truth for the same options', () => {
    const opts = { seed: 42, customers: 300, start, days: 60 };
    const a = createBank(opts);
    const b = createBank(opts);
    expect(JSON.stringify(a.profiles())).toBe(JSON.stringify(b.profiles()));
    expect(JSON.stringify([...a.truth()])).toBe(JSON.stringify([...b.truth()]));
    const da = digest(a.events());
    expect(da.count).toBeGreaterThan(10_000);
    expect(digest(b.events())).toEqual(da);
    // A second pass over the same bank is identical too.
    expect(digest(a.events())).toEqual(da);
  });

  it('differs with the seed, and event ids never collide across different options', () => {
    const a = createBank({ seed: 1, customers: 50, start, days: 10 });
    const b = createBank({ seed: 2, customers: 50, start, days: 10 });
    const c = createBank({ seed: 1, customers: 50, start, days: 11 });
    expect(digest(a.events()).hash).not.toBe(digest(b.events()).hash);
    expect(new Set([a.options.idPrefix, b.options.idPrefix, c.options.idPrefix]).size).toBe(3);
  });
});

describe('simulator: events', () => {
  const bank = createBank({ seed: 7, customers: 500, start, days: 90 });
  const events = [...bank.events()];
  const profiles = bank.profiles();

  it('are all valid against the contract schemas', () => {
    let tx = 0;
    let red = 0;
    let fb = 0;
    for (const ev of events) {
      if (ev.kind === 'transaction') {
        tx++;
        if (!Value.Check(TransactionV1, ev.body)) throw new Error(`invalid: ${JSON.stringify(ev.body)} ${JSON.stringify([...Value.Errors(TransactionV1, ev.body)][0])}`);
      } else if (ev.kind === 'redemption') {
        red++;
        if (!Value.Check(RedemptionV1, ev.body)) throw new Error(`invalid: ${JSON.stringify(ev.body)}`);
      } else {
        fb++;
        if (!Value.Check(FeedbackV1, ev.body)) throw new Error(`invalid: ${JSON.stringify(ev.body)}`);
      }
    }
    expect(tx).toBeGreaterThan(30_000);
    expect(red).toBeGreaterThan(20);
    expect(fb).toBeGreaterThan(20);
    for (const p of profiles) expect(Value.Check(CustomerProfileV1, p)).toBe(true);
  });

  it('cover every channel, declines, reversals and bills paid early and late', () => {
    const tx = events.flatMap((e) => (e.kind === 'transaction' ? [e.body] : []));
    const channels = new Set(tx.map((t) => t.channel));
    expect([...channels].sort()).toEqual(['atm', 'bill_pay', 'deposit', 'fuel', 'installment', 'online', 'pos', 'transfer']);
    const declined = tx.filter((t) => t.status === 'declined').length / tx.length;
    expect(declined).toBeGreaterThan(0.02);
    expect(declined).toBeLessThan(0.06);
    const originals = tx.filter((t) => (t.channel === 'pos' || t.channel === 'online') && !t.reverses_tx_id).length;
    const reversals = tx.filter((t) => t.reverses_tx_id);
    expect(reversals.length / originals).toBeGreaterThan(0.003);
    expect(reversals.length / originals).toBeLessThan(0.008);
    const bills = tx.filter((t) => t.due_date && t.status === 'approved');
    const early = bills.filter((t) => t.occurred_at.slice(0, 10) < t.due_date!).length / bills.length;
    const late = bills.filter((t) => t.occurred_at.slice(0, 10) > t.due_date!).length / bills.length;
    expect(early).toBeGreaterThan(0.3);
    expect(late).toBeGreaterThan(0.1);
    const pos = tx.filter((t) => t.channel === 'pos').map((t) => t.amount_minor).sort((x, y) => x - y);
    const median = pos[Math.floor(pos.length / 2)]!;
    expect(median).toBeGreaterThan(500_000);
    expect(median).toBeLessThan(3_000_000);
    expect(tx.every((t) => t.currency === 'IRR' && t.amount_minor % 1000 === 0)).toBe(true);
  });

  it('come in event-time order inside the span, with unique ids and RFC 3339 millisecond times', () => {
    const ids = new Set<string>();
    let last = '';
    const problems: string[] = [];
    for (const ev of events) {
      const id = ev.kind === 'transaction' ? ev.body.tx_id : ev.kind === 'redemption' ? ev.body.redemption_id : ev.body.feedback_id;
      const at = ev.body.occurred_at!;
      if (ids.has(id)) problems.push(`duplicate id ${id}`);
      ids.add(id);
      if (!RFC3339_MS.test(at)) problems.push(`bad time ${at}`);
      if (at < last) problems.push(`${id} at ${at} comes after ${last}`);
      last = at;
    }
    expect(problems.slice(0, 5)).toEqual([]);
    expect(events[0]!.body.occurred_at! >= start.toISOString()).toBe(true);
    expect(last < bank.options.end.toISOString()).toBe(true);
    expect(events[0]!.kind === 'transaction' && events[0]!.body.tx_id).toMatch(new RegExp(`^T${bank.options.idPrefix}-\\d+$`));
  });

  it('reverse an earlier approved transaction of the same customer, for the same amount', () => {
    const byId = new Map<string, TransactionV1>();
    let n = 0;
    for (const ev of events) {
      if (ev.kind !== 'transaction') continue;
      const t = ev.body;
      if (t.reverses_tx_id) {
        const orig = byId.get(t.reverses_tx_id);
        expect(orig).toBeDefined();
        expect(orig!.customer_id).toBe(t.customer_id);
        expect(orig!.amount_minor).toBe(t.amount_minor);
        expect(orig!.status).toBe('approved');
        expect(orig!.occurred_at < t.occurred_at).toBe(true);
        n++;
      }
      byId.set(t.tx_id, t);
    }
    expect(n).toBeGreaterThan(50);
  });

  it('only come from customers with a profile, after they opened', () => {
    const opened = new Map(profiles.map((p) => [p.customer_id, p.opened_at]));
    const strays = events.filter((ev) => {
      const o = opened.get(ev.body.customer_id);
      return o === undefined || ev.body.occurred_at! < o;
    });
    expect(strays).toEqual([]);
  });
});

describe('simulator: profiles', () => {
  const bank = createBank({ seed: 3, customers: 2000, start, days: 365 });
  const profiles = bank.profiles();

  it('hold Luhn-valid, unique test card numbers and a plausible mix', () => {
    const cards = profiles.flatMap((p) => p.cards ?? []);
    expect(cards.length).toBeGreaterThan(2000);
    expect(new Set(cards).size).toBe(cards.length);
    for (const c of cards) expect(luhn(c)).toBe(true);
    for (const p of profiles) {
      expect(p.cards!.length).toBeGreaterThanOrEqual(1);
      expect(p.cards!.length).toBeLessThanOrEqual(2);
      expect(p.products).toContain('current_account');
    }
    expect(new Set(profiles.map((p) => p.segment))).toEqual(new Set(['mass', 'affluent', 'youth', 'senior', 'sme']));
    expect(new Set(profiles.map((p) => p.branch_id)).size).toBe(20);
    expect(profiles.map((p) => p.customer_id).slice(0, 2)).toEqual(['C000001', 'C000002']);
  });

  it('mix new customers with established ones of up to 10 years', () => {
    const tenureYears = profiles.map((p) => (start.getTime() - Date.parse(p.opened_at)) / (365 * 86_400_000));
    const opened = tenureYears.filter((y) => y <= 0).length / profiles.length;
    expect(opened).toBeGreaterThan(0.25);
    expect(opened).toBeLessThan(0.55);
    expect(Math.max(...tenureYears)).toBeLessThanOrEqual(10);
    expect(tenureYears.filter((y) => y > 5).length).toBeGreaterThan(100);
  });

  it('refer only to customers who opened earlier', () => {
    const opened = new Map(profiles.map((p) => [p.customer_id, p.opened_at]));
    const referred = profiles.filter((p) => p.referred_by);
    expect(referred.length).toBeGreaterThan(40);
    for (const p of referred) expect(opened.get(p.referred_by!)! <= p.opened_at).toBe(true);
  });
});

describe('simulator: options', () => {
  it('uses the configured currency and its minor units', () => {
    const bank = createBank({ seed: 5, customers: 100, start, days: 20, currency: 'USD' });
    const pos = [...bank.events()].flatMap((e) => (e.kind === 'transaction' && e.body.channel === 'pos' ? [e.body] : []));
    expect(pos.every((t) => t.currency === 'USD')).toBe(true);
    const median = pos.map((t) => t.amount_minor).sort((a, b) => a - b)[Math.floor(pos.length / 2)]!;
    expect(median).toBeGreaterThan(1000);
    expect(median).toBeLessThan(6000);
  });

  it('keeps events in order inside a span that starts at any instant, in any time zone', () => {
    const bank = createBank({ seed: 12, customers: 300, start: new Date('2025-07-01T13:47:12.345Z'), days: 4, utcOffsetMinutes: -300 });
    const times = [...bank.events()].map((e) => e.body.occurred_at!);
    expect(times.length).toBeGreaterThan(500);
    expect(times[0]! >= '2025-07-01T13:47:12.345Z').toBe(true);
    expect(times.at(-1)! < '2025-07-05T13:47:12.345Z').toBe(true);
    expect([...times].sort()).toEqual(times);
  });

  it('refuses bad options with a message', () => {
    expect(() => createBank({ seed: 1.5, customers: 1, start, days: 1 })).toThrow(/seed/);
    expect(() => createBank({ seed: 1, customers: -1, start, days: 1 })).toThrow(/customers/);
    expect(() => createBank({ seed: 1, customers: 1, start: new Date('x'), days: 1 })).toThrow(/start/);
    expect(() => createBank({ seed: 1, customers: 1, start, days: 0 })).toThrow(/days/);
    expect(() => createBank({ seed: 1, customers: 1, start, days: 1, currency: 'rial' })).toThrow(/currency/);
  });
});
