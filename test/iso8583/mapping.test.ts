import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TransactionV1 } from '../../contracts/events.js';
import { tokenizePan } from '../../ingest/tokenize.js';
import { Validator } from '../../ingest/validation.js';
import { decode, type FieldValue, type Iso8583Message } from '../../ingest/iso8583/codec.js';
import {
  buildResponse, cardTokenOf, DEFAULT_TABLES, inferDateTime, mapToTransaction, parseOriginalDataElements, responseMti,
  toTransaction, txIdFor, type MappingResult, type MappingTables,
} from '../../ingest/iso8583/mapping.js';
import { fixture } from './helpers.js';

const KEY = 'test-token-key';
const PAN = '4111111111111111';
const validator = new Validator<TransactionV1>(TransactionV1);
/** A switch whose private transaction types 18 and 38 are purchases (as in the moov-io samples). */
const BANK: MappingTables = { ...DEFAULT_TABLES, processingCodes: { ...DEFAULT_TABLES.processingCodes, '18': 'pos', '38': 'pos' } };
const moov = (file: string): Iso8583Message => decode(fixture(`moov-io/${file}`));
const ok = (r: MappingResult): TransactionV1 => {
  if (!r.ok) throw new Error(`refused: ${r.responseCode} field ${r.field}: ${r.reason}`);
  if (r.kind === 'no_event') throw new Error(`no event: ${r.direction}`);
  return r.tx;
};
const purchase = (fields: Record<number, FieldValue>, mti = '0200'): Iso8583Message => ({
  mti,
  fields: { 2: PAN, 3: '000000', 4: '000000012500', 7: '0420050805', 11: '000123', 32: '627412', 41: 'TERM0001', 42: 'MERCHANT-42    ', 49: '364', ...fields },
});
const at = new Date('2026-04-20T05:09:00Z');

describe('moov-io 0200 financial request', () => {
  const msg = moov('financial_transaction_message.dat');

  it('is refused as an unsupported transaction type (38 is an inquiry code in ISO 8583:1987) under the defaults', () => {
    expect(mapToTransaction(msg, { now: at, tokenKey: KEY })).toEqual({ ok: false, kind: 'invalidTransaction', responseCode: '12', field: 3, reason: 'transaction type 38 (processing code) is not supported' });
  });

  it('is a format error for lack of card data under a table that supports type 38', () => {
    expect(mapToTransaction(msg, { now: at, tokenKey: KEY, tables: BANK })).toMatchObject({ ok: false, responseCode: '30', field: 2 });
  });

  it('maps field by field once it carries a PAN', () => {
    const withPan = { ...msg, fields: { ...msg.fields, 2: PAN } };
    const tx = ok(mapToTransaction(withPan, { now: at, tokenKey: KEY, tables: BANK }));
    expect(tx).toEqual({
      tx_id: 'iso:2000001:011392:20260420050805', // acquirer 32, STAN 11, field 7 with the inferred year
      customer_id: tokenizePan(PAN, KEY),
      channel: 'pos', // type 38 → pos; MCC 5132 refines nothing
      amount_minor: 0, // field 4 000000000000, already minor units
      currency: 'IDR', // 360, exponent 2
      occurred_at: '2026-04-20T05:08:05Z', // field 7 0420050805 UTC
      status: 'approved',
      mcc: '5132',
      merchant_id: '0800411', // field 42 trimmed; no field 41 in this message
      card_token: tokenizePan(PAN, KEY),
    });
    expect(JSON.stringify(tx)).not.toContain(PAN);
    expect(validator.validate(tx).ok).toBe(true);
  });
});

describe('moov-io reversals', () => {
  const now = new Date('2026-01-09T08:07:00Z');
  const reversal = moov('iso_reversal_message.dat');
  const cardToken = tokenizePan('1111111110000000000', KEY);

  it('maps the 0400 to a reversal of the original named by field 90', () => {
    expect(parseOriginalDataElements(String(reversal.fields[90]))).toEqual({ mti: '0200', stan: '003316', transmission: '0908064519', acquirer: '00000000200', forwarder: '00000000000' });
    const tx = ok(mapToTransaction(reversal, { now, tokenKey: KEY, tables: BANK }));
    expect(tx).toEqual({
      tx_id: 'iso:200:003316:20250908064519:rev',
      reverses_tx_id: 'iso:200:003316:20250908064519', // 0908064519 lies nearest 2026-01-09 in 2025
      customer_id: cardToken,
      channel: 'pos',
      amount_minor: 30000,
      currency: 'IDR',
      occurred_at: '2026-01-09T08:06:46Z',
      status: 'approved',
      mcc: '9601',
      merchant_id: '00003430003948',
      card_token: cardToken,
    });
    expect(validator.validate(tx).ok).toBe(true);
  });

  it('gives the original 0200 named by field 90 the same id the reversal rebuilds', () => {
    const original = purchase({ 2: '1111111110000000000', 3: '180000', 4: '000000030000', 7: '0908064519', 11: '003316', 32: '00000000200', 49: '360' });
    const orig = ok(mapToTransaction(original, { now: new Date('2025-09-08T06:45:20Z'), tokenKey: KEY, tables: BANK }));
    const rev = ok(mapToTransaction(reversal, { now, tokenKey: KEY, tables: BANK }));
    expect(rev.reverses_tx_id).toBe(orig.tx_id);
    expect(rev.customer_id).toBe(orig.customer_id);
  });

  it('refuses the moov 0401 for its malformed field 90, and gives a repeat the same ids as the 0400', () => {
    const repeat = moov('iso_reversal_repeat_message.dat');
    // This sample's field 90 is the 0400's shifted by 4 digits: original MTI "3132", date "3316090806".
    expect(mapToTransaction(repeat, { now, tokenKey: KEY, tables: BANK })).toMatchObject({ ok: false, responseCode: '30', field: 90 });
    const a = ok(mapToTransaction(reversal, { now, tokenKey: KEY, tables: BANK }));
    const b = ok(mapToTransaction({ ...repeat, fields: { ...repeat.fields, 90: reversal.fields[90]! } }, { now, tokenKey: KEY, tables: BANK }));
    expect(b.tx_id).toBe(a.tx_id);
    expect(b.reverses_tx_id).toBe(a.reverses_tx_id);
  });

  it('refuses the 0420 advice: no currency, then no card data', () => {
    const advice = moov('iso_reversal_message_advice.dat');
    expect(mapToTransaction(advice, { now, tokenKey: KEY })).toMatchObject({ ok: false, responseCode: '12', field: 3 });
    expect(mapToTransaction(advice, { now, tokenKey: KEY, tables: BANK })).toMatchObject({ ok: false, responseCode: '30', field: 49 });
    expect(mapToTransaction(advice, { now, tokenKey: KEY, tables: { ...BANK, defaultCurrency: '360' } })).toMatchObject({ ok: false, responseCode: '30', field: 2 });
  });

  it('agrees on the original id across a year boundary', () => {
    const original = purchase({ 7: '1231235959', 11: '000777' });
    const orig = ok(mapToTransaction(original, { now: new Date('2025-12-31T23:59:59Z'), tokenKey: KEY }));
    const rev = purchase({ 7: '0101000004', 11: '000778', 90: `0200000777123123595900000627412${'0'.repeat(11)}` }, '0420');
    const r = ok(mapToTransaction(rev, { now: new Date('2026-01-01T00:00:05Z'), tokenKey: KEY }));
    expect(orig.tx_id).toBe('iso:627412:000777:20251231235959');
    expect(r.reverses_tx_id).toBe(orig.tx_id);
    expect(r.tx_id).toBe(`${orig.tx_id}:rev`);
  });

  it('falls back to the reversal\'s own elements without field 90, and refuses a malformed one', () => {
    const r = ok(mapToTransaction(purchase({}, '0400'), { now: at, tokenKey: KEY }));
    expect(r.reverses_tx_id).toBe('iso:627412:000123:20260420050805');
    expect(mapToTransaction(purchase({ 90: '0200' }, '0400'), { now: at, tokenKey: KEY })).toMatchObject({ ok: false, responseCode: '30', field: 90 });
  });

  it('lets a dual-message bank book completions only: 0100 and reversals of it are not supported', () => {
    const { '0100': _a, '0101': _b, ...rest } = DEFAULT_TABLES.messageClasses;
    const tables: MappingTables = { ...DEFAULT_TABLES, messageClasses: rest };
    expect(mapToTransaction(purchase({}, '0100'), { now: at, tokenKey: KEY, tables })).toMatchObject({ ok: false, responseCode: '12' });
    const rev = purchase({ 90: `0100000123042005080500000627412${'0'.repeat(11)}` }, '0400');
    expect(mapToTransaction(rev, { now: at, tokenKey: KEY, tables })).toMatchObject({ ok: false, responseCode: '12', field: 90 });
    expect(ok(mapToTransaction(rev, { now: at, tokenKey: KEY })).reverses_tx_id).toBe('iso:627412:000123:20260420050805');
    expect(ok(mapToTransaction(purchase({}, '0220'), { now: at, tokenKey: KEY, tables })).tx_id).toBe('iso:627412:000123:20260420050805');
  });
});

describe('mapping tables', () => {
  const map = (fields: Record<number, FieldValue>, mti = '0200', tables?: MappingTables): MappingResult =>
    mapToTransaction(purchase(fields, mti), { now: at, tokenKey: KEY, ...(tables ? { tables } : {}) });
  const channel = (fields: Record<number, FieldValue>): string => ok(map(fields)).channel;

  it('derives the channel from the processing code, e-commerce indicators and the MCC', () => {
    expect(channel({ 3: '000000' })).toBe('pos');
    expect(channel({ 3: '000000', 22: '812' })).toBe('online');
    expect(channel({ 3: '000000', 25: '59' })).toBe('online');
    expect(channel({ 3: '000000', 18: '5541' })).toBe('fuel');
    expect(channel({ 3: '000000', 18: '5542', 25: '59' })).toBe('online');
    expect(channel({ 3: '000000', 18: '4900' })).toBe('bill_pay');
    expect(channel({ 3: '000000', 18: '4814', 22: '810' })).toBe('bill_pay');
    expect(channel({ 3: '010000', 18: '6011' })).toBe('atm');
    expect(channel({ 3: '401020' })).toBe('transfer');
    expect(channel({ 3: '500000' })).toBe('bill_pay');
    expect(channel({ 3: '210000' })).toBe('deposit');
    expect(channel({ 3: '090000' })).toBe('pos');
    expect(map({ 3: '380000' })).toMatchObject({ ok: false, responseCode: '12', field: 3 });
    expect(map({ 3: '310000' })).toMatchObject({ ok: true, kind: 'no_event', direction: 'inquiry' });
    expect(ok(map({ 3: '200000' }))).toMatchObject({ kind: 'refund', channel: 'pos' });
    expect(map({ 3: '31000' })).toMatchObject({ ok: false, responseCode: '30', field: 3 });
    const installments: MappingTables = { ...DEFAULT_TABLES, processingCodes: { ...DEFAULT_TABLES.processingCodes, '19': 'installment' } };
    expect(ok(map({ 3: '190000' }, '0200', installments)).channel).toBe('installment');
  });

  it('keeps field 4 as minor units and names the currency from field 49', () => {
    expect(ok(map({ 4: '000001500000', 49: '364' }))).toMatchObject({ amount_minor: 1_500_000, currency: 'IRR' });
    expect(ok(map({ 4: '000000012345', 49: '360' }))).toMatchObject({ amount_minor: 12345, currency: 'IDR' });
    expect(ok(map({ 4: '000000000500', 49: '392' }))).toMatchObject({ amount_minor: 500, currency: 'JPY' });
    expect(ok(map({ 4: '000000001250', 49: '048' }))).toMatchObject({ amount_minor: 1250, currency: 'BHD' });
    for (const [num, alpha] of [['840', 'USD'], ['978', 'EUR'], ['826', 'GBP'], ['784', 'AED']]) expect(ok(map({ 49: num! })).currency).toBe(alpha);
    expect(map({ 49: '999' })).toMatchObject({ ok: false, responseCode: '30', field: 49 }); // XXX, "no currency"
    expect(map({ 49: '000' })).toMatchObject({ ok: false, responseCode: '30', field: 49 });
    expect(map({ 4: undefined as unknown as string })).toMatchObject({ ok: false, responseCode: '30', field: 4 });
  });

  it('declines a financial advice whose field 39 is not an approval, but never a reversal', () => {
    expect(ok(map({ 39: '00' }, '0220')).status).toBe('approved');
    expect(ok(map({ 39: '10' }, '0220')).status).toBe('approved');
    expect(ok(map({ 39: '05' }, '0220')).status).toBe('declined');
    expect(ok(map({ 39: '51' }, '0100')).status).toBe('declined');
    expect(ok(map({ 39: '68' }, '0420')).status).toBe('approved');
  });

  it('takes occurred_at from field 7, or from local fields 13/12 at the configured offset', () => {
    expect(ok(map({})).occurred_at).toBe('2026-04-20T05:08:05Z');
    const local: MappingTables = { ...DEFAULT_TABLES, occurredAt: { prefer: 'local', localUtcOffset: '+03:30' } };
    expect(ok(map({ 13: '0420', 12: '083805' }, '0200', local)).occurred_at).toBe('2026-04-20T05:08:05Z');
    expect(ok(map({}, '0200', local)).occurred_at).toBe('2026-04-20T05:08:05Z');
    expect(map({ 7: '1332000000' })).toMatchObject({ ok: false, responseCode: '30', field: 7 });
    expect(map({ 7: undefined as unknown as string })).toMatchObject({ ok: false, responseCode: '30', field: 7 });
    expect(inferDateTime('1231235959', new Date('2027-01-01T00:00:10Z'))?.toISOString()).toBe('2026-12-31T23:59:59.000Z');
    expect(inferDateTime('0101000000', new Date('2026-12-31T23:00:00Z'))?.toISOString()).toBe('2027-01-01T00:00:00.000Z');
    expect(inferDateTime('0229120000', new Date('2028-03-01T00:00:00Z'))?.toISOString()).toBe('2028-02-29T12:00:00.000Z');
    expect(inferDateTime('0230120000', at)).toBeUndefined();
  });

  it('infers the year of an MMDDhhmmss as a reading of every candidate year would (latest not past a day ahead, else the earliest)', () => {
    const reference = (s: string, ref: Date, offset: number): string | undefined => {
      const m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(s);
      if (!m) return undefined;
      const [mo, d, h, mi, sec] = m.slice(1).map(Number) as [number, number, number, number, number];
      if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59) return undefined;
      const candidates = [-1, 0, 1].map((k) => ref.getUTCFullYear() + k)
        .filter((y) => new Date(Date.UTC(y, mo - 1, d)).getUTCMonth() === mo - 1)
        .map((y) => Date.UTC(y, mo - 1, d, h, mi, sec) - offset * 60_000);
      const notAhead = candidates.filter((t) => t <= ref.getTime() + 86_400_000);
      const pick = notAhead.length ? Math.max(...notAhead) : candidates[0];
      return pick === undefined ? undefined : new Date(pick).toISOString();
    };
    const two = (max: number): fc.Arbitrary<string> => fc.integer({ min: 0, max }).map((n) => String(n).padStart(2, '0'));
    const text = fc.oneof(
      fc.tuple(two(13), two(32), two(25), two(61), two(61)).map((p) => p.join('')),
      fc.string({ unit: fc.constantFrom('0', '1', '2', '9', 'a', ' '), minLength: 9, maxLength: 11 }),
      fc.constantFrom('0229120000', '0230000000', '1231235959', '0101000000'),
    );
    const ref = fc.integer({ min: Date.UTC(1999, 0, 1), max: Date.UTC(2101, 0, 1) }).map((t) => new Date(t));
    fc.assert(fc.property(text, ref, fc.integer({ min: -900, max: 900 }), (s, r, offset) => {
      expect(inferDateTime(s, r, offset)?.toISOString()).toBe(reference(s, r, offset));
    }), { numRuns: 20_000 });
  });

  it('tokenizes the PAN from field 2 or track 2, never exposing it', () => {
    const token = tokenizePan(PAN, KEY);
    expect(cardTokenOf({ 2: PAN }, KEY)).toEqual({ token });
    expect(cardTokenOf({ 35: `${PAN}=25121011234` }, KEY)).toEqual({ token });
    expect(cardTokenOf({ 2: '', 35: `;${PAN}D2512101?` }, KEY)).toEqual({ token });
    expect(cardTokenOf({ 35: '41111=2512' }, KEY)).toMatchObject({ error: { field: 35 } });
    expect(cardTokenOf({}, KEY)).toBeUndefined();
    const tx = ok(mapToTransaction(purchase({ 2: undefined as unknown as string, 35: `${PAN}=25121011234` }), { now: at, tokenKey: KEY }));
    expect(tx.card_token).toBe(token);
    expect(JSON.stringify(tx)).not.toMatch(/4111111111111111|411111/);
    expect(map({ 2: '41111' })).toMatchObject({ ok: false, responseCode: '30', field: 2 });
  });

  it('keys the customer by the card directory when a profile lists the card', async () => {
    const token = tokenizePan(PAN, KEY);
    const cards = { register: async () => undefined, lookup: async (t: string) => (t === token ? 'cust-42' : undefined) };
    const r = await toTransaction(purchase({}), { now: at, tokenKey: KEY, cards });
    expect(ok(r)).toMatchObject({ customer_id: 'cust-42', card_token: token });
    const other = await toTransaction(purchase({ 2: '5500000000000004' }), { now: at, tokenKey: KEY, cards });
    expect(ok(other).customer_id).toBe(tokenizePan('5500000000000004', KEY));
  });

  it('refuses MTIs that are not financial messages or reversals', () => {
    expect(map({}, '0800')).toMatchObject({ ok: false, responseCode: '12' });
    expect(map({}, '0210')).toMatchObject({ ok: false, responseCode: '12' });
  });

  it('builds ids only from digits and a valid date', () => {
    expect(txIdFor({ acquirer: '', stan: '000001', transmission: '0101000000' }, at)).toBe('iso:0:000001:20260101000000');
    expect(txIdFor({ acquirer: '12a', stan: '000001', transmission: '0101000000' }, at)).toBeUndefined();
  });
});

describe('responses', () => {
  it('answers each request class with its response MTI', () => {
    const pairs = { '0100': '0110', '0101': '0110', '0200': '0210', '0220': '0230', '0221': '0230', '0400': '0410', '0401': '0410', '0420': '0430', '0421': '0430', '0800': '0810' };
    for (const [req, resp] of Object.entries(pairs)) expect(responseMti(req)).toBe(resp);
    expect(responseMti('0210')).toBeUndefined();
  });

  it('echoes the matching fields and field 39, but not the PAN', () => {
    const req = purchase({ 12: '120805', 13: '0420', 37: '000000115604', 90: '0'.repeat(42) });
    const resp = buildResponse(req, '00')!;
    expect(resp.mti).toBe('0210');
    expect(resp.fields).toEqual({ 3: '000000', 4: '000000012500', 7: '0420050805', 11: '000123', 12: '120805', 13: '0420', 32: '627412', 37: '000000115604', 39: '00', 41: 'TERM0001', 42: 'MERCHANT-42    ', 49: '364', 90: '0'.repeat(42) });
  });
});
