/**
 * Erasure of a customer named in other customers' data (`erase_mentions`, scorer/core/erasure.ts): who
 * referred a customer, and a referrer's credit for a referred customer who was erased, hold the erasure
 * id afterwards, in the state and in every later event; the referred feature and the points stay; a
 * pending bonus goes to the erasure id; a rebuild that knows the erasure first holds and emits the same.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ControlV1, RedemptionV1 } from '../../contracts/events.js';
import { partitionOf, txSubject } from '../../contracts/subjects.js';
import { eraseMentions, namesErased } from '../../scorer/core/erasure.js';
import { referralCreditId } from '../../scorer/core/loyalty/referral.js';
import { sha256Hex } from '../../scorer/core/sha256.js';
import { decodeTx } from '../../scorer/runtime/decode.js';
import { OutputEmit, outputCount } from '../../sinks/mapping.js';
import { DAY, Driver, rules } from '../loyalty/helpers.js';

const PARTS = 4;
const L1 = rules(`
version: "L1"
bank_time_offset: "+03:30"
tiers:
  window_months: 3
  levels:
    - { id: bronze, min_points: 0, multiplier: 1, expiry_days: 10 }
referral: { points: 250, window_days: 30, channels: [pos], min_amount_minor: 1000 }
rules:
  - { id: pos, when: { channels: [pos] }, award: { per_amount: { points: 1, per_minor: 1 } } }
`);
const REFERRER = 'alice-0001';
const REFERRED = 'bob-0002';
const ERASURE_ID = `erased-${'cd'.repeat(12)}`;
const OPENED = Date.parse('2026-01-01T00:00:00Z');
const at = (days: number): string => new Date(OPENED + days * DAY).toISOString();

type EraseMentions = Extract<ControlV1, { type: 'erase_mentions' }>;
const mentionsOf = (who: string): EraseMentions => ({
  control_id: `erase-mentions:${ERASURE_ID}`, type: 'erase_mentions', customer_sha256: createHash('sha256').update(who).digest('hex'), erasure_id: ERASURE_ID,
});

/** Applies the `erase_mentions` control message of `who` as the next event of `d`'s partition. */
function eraseNamesOf(d: Driver, who: string, mentions?: readonly string[]): OutputEmit {
  const emit = new OutputEmit();
  const ev = { seq: ++d.seq, partition: d.state.partition, msg: { kind: 'control' as const, body: mentionsOf(who) } };
  d.engine.apply(d.state, mentions ? { ...ev, mentions } : ev, emit);
  return emit;
}

function referredPartition(): Driver {
  const d = new Driver(L1, { partition: partitionOf(REFERRED, PARTS), partitions: PARTS });
  d.profile({ customer_id: REFERRED, opened_at: at(0), segment: 'retail', referred_by: REFERRER });
  d.tx({ tx_id: 'small', customer_id: REFERRED, occurred_at: at(1), amount_minor: 10 });
  return d;
}

/** The referrer's partition, credited for REFERRED's first qualifying transaction. */
function referrerPartition(): Driver {
  const d = new Driver(L1, { partition: partitionOf(REFERRER, PARTS), partitions: PARTS });
  d.tx({ tx_id: 'own', customer_id: REFERRER, occurred_at: at(1), amount_minor: 10 });
  const credit: RedemptionV1 & { occurred_at: string } = { redemption_id: referralCreditId('L1', REFERRED), customer_id: REFERRER, points: -250, occurred_at: at(2) };
  d.send({ kind: 'redemption', body: credit });
  return d;
}

describe('the core SHA-256', () => {
  it('is node:crypto\'s for ids of any length and script', () => {
    for (const text of ['', 'C000001', 'x'.repeat(55), 'x'.repeat(56), 'y'.repeat(64), 'é漢字🙂'.repeat(40), 'z'.repeat(1_000)]) {
      expect(sha256Hex(text), `${text.length} characters`).toBe(createHash('sha256').update(text).digest('hex'));
    }
  });
});

/** Applies a transaction by hand (phase 1 and 2) and returns its `referred` feature. */
function referredFeature(d: Driver, txId: string, occurredAt: string, amount: number): number {
  const emit = new OutputEmit();
  const pending = d.engine.apply(d.state, { seq: ++d.seq, partition: d.state.partition, msg: { kind: 'transaction', body: { tx_id: txId, customer_id: REFERRED, channel: 'pos', amount_minor: amount, currency: 'IRR', occurred_at: occurredAt } } }, emit);
  d.engine.complete(d.state, pending!, undefined, emit);
  d.publishes.push(...emit.publishes.filter((m) => m.subject.startsWith('tx.')));
  return pending!.features.referred!;
}

describe('erasing the customer who referred another', () => {
  it('writes the erasure id where the referred customer names the referrer; the referred feature stays; the bonus goes to the erasure id', () => {
    const d = referredPartition();
    expect(referredFeature(d, 'small-2', at(1.5), 10)).toBe(1);
    expect(namesErased(d.customer(REFERRED), { [sha256Hex(REFERRER)]: ERASURE_ID })).toBe(true);
    const emit = eraseNamesOf(d, REFERRER);
    expect(outputCount(emit), 'the erasure itself emits nothing').toBe(0);
    const c = d.customer(REFERRED);
    expect(c.profile?.referred_by).toBe(ERASURE_ID);
    expect(c.loyalty.referral?.by).toBe(ERASURE_ID);
    expect(JSON.stringify(d.state)).not.toContain(REFERRER);
    expect(referredFeature(d, 'first', at(3), 5_000), 'whether the customer was referred is a fact about them').toBe(1);
    expect(d.publishes, 'the pending bonus lands on the erasure id, on its partition').toEqual([{
      subject: `tx.${partitionOf(ERASURE_ID, PARTS)}.redemption`,
      msgId: `redemption:${referralCreditId('L1', REFERRED)}`,
      payload: { redemption_id: referralCreditId('L1', REFERRED), customer_id: ERASURE_ID, points: -250, occurred_at: at(3) },
    }]);
  });

  it('a profile sent again after the erasure is applied with the erasure id; a rebuild that meets the erasure first holds the same', () => {
    const live = referredPartition();
    eraseNamesOf(live, REFERRER);
    live.profile({ customer_id: REFERRED, opened_at: at(0), segment: 'premium', referred_by: REFERRER });
    expect(live.customer(REFERRED).profile).toEqual({ customer_id: REFERRED, opened_at: at(0), segment: 'premium', referred_by: ERASURE_ID });

    // A rebuild: the runtime reads the partition's erasures before its first event (nothing named yet).
    const rebuilt = new Driver(L1, { partition: partitionOf(REFERRED, PARTS), partitions: PARTS });
    eraseMentions(rebuilt.state, mentionsOf(REFERRER), []);
    rebuilt.profile({ customer_id: REFERRED, opened_at: at(0), segment: 'retail', referred_by: REFERRER });
    rebuilt.tx({ tx_id: 'small', customer_id: REFERRED, occurred_at: at(1), amount_minor: 10 });
    eraseNamesOf(rebuilt, REFERRER);
    const fresh = referredPartition();
    eraseNamesOf(fresh, REFERRER);
    expect(rebuilt.state).toEqual(fresh.state);
  });

  it('looks only at the customers the runtime names (a lazily loaded partition), and records the erasure for later events', () => {
    const d = referredPartition();
    eraseNamesOf(d, REFERRER, []);
    expect(d.customer(REFERRED).profile?.referred_by, 'not named: not looked at').toBe(REFERRER);
    expect(d.state.erased).toEqual({ [sha256Hex(REFERRER)]: ERASURE_ID });
    eraseNamesOf(d, REFERRER, ['nobody', REFERRED]);
    expect(d.customer(REFERRED).profile?.referred_by).toBe(ERASURE_ID);
    expect(Object.keys(d.state.customers), 'a named customer the partition does not hold is not created').toEqual([REFERRED]);
  });
});

describe('erasing a referred customer', () => {
  it('re-derives the referrer\'s credit id (redemption, lot, later rows) as the warehouse does; points stay', () => {
    const d = referrerPartition();
    const before = structuredClone(d.customer(REFERRER).loyalty);
    const renamed = `ref:L1:${ERASURE_ID}`;
    eraseNamesOf(d, REFERRED);
    const L = d.customer(REFERRER).loyalty;
    expect(JSON.stringify(d.state)).not.toContain(REFERRED);
    expect(Object.keys(L.redemptions)).toEqual(Object.keys(before.redemptions).map((id) => (id === referralCreditId('L1', REFERRED) ? renamed : id)));
    expect(L.lots.map((lot) => lot.id)).toEqual(before.lots.map((lot) => (lot.id === referralCreditId('L1', REFERRED) ? renamed : lot.id)));
    expect(L.balance).toBe(before.balance);
    // The credit redelivered (a replay of the referred partition's publish) is a duplicate, not a second bonus.
    const again: RedemptionV1 & { occurred_at: string } = { redemption_id: referralCreditId('L1', REFERRED), customer_id: REFERRER, points: -250, occurred_at: at(2) };
    d.send({ kind: 'redemption', body: again });
    expect(d.customer(REFERRER).loyalty.balance).toBe(before.balance);
    // The lot expires under its new id.
    const expiry = d.tx({ tx_id: 'late', customer_id: REFERRER, occurred_at: at(40), amount_minor: 10 });
    const rows = JSON.stringify(expiry.rows.get('points_ledger') ?? []);
    expect(rows).toContain(renamed);
    expect(rows).not.toContain(REFERRED);
  });

  it('a rebuild that meets the erasure first emits no row naming the referred customer, and holds what the live partition holds', () => {
    const rebuilt = new Driver(L1, { partition: partitionOf(REFERRER, PARTS), partitions: PARTS });
    eraseMentions(rebuilt.state, mentionsOf(REFERRED), []);
    rebuilt.tx({ tx_id: 'own', customer_id: REFERRER, occurred_at: at(1), amount_minor: 10 });
    rebuilt.send({ kind: 'redemption', body: { redemption_id: referralCreditId('L1', REFERRED), customer_id: REFERRER, points: -250, occurred_at: at(2) } });
    eraseNamesOf(rebuilt, REFERRED);
    expect(JSON.stringify(rebuilt.ledger)).not.toContain(REFERRED);
    expect(rebuilt.ledger.map((r) => r.entry_id)).toContain(`credit:rd:ref:L1:${ERASURE_ID}`);
    const live = referrerPartition();
    eraseNamesOf(live, REFERRED);
    expect(rebuilt.state).toEqual(live.state);
  });

  it('a credit still addressed to the erased customer lands on the erasure id, never re-creates them', () => {
    const d = new Driver(L1, { partition: partitionOf(REFERRER, PARTS), partitions: PARTS });
    eraseNamesOf(d, REFERRER);
    d.send({ kind: 'redemption', body: { redemption_id: referralCreditId('L1', REFERRED), customer_id: REFERRER, points: -250, occurred_at: at(2) } });
    expect(Object.keys(d.state.customers)).toEqual([ERASURE_ID]);
    expect(d.customer(ERASURE_ID).loyalty.balance).toBe(250);
  });
});

describe('the erase_mentions control message', () => {
  it('is validated as a control message: no customer id may ride along, the hash and the erasure id are checked, naming the field', () => {
    const subject = txSubject(0, 'control');
    const decode = (body: unknown): ReturnType<typeof decodeTx> => decodeTx(subject, Buffer.from(JSON.stringify(body)));
    expect(decode(mentionsOf(REFERRER)).ok).toBe(true);
    for (const [field, body] of [
      ['customer_sha256', { ...mentionsOf(REFERRER), customer_sha256: 'ABC' }],
      ['erasure_id', { ...mentionsOf(REFERRER), erasure_id: 'C000001' }],
      ['customer_id', { ...mentionsOf(REFERRER), customer_id: REFERRER }],
    ] as const) {
      const bad = decode(body);
      expect(bad.ok, field).toBe(false);
      if (!bad.ok) expect(bad.detail, field).toMatch(new RegExp(field === 'customer_id' ? 'customer_id|additional' : field));
    }
  });
});
