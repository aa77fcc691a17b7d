/**
 * A refund that names a purchase not known yet (it arrived first) takes what its own amount earns, and
 * when the purchase arrives within `reversals.pending_days` it is settled to what it would have done
 * after the purchase (docs/loyalty.md, Refund before its purchase). And a reversal of a refund whose
 * record left the reversal window is still known as a refund's (Reversal of a refund, past the window).
 */
import { describe, expect, it } from 'vitest';
import { FEATURE_INDEX, featureValues } from '../../scorer/core/features/engine.js';
import type { CustomerState } from '../../scorer/core/state.js';
import { decodeRecord, encodeRecord } from '../../scorer/runtime/store/codec.js';
import { checkInvariants, DAY, Driver } from './helpers.js';
import { expectReplayFromEveryCut, pick, refund, REFUND_RULES, sendEvents, type RefundTx } from './refund-helpers.js';

const P = REFUND_RULES; // pos: 1 point a 10, per_tx 400; bonus 5 on every pos purchase; pending_days 7, window 60

const purchase = (d: Driver, id: string, occurredAt: string, amount: number, channel: 'pos' | 'atm' = 'pos'): void => void d.tx({ tx_id: id, occurred_at: occurredAt, amount_minor: amount, channel });
const voidOf = (d: Driver, refundId: string, occurredAt: string): void => void d.tx({ tx_id: `${refundId}:rev`, occurred_at: occurredAt, reverses_tx_id: refundId });
const settledRows = (d: Driver): unknown[][] => pick(d.rows().filter((r) => r.rule_id === 'refund:settled'), 'entry_id', 'kind', 'points', 'source_id', 'rules_version');
/** What must not depend on the order the purchase and its refund arrived in. */
const outcome = (c: CustomerState): unknown => {
  const L = c.loyalty;
  const rf = Object.fromEntries(Object.entries(L.refunds ?? {}).map(([id, r]) => [id, { pts: r.pts, of: r.of, amt: r.amt, ver: r.ver, m: r.m, exp: r.exp, rev: r.rev, early: r.early }]));
  return { balance: L.balance, debt: L.debt, earned: L.earned, refunds: rf, months: L.months, lots: L.lots.map((l) => [l.id, l.rem, l.exp]) };
};

describe('a refund that arrives before its purchase', () => {
  it('takes its own amount\'s points, then is settled when the purchase comes: the result is the linked one, the difference one refund:settled row', () => {
    const early = new Driver(P);
    refund(early, { tx_id: 'f', occurred_at: '2026-01-02T10:30:00Z', amount_minor: 400, refund_of_tx_id: 'a' }); // unlinked: −40
    expect(pick(early.rows(), 'entry_id', 'points', 'rule_id')).toEqual([['refund:tx:f', -40, 'refund:unlinked']]);
    expect(early.customer().loyalty.refunds!.f!.early).toEqual({ of: 'a', amt: 400, seq: 1 });
    purchase(early, 'a', '2026-01-02T10:00:00Z', 1000); // 100 + 5; linked share floor(105 × 400 / 1000) = 42
    expect(settledRows(early)).toEqual([['refund:settled:tx:f', 'refund', -2, 'a', 'R1']]);
    expect(early.scored.find((r) => r.tx_id === 'a')?.points).toBe(103);

    const linked = new Driver(P);
    purchase(linked, 'a', '2026-01-02T10:00:00Z', 1000);
    refund(linked, { tx_id: 'f', occurred_at: '2026-01-02T10:30:00Z', amount_minor: 400, refund_of_tx_id: 'a' });
    expect(outcome(early.customer())).toEqual(outcome(linked.customer()));
    expect(early.balance()).toBe(63);
    expect(early.rows().reduce((s, r) => s + Number(r.points), 0)).toBe(63);
    checkInvariants(early.customer());
  });

  it('gives back what it took too much (+ row) when the purchase earned less, and everything when it earned nothing', () => {
    const less = new Driver(P);
    refund(less, { tx_id: 'f', occurred_at: '2026-01-02T10:30:00Z', amount_minor: 3000, refund_of_tx_id: 'a' }); // −300
    purchase(less, 'a', '2026-01-02T10:00:00Z', 1000); // 105, refunded in full: 105
    expect(settledRows(less)).toEqual([['refund:settled:tx:f', 'refund', 195, 'a', 'R1']]);
    expect(less.balance()).toBe(0);
    expect(less.customer().loyalty.earned.a).toMatchObject({ rf: 1000, rp: 105 });

    const nothing = new Driver(P);
    purchase(nothing, 'x', '2026-01-01T10:00:00Z', 1000); // 105
    refund(nothing, { tx_id: 'f', occurred_at: '2026-01-02T10:30:00Z', amount_minor: 500, refund_of_tx_id: 'a' }); // −50
    purchase(nothing, 'a', '2026-01-02T10:00:00Z', 500, 'atm'); // earns nothing: the linked refund would take nothing
    expect(settledRows(nothing)).toEqual([['refund:settled:tx:f', 'refund', 50, 'a', 'R1']]);
    expect(nothing.balance()).toBe(105);
    expect(nothing.customer().loyalty.refunds!.f).toMatchObject({ pts: 0 });
    checkInvariants(nothing.customer());
  });

  it('a reversal of it after the settlement gives back the linked share; a reversal of the purchase then takes the rest', () => {
    const d = new Driver(P);
    refund(d, { tx_id: 'f', occurred_at: '2026-01-02T10:30:00Z', amount_minor: 400, refund_of_tx_id: 'a' });
    purchase(d, 'a', '2026-01-02T10:00:00Z', 1000);
    voidOf(d, 'f', '2026-01-02T11:00:00Z');
    expect(pick(d.rows().slice(-1), 'entry_id', 'points', 'rule_id', 'source_id')).toEqual([['reverse:tx:f:rev', 42, 'reversal:refund', 'f']]);
    expect(d.balance()).toBe(105);
    d.tx({ tx_id: 'ra', occurred_at: '2026-01-02T12:00:00Z', reverses_tx_id: 'a' });
    expect(d.balance()).toBe(0);
    checkInvariants(d.customer());

    const reversed = new Driver(P);
    refund(reversed, { tx_id: 'f', occurred_at: '2026-01-02T10:30:00Z', amount_minor: 400, refund_of_tx_id: 'a' });
    purchase(reversed, 'a', '2026-01-02T10:00:00Z', 1000);
    reversed.tx({ tx_id: 'ra', occurred_at: '2026-01-02T12:00:00Z', reverses_tx_id: 'a' }); // takes 105 − 42
    voidOf(reversed, 'f', '2026-01-02T13:00:00Z'); // the purchase is gone: nothing
    expect(reversed.balance()).toBe(0);
    expect(reversed.rows().filter((r) => r.entry_id === 'reverse:tx:f:rev')).toEqual([]);
  });

  it('several refunds of one purchase settle in arrival order, together never more than it earned', () => {
    const d = new Driver(P);
    refund(d, { tx_id: 'f1', occurred_at: '2026-01-02T10:10:00Z', amount_minor: 700, refund_of_tx_id: 'a' }); // −70
    refund(d, { tx_id: 'f2', occurred_at: '2026-01-02T10:20:00Z', amount_minor: 700, refund_of_tx_id: 'a' }); // −70
    purchase(d, 'a', '2026-01-02T10:00:00Z', 1000); // 105: f1 takes 73, f2 the remaining 32
    expect(settledRows(d)).toEqual([['refund:settled:tx:f1', 'refund', -3, 'a', 'R1'], ['refund:settled:tx:f2', 'refund', 38, 'a', 'R1']]);
    expect(d.balance()).toBe(0);
    expect(d.customer().loyalty.refunds!.f2).toMatchObject({ pts: 32, amt: 300, of: 'a' });
  });

  it('is settled in the features too: the purchase\'s day spend is the linked order\'s, and a void of the refund puts it back', () => {
    const now = Date.parse('2026-01-04T12:00:00Z');
    const spend = (d: Driver): number => featureValues(d.customer(), now)[FEATURE_INDEX.spend_30d_minor!]!;
    const features = (d: Driver): number[] => Array.from(featureValues(d.customer(), now));
    const linked = new Driver(P);
    purchase(linked, 'a', '2026-01-02T10:00:00Z', 1000);
    refund(linked, { tx_id: 'f', occurred_at: '2026-01-02T11:00:00Z', amount_minor: 300, refund_of_tx_id: 'a' });
    const early = new Driver(P);
    refund(early, { tx_id: 'f', occurred_at: '2026-01-02T11:00:00Z', amount_minor: 300, refund_of_tx_id: 'a' });
    expect(spend(early)).toBe(0);
    purchase(early, 'a', '2026-01-02T10:00:00Z', 1000);
    expect(spend(early)).toBe(700);
    expect(features(early)).toEqual(features(linked));
    for (const d of [linked, early]) voidOf(d, 'f', '2026-01-03T09:00:00Z');
    expect(spend(early)).toBe(1000);
    expect(features(early)).toEqual(features(linked));
  });

  it('stays unlinked when the purchase comes after pending_days, or when the refund was voided first', () => {
    const late = new Driver(P);
    refund(late, { tx_id: 'f', occurred_at: '2026-01-02T10:00:00Z', amount_minor: 400, refund_of_tx_id: 'a' });
    purchase(late, 'a', '2026-01-10T10:00:00Z', 1000); // 8 days later
    expect(settledRows(late)).toEqual([]);
    expect(late.balance()).toBe(65);
    expect(late.customer().loyalty.refunds!.f!.early).toBeUndefined();
    expect(late.customer().loyalty.earned.a!.rf).toBeUndefined();

    const voided = new Driver(P);
    refund(voided, { tx_id: 'f', occurred_at: '2026-01-02T10:00:00Z', amount_minor: 400, refund_of_tx_id: 'a' });
    voidOf(voided, 'f', '2026-01-02T10:10:00Z'); // +40
    purchase(voided, 'a', '2026-01-02T10:20:00Z', 1000);
    expect(settledRows(voided)).toEqual([]);
    expect(voided.balance()).toBe(105);
  });

  it('a replay from any checkpoint writes the same rows under the same ids and ends in the same state; the state survives the store\'s codec', () => {
    const events: RefundTx[] = [
      { tx_id: 'x', occurred_at: '2026-01-01T10:00:00Z', amount_minor: 2000 },
      { tx_id: 'f1', occurred_at: '2026-01-02T10:10:00Z', amount_minor: 700, kind: 'refund', refund_of_tx_id: 'a' },
      { tx_id: 'f2', occurred_at: '2026-01-02T10:20:00Z', amount_minor: 300, kind: 'refund', refund_of_tx_id: 'b' },
      { tx_id: 'a', occurred_at: '2026-01-02T10:00:00Z', amount_minor: 1000 },
      { tx_id: 'f1', occurred_at: '2026-01-02T10:10:00Z', amount_minor: 700, kind: 'refund', refund_of_tx_id: 'a' }, // redelivered
      { tx_id: 'f1:rev', occurred_at: '2026-01-02T12:00:00Z', reverses_tx_id: 'f1' },
      { tx_id: 'b', occurred_at: '2026-01-03T10:00:00Z', amount_minor: 600 },
    ];
    const send = (d: Driver, from: number, to = events.length): void => sendEvents(d, events, from, to);
    const straight = new Driver(P);
    send(straight, 0, 3);
    const waiting = straight.customer();
    expect(Object.values(waiting.loyalty.refunds!).map((r) => r.early?.of)).toEqual(['a', 'b']);
    expect(decodeRecord('customer', encodeRecord('customer', waiting), 'c1')).toEqual(JSON.parse(JSON.stringify(waiting)));
    send(straight, 3);
    expect(settledRows(straight).map((r) => r[0])).toEqual(['refund:settled:tx:f1', 'refund:settled:tx:f2']);
    expect(straight.rows().filter((r) => r.entry_id === 'refund:settled:tx:f1')).toHaveLength(1);
    expectReplayFromEveryCut(P, events, straight);
  });
});

describe('a reversal of a refund past the reversal window', () => {
  it('is known as a refund\'s: it books nothing and the features take it for no reversal of a purchase', () => {
    const d = new Driver(P);
    purchase(d, 'a', '2026-01-03T09:00:00Z', 1000);
    refund(d, { tx_id: 'f', occurred_at: '2026-01-03T10:00:00Z', amount_minor: 400, refund_of_tx_id: 'a' });
    purchase(d, 'b', '2026-03-10T10:00:00Z', 100); // 66 days later: the refund's record is pruned
    const L = d.customer().loyalty;
    expect(L.refunds).toBeUndefined();
    expect(Object.values(L.pastRefunds!)).toEqual([Math.floor(Date.parse('2026-01-03T10:00:00Z') / DAY)]);
    expect(decodeRecord('customer', encodeRecord('customer', d.customer()), 'c1')).toEqual(JSON.parse(JSON.stringify(d.customer())));
    const now = Date.parse('2026-03-10T12:00:00Z');
    const before = Array.from(featureValues(d.customer(), now));
    const balance = d.balance();
    d.tx({ tx_id: 'f:rev', occurred_at: '2026-03-10T11:00:00Z', reverses_tx_id: 'f', amount_minor: 400 }); // a reversal carries the amount
    expect(d.balance()).toBe(balance);
    expect(d.rows().filter((r) => Number(r.stream_seq) === d.seq)).toEqual([]);
    expect(Array.from(featureValues(d.customer(), now))).toEqual(before);
    expect(d.customer().loyalty.pending).toEqual({});
  });

  it('the same when the record was still there but past the window (not pruned yet): pruning changes no result', () => {
    const d = new Driver(P);
    purchase(d, 'a', '2026-01-01T10:00:00Z', 1000);
    refund(d, { tx_id: 'f', occurred_at: '2026-01-03T10:00:00Z', amount_minor: 400, refund_of_tx_id: 'a' });
    const balance = d.balance();
    voidOf(d, 'f', '2026-03-10T11:00:00Z');
    expect(d.balance()).toBe(balance);
    expect(d.customer().loyalty.refunds).toBeUndefined();
    expect(Object.keys(d.customer().loyalty.pastRefunds!)).toHaveLength(1);
  });

  it('is forgotten with the refund\'s id (the idempotency horizon): state stays bounded', () => {
    const d = new Driver(P, { config: { dedupHorizonMs: 100 * DAY } });
    purchase(d, 'a', '2026-01-01T10:00:00Z', 1000);
    refund(d, { tx_id: 'f', occurred_at: '2026-01-03T10:00:00Z', amount_minor: 400, refund_of_tx_id: 'a' });
    purchase(d, 'b', '2026-03-10T10:00:00Z', 100);
    expect(d.customer().loyalty.pastRefunds).toBeDefined();
    purchase(d, 'c', '2026-05-01T10:00:00Z', 100); // 118 days after the refund
    purchase(d, 'd', '2026-05-09T10:00:00Z', 100); // the next weekly pruning
    expect(d.customer().loyalty.pastRefunds).toBeUndefined();
  });
});
