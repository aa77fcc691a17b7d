import { describe, expect, it } from 'vitest';
import { createBank, splitPass, type SimEvent } from '../../simulator/mod.js';

const DAY = 86_400_000;
const start = new Date('2026-06-01T09:30:00Z');
const options = { seed: 11, customers: 60, start, days: 40, feedback: 5 };
const cutover = start.getTime() + 40 * DAY;
const key = (e: SimEvent): string => (e.kind === 'transaction' ? e.body.tx_id : e.kind === 'redemption' ? e.body.redemption_id : e.body.feedback_id);

describe('a bank with a continuation (continueDays)', () => {
  it('keeps the span\'s transactions and redemptions, ids included, and goes on with the same customers, none opening after the span', () => {
    const plain = createBank(options);
    const going = createBank({ ...options, continueDays: 10 });
    const notFeedback = (e: SimEvent): boolean => e.kind !== 'feedback';
    const before = [...going.events()].filter((e) => Date.parse(e.body.occurred_at!) < cutover);
    expect(before.filter(notFeedback)).toEqual([...plain.events()].filter(notFeedback));
    const after = [...going.events()].filter((e) => Date.parse(e.body.occurred_at!) >= cutover);
    expect(after.length).toBeGreaterThan(100);
    expect(Math.max(...after.map((e) => Date.parse(e.body.occurred_at!)))).toBeLessThan(cutover + 10 * DAY);
    expect(going.profiles()).toEqual(plain.profiles());
    expect(going.profiles().every((p) => Date.parse(p.opened_at) < cutover)).toBe(true);
    expect(going.options.idPrefix).toBe(plain.options.idPrefix);
  });

  it('refuses a continuation past a year', () => {
    expect(() => createBank({ ...options, continueDays: 366 })).toThrow(/continueDays/);
  });
});

describe('splitPass', () => {
  it('gives the history before the cut-over, then the rest of the same pass stamped with the wall clock, in order, after the cut-over', () => {
    const bank = createBank({ ...options, continueDays: 20 });
    const all = [...bank.events()];
    let wall = cutover + 5000;
    const pass = splitPass(bank.events(), { cutover, clock: () => wall });
    const history = [...pass.history()];
    expect(history.map(key)).toEqual(all.filter((e) => Date.parse(e.body.occurred_at!) < cutover).map(key));
    const live: SimEvent[] = [];
    for (const e of pass.live()) {
      live.push(e);
      if (live.length % 7 === 0) wall += 1000; // the clock moves while events are taken; several share a millisecond
    }
    expect(history.length + live.length).toBe(all.length);
    expect(live.map(key)).toEqual(all.slice(history.length).map(key));
    const stamps = live.map((e) => Date.parse(e.body.occurred_at!));
    expect(stamps[0]).toBe(cutover + 5000);
    for (let i = 1; i < stamps.length; i++) expect(stamps[i]).toBeGreaterThan(stamps[i - 1]!);
    expect(pass.position.taken).toBe(live.length);
    expect(pass.position.simulatedAt).toBe(Date.parse(all.at(-1)!.body.occurred_at!));
    // A bill keeps how early it was paid: the due date moves with the payment, by whole days.
    const original = new Map(all.map((e) => [key(e), e]));
    const bills = live.filter((e) => e.kind === 'transaction' && e.body.due_date !== undefined);
    expect(bills.length).toBeGreaterThan(0);
    for (const b of bills) {
      if (b.kind !== 'transaction') continue;
      const o = original.get(b.body.tx_id)!;
      if (o.kind !== 'transaction') continue;
      const lead = (d: string, at: string): number => Date.parse(`${d}T00:00:00Z`) / DAY - Math.floor(Date.parse(at) / DAY);
      expect(lead(b.body.due_date!, b.body.occurred_at)).toBe(lead(o.body.due_date!, o.body.occurred_at));
    }
  });

  it('without the history, skips to where the live part resumes', () => {
    const bank = createBank({ ...options, continueDays: 20 });
    const all = [...bank.events()];
    const from = cutover + 3 * DAY;
    const pass = splitPass(bank.events(), { cutover, clock: () => cutover + 1 });
    const live = [...pass.live(from)];
    expect(live.map(key)).toEqual(all.filter((e) => Date.parse(e.body.occurred_at!) >= from).map(key));
    expect(Date.parse(live[0]!.body.occurred_at!)).toBe(cutover + 1);
  });
});
