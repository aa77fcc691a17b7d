/**
 * Refunds end to end at the edge: an ISO 8583 refund frame (processing code 20, or 22 for a credit
 * adjustment) becomes a refund event (`kind: refund`) that the contract accepts, naming the purchase its
 * field 90 names; a reversal of a refund (the refund voided) is a reversal event naming the refund's id.
 * HTTP ingest validates the new fields.
 */
import { describe, expect, it } from 'vitest';
import type { Publisher } from '../../platform/publisher.js';
import { IngestService } from '../../ingest/service.js';
import { tokenizePan } from '../../ingest/tokenize.js';
import { decode, encode, type FieldValue, type Iso8583Message } from '../../ingest/iso8583/codec.js';
import { mapToTransaction, type MappingResult } from '../../ingest/iso8583/mapping.js';
import { dialectConfig } from '../../ingest/iso8583/specfile.js';
import { fuzzApp } from '../fuzz/http-fuzz.js';

const KEY = 'refund-test-key';
const PAN = '4111111111111111';
const at = new Date('2026-04-20T05:09:00Z');
const cfg = dialectConfig();
const ingest = new IngestService({ publisher: {} as Publisher, partitions: 8, tokenKey: KEY });

/** Encodes and decodes the message under the default dialect, as the listener receives it, then maps it. */
const wire = (mti: string, extra: Record<number, FieldValue>): MappingResult => {
  const msg: Iso8583Message = {
    mti,
    fields: { 2: PAN, 3: '000000', 4: '000000012500', 7: '0420050805', 11: '000123', 32: '627412', 41: 'TERM0001', 42: 'MERCHANT-42    ', 49: '364', ...extra },
  };
  return mapToTransaction(decode(encode(msg, cfg.spec, cfg.options), cfg.spec, cfg.options), { now: at, tokenKey: KEY });
};
const event = (r: MappingResult): Record<string, unknown> => {
  if (!r.ok || r.kind === 'no_event') throw new Error(`no event: ${JSON.stringify(r)}`);
  const checked = ingest.prepare('transaction', r.tx, at);
  if (!checked.ok) throw new Error(`refused by ingest: ${JSON.stringify(checked.errors)}`);
  return checked.value;
};
/** Field 90 (ISO 8583:1987): original MTI, STAN, transmission date-time, acquirer and forwarder (11 each). */
const original = (stan: string, transmission: string): string => `0200${stan}${transmission}${'627412'.padStart(11, '0')}${'0'.repeat(11)}`;

describe('an ISO 8583 refund frame', () => {
  it('becomes a refund event naming the purchase its field 90 names (the id the purchase itself got)', () => {
    const purchase = event(wire('0200', { 11: '000300' }));
    const refund = event(wire('0200', { 3: '200000', 4: '000000005000', 7: '0420060000', 11: '000301', 90: original('000300', '0420050805') }));
    expect(purchase.kind).toBeUndefined();
    expect(refund).toEqual({
      tx_id: 'iso:627412:000301:20260420060000',
      customer_id: tokenizePan(PAN, KEY),
      channel: 'pos',
      amount_minor: 5000,
      currency: 'IRR',
      occurred_at: '2026-04-20T06:00:00Z',
      status: 'approved',
      kind: 'refund',
      refund_of_tx_id: purchase.tx_id,
      merchant_id: 'MERCHANT-42',
      terminal_id: 'TERM0001',
      card_token: tokenizePan(PAN, KEY),
    });
    expect(JSON.stringify(refund)).not.toContain(PAN);
  });

  it('without field 90 is a refund of an unknown purchase; an online refund stays online; a credit adjustment (22) is a refund too', () => {
    expect(event(wire('0200', { 3: '200000' }))).toMatchObject({ kind: 'refund', channel: 'pos' });
    expect(event(wire('0200', { 3: '200000' })).refund_of_tx_id).toBeUndefined();
    expect(event(wire('0200', { 3: '200000', 22: '810' }))).toMatchObject({ kind: 'refund', channel: 'online' });
    expect(event(wire('0200', { 3: '220000' }))).toMatchObject({ kind: 'refund', channel: 'pos' });
  });

  it('as a 0220 advice is booked under the id of the refund authorisation it completes (the two count once)', () => {
    const auth = event(wire('0100', { 3: '200000', 11: '000400' }));
    const advice = event(wire('0220', { 3: '200000', 11: '000401', 90: `0100000400${'0420050805'}${'627412'.padStart(11, '0')}${'0'.repeat(11)}` }));
    expect(advice).toMatchObject({ kind: 'refund', tx_id: auth.tx_id });
    expect(advice.refund_of_tx_id).toBeUndefined();
  });

  it('reversed (0420 with code 20 or 22) is a reversal naming the refund under the id the refund itself got, no refund of its own', () => {
    const refund = event(wire('0200', { 3: '200000', 4: '000000005000', 7: '0420060000', 11: '000301' }));
    const voided = event(wire('0420', { 3: '200000', 4: '000000005000', 7: '0420060500', 11: '000302', 90: original('000301', '0420060000') }));
    expect(voided).toMatchObject({ tx_id: `${String(refund.tx_id)}:rev`, reverses_tx_id: refund.tx_id, channel: 'pos', amount_minor: 5000 });
    expect(voided.kind).toBeUndefined();
    expect(voided.refund_of_tx_id).toBeUndefined();
    const adjustment = event(wire('0200', { 3: '220000', 11: '000303' }));
    expect(event(wire('0420', { 3: '220000', 11: '000303' }))).toMatchObject({ reverses_tx_id: adjustment.tx_id }); // no field 90: its own elements
    expect(event(wire('0420', { 3: '000000' }))).toMatchObject({ reverses_tx_id: 'iso:627412:000123:20260420050805' }); // a purchase's reversal as before
  });
});

describe('HTTP ingest of a refund', () => {
  const base = { tx_id: 't-2', customer_id: 'c-1', channel: 'pos', amount_minor: 100, currency: 'IRR', occurred_at: '2026-04-20T06:00:00Z' };
  const errors = (item: Record<string, unknown>): unknown => {
    const r = ingest.prepare('transaction', item, at);
    return r.ok ? [] : r.errors;
  };

  it('accepts a refund with or without the purchase it refunds, and a standard transaction', () => {
    expect(errors({ ...base, kind: 'refund', refund_of_tx_id: 't-1' })).toEqual([]);
    expect(errors({ ...base, kind: 'refund' })).toEqual([]);
    expect(errors({ ...base, kind: 'standard' })).toEqual([]);
  });

  it('POST /v1/transactions accepts a refund and answers a bad one 400 naming the field, item by item', async () => {
    const { app } = await fuzzApp();
    try {
      const res = await app.inject({
        method: 'POST', url: '/v1/transactions', headers: { 'content-type': 'application/json' },
        payload: [{ ...base, kind: 'refund', refund_of_tx_id: 't-1' }, { ...base, tx_id: 't-3', refund_of_tx_id: 't-1' }],
      });
      expect(res.statusCode).toBe(400); // a batch with a bad item; the good one is accepted all the same
      const body = res.json<{ results: { index: number; status: string; errors?: { field: string; message: string }[] }[] }>();
      expect(body.results.map((r) => [r.index, r.status, r.errors])).toEqual([
        [0, 'accepted', undefined],
        [1, 'invalid', [{ field: 'refund_of_tx_id', message: 'is only allowed on a refund (kind: refund)' }]],
      ]);
    } finally {
      await app.close();
    }
  });

  it('refuses, naming the field: an unknown kind, a purchase id on a non-refund, a refund of itself, a refund that is also a reversal, a bad id', () => {
    expect(errors({ ...base, kind: 'chargeback' })).toEqual([{ field: 'kind', message: 'must be one of: standard, refund' }]);
    expect(errors({ ...base, refund_of_tx_id: 't-1' })).toEqual([{ field: 'refund_of_tx_id', message: 'is only allowed on a refund (kind: refund)' }]);
    expect(errors({ ...base, kind: 'standard', refund_of_tx_id: 't-1' })).toEqual([{ field: 'refund_of_tx_id', message: 'is only allowed on a refund (kind: refund)' }]);
    expect(errors({ ...base, kind: 'refund', refund_of_tx_id: 't-2' })).toEqual([{ field: 'refund_of_tx_id', message: 'a refund cannot refund itself' }]);
    expect(errors({ ...base, kind: 'refund', reverses_tx_id: 't-1' })).toMatchObject([{ field: 'reverses_tx_id' }]);
    expect(errors({ ...base, kind: 'refund', refund_of_tx_id: 'has space' })).toMatchObject([{ field: 'refund_of_tx_id' }]);
    expect(errors({ ...base, kind: 'refund', refund_of_tx_id: '' })).toMatchObject([{ field: 'refund_of_tx_id' }]);
  });
});
