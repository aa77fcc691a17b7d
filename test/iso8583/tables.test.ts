/**
 * Bank-owned mapping tables in the spec file (validated, errors naming the line), the mapping they
 * drive (directions, e-commerce indicators, MCC fields, currencies, field 90 per dialect, advices).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TransactionV1 } from '../../contracts/events.js';
import { Validator } from '../../ingest/validation.js';
import { tokenizePan } from '../../ingest/tokenize.js';
import type { FieldValue, Iso8583Message } from '../../ingest/iso8583/codec.js';
import { CURRENCIES, mapToTransaction, responseMti, type MappingResult, type MappingTables } from '../../ingest/iso8583/mapping.js';
import { Iso8583SpecError } from '../../ingest/iso8583/spec.js';
import { dialectConfig, loadSpecFile, parseSpecConfig } from '../../ingest/iso8583/specfile.js';

const KEY = 'tables-test-key';
const PAN = '4111111111111111';
const at = new Date('2026-04-20T05:09:00Z');
const validator = new Validator<TransactionV1>(TransactionV1);
const ok = (r: MappingResult): TransactionV1 => {
  if (!r.ok) throw new Error(`refused: ${r.responseCode} field ${r.field}: ${r.reason}`);
  if (r.kind === 'no_event') throw new Error(`no event: ${r.direction}`);
  expect(validator.validate(r.tx).ok).toBe(true);
  return r.tx;
};
const msg = (fields: Record<number, FieldValue>, mti = '0200'): Iso8583Message => ({
  mti, fields: { 2: PAN, 3: '000000', 4: '000000012500', 7: '0420050805', 11: '000123', 32: '627412', 41: 'TERM0001', 49: '364', ...fields },
});
const map = (m: Iso8583Message, tables?: MappingTables): MappingResult => mapToTransaction(m, { now: at, tokenKey: KEY, ...(tables ? { tables } : {}) });

function specError(doc: unknown): Iso8583SpecError {
  try {
    parseSpecConfig(doc);
  } catch (e) {
    if (e instanceof Iso8583SpecError) return e;
    throw e;
  }
  throw new Error('accepted');
}

function writeSpec(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'iso8583-tables-')), 'bank.json');
  writeFileSync(path, text);
  return path;
}

describe('currencies', () => {
  it('has the whole ISO 4217 list, the withdrawn codes a backfill still carries, and IRR with exponent 0', () => {
    for (const [num, alpha] of [['191', 'HRK'], ['977', 'BAM'], ['807', 'MKD'], ['936', 'GHS'], ['834', 'TZS'], ['604', 'PEN'], ['858', 'UYU'], ['048', 'BHD']]) {
      expect(CURRENCIES[num!]?.alpha, num).toBe(alpha);
    }
    expect(Object.keys(CURRENCIES).length).toBeGreaterThan(170);
    expect(CURRENCIES['364']).toEqual({ alpha: 'IRR', exponent: 0 });
    expect(CURRENCIES['048']!.exponent).toBe(3);
    expect(CURRENCIES['999']).toBeUndefined(); // XXX: no currency
    expect(CURRENCIES['959']).toBeUndefined(); // XAU: gold
  });
});

describe('processing codes: channel and direction', () => {
  const t = parseSpecConfig({
    extends: 'iso8583:1987',
    tables: {
      processingCodes: {
        '17': { direction: 'purchase', channel: 'installment' },
        '170010': { direction: 'payment', channel: 'bill_pay' },
        '21': { direction: 'deposit' },
        '20': { direction: 'refund' },
        '22': { direction: 'adjustment' },
        '31': { direction: 'inquiry' },
        '09': null,
      },
    },
  }).tables;

  it('maps a 2-digit type, lets a whole 6-digit code win, and removes a type with null', () => {
    expect(ok(map(msg({ 3: '170000' }), t)).channel).toBe('installment');
    expect(ok(map(msg({ 3: '170010' }), t)).channel).toBe('bill_pay');
    expect(ok(map(msg({ 3: '210000' }), t)).channel).toBe('deposit');
    expect(map(msg({ 3: '090000' }), t)).toMatchObject({ ok: false, kind: 'invalidTransaction', responseCode: '12', field: 3 });
    expect(ok(map(msg({ 3: '000000' }), t)).channel).toBe('pos'); // the defaults stay
  });

  it('books no money for an inquiry, and never counts a refund or credit adjustment as a purchase', () => {
    expect(map(msg({ 3: '310000' }), t)).toMatchObject({ ok: true, kind: 'no_event', direction: 'inquiry' });
    expect(ok(map(msg({ 3: '200000' }), t))).toMatchObject({ kind: 'refund', channel: 'pos' });
    expect(ok(map(msg({ 3: '220000' }), t))).toMatchObject({ kind: 'refund', channel: 'pos' });
    expect(ok(map(msg({ 3: '200000' }, '0220'), t))).toMatchObject({ kind: 'refund' }); // a refund advice
    const voided = ok(map(msg({ 3: '200000' }, '0420'), t)); // a reversal of a refund: a reversal, not a refund
    expect(voided.reverses_tx_id).toBeDefined();
    expect(voided.kind).toBeUndefined();
    expect(ok(map(msg({ 3: '000000' }), t)).kind).toBeUndefined();
  });
});

describe('e-commerce indicators and MCC', () => {
  it('turns a pos purchase online by a rule on field 48, and reads the MCC from the configured fields', () => {
    const t = parseSpecConfig({
      extends: 'iso8583:1987',
      tables: {
        ecommerce: { posEntryModes: ['81'], rules: [{ field: 48, offset: 2, length: 2, values: ['EC', 'IN'] }] },
        mccFields: [18, 26],
        mccRules: [{ mcc: ['5812'], from: ['pos'], channel: 'fuel' }],
      },
    }).tables;
    expect(ok(map(msg({ 48: '01EC9' }), t)).channel).toBe('online');
    expect(ok(map(msg({ 48: '01XX9' }), t)).channel).toBe('pos');
    expect(ok(map(msg({ 22: '812' }), t)).channel).toBe('online');
    expect(ok(map(msg({ 25: '59' }), t)).channel).toBe('pos'); // posConditionCodes replaced by the bank's list
    expect(ok(map(msg({ 26: '5812' }), t))).toMatchObject({ channel: 'fuel', mcc: '5812' });
  });
});

describe('advices', () => {
  it('answers each advice with its response MTI', () => {
    expect(['0120', '0121', '0220', '0221', '0420', '0421', '1804', '1420'].map(responseMti)).toEqual(['0130', '0130', '0230', '0230', '0430', '0430', '1814', '1430']);
  });

  it('books an 0120 authorisation advice, and a 0220 completion under the id of the authorisation it names', () => {
    const auth = ok(map(msg({}, '0100')));
    expect(ok(map(msg({ 39: '00' }, '0120'))).tx_id).toBe(auth.tx_id);
    const completion = msg({ 11: '000777', 7: '0420060000', 4: '000000013000', 90: `0100000123042005080500000627412${'0'.repeat(11)}` }, '0220');
    const c = ok(map(completion));
    expect(c.tx_id).toBe(auth.tx_id); // the same id: a booked authorisation and its completion count once
    expect(c.amount_minor).toBe(13000);
    expect(c.reverses_tx_id).toBeUndefined();
    expect(ok(map({ ...completion, fields: { ...completion.fields, 90: undefined as unknown as string } })).tx_id).toBe('iso:627412:000777:20260420060000');
    // a dual-message bank that books completions only (0100 dropped) books it under the same id
    const dual = parseSpecConfig({ extends: 'iso8583:1987', tables: { messageClasses: { '0100': null, '0101': null } } }).tables;
    expect(map(msg({}, '0100'), dual)).toMatchObject({ ok: false, kind: 'invalidTransaction' });
    expect(ok(map(completion, dual))).toMatchObject({ tx_id: auth.tx_id, amount_minor: 13000 });
    expect(map({ ...completion, fields: { ...completion.fields, 90: `0800000123042005080500000627412${'0'.repeat(11)}` } })).toMatchObject({ ok: false, kind: 'formatError', field: 90 });
  });

  it('maps a 0421 repeat of a reversal advice to the same reversal as the 0420', () => {
    const f90 = `0200000123042005080500000627412${'0'.repeat(11)}`;
    const a = ok(map(msg({ 11: '000200', 90: f90 }, '0420')));
    const b = ok(map(msg({ 11: '000200', 90: f90 }, '0421')));
    expect(a.reverses_tx_id).toBe('iso:627412:000123:20260420050805');
    expect(b.tx_id).toBe(a.tx_id);
  });
});

describe('field 90 and ids per dialect', () => {
  it('base24: keys by field 37 and the local date and time, which BASE24\'s field 90 repeats', () => {
    const { tables } = dialectConfig('base24');
    const purchase = msg({ 37: '000000004711', 12: '083005', 13: '0420' });
    const orig = ok(map(purchase, tables));
    expect(orig.tx_id).toBe('iso:0:r000000004711:20260420083005');
    // original MTI, sequence number 12, date MMDD, time hhmmsshh, posting date, filler
    const f90 = `0200000000004711042008300500${'0420'}${'0'.repeat(10)}`;
    const rev = ok(map(msg({ 37: '000000004799', 12: '090000', 13: '0420', 90: f90 }, '0420'), tables));
    expect(rev.reverses_tx_id).toBe(orig.tx_id);
    expect(map(msg({ 37: '000000004799', 12: '090000', 13: '0420', 90: '0200' }, '0420'), tables)).toMatchObject({ ok: false, field: 90 });
  });

  it('iso8583:1993: field 12 as YYMMDDhhmmss, original data in field 56, MCC in 26, action codes', () => {
    const { tables } = dialectConfig('iso8583:1993');
    const purchase = msg({ 12: '260420083005', 26: '5541', 39: '000' }, '1200');
    const orig = ok(map(purchase, tables));
    expect(orig).toMatchObject({ tx_id: 'iso:627412:000123:20260420083005', channel: 'fuel', mcc: '5541', status: 'approved' });
    const f56 = `1200000123260420083005${'06'}627412`;
    const rev = ok(map(msg({ 11: '000300', 12: '260420090000', 56: f56 }, '1420'), tables));
    expect(rev.reverses_tx_id).toBe(orig.tx_id);
    expect(map(msg({ 3: '380000' }, '1200'), tables)).toMatchObject({ ok: false, responseCode: '902' });
    expect(map(msg({ 4: 'x' }, '1200'), tables)).toMatchObject({ ok: false, responseCode: '904', field: 4 });
    expect(ok(map(msg({ 12: '260420083005', 39: '100' }, '1220'), tables)).status).toBe('declined');
  });

  it('a bank can describe its own field 90 and key', () => {
    const { tables } = parseSpecConfig({
      extends: 'iso8583:1987',
      tables: {
        originalData: { field: 90, parts: [{ name: 'mti', length: 4 }, { name: 'stan', length: 6 }, { name: 'transmission', length: 10 }, { name: 'filler', length: 22 }] },
        transactionKey: { reference: 'stan', time: 'transmission', acquirer: false },
      },
    });
    const orig = ok(map(msg({}), tables));
    expect(orig.tx_id).toBe('iso:0:000123:20260420050805');
    expect(ok(map(msg({ 11: '000200', 90: `02000001230420050805${'0'.repeat(22)}` }, '0400'), tables)).reverses_tx_id).toBe(orig.tx_id);
  });
});

describe('spec file validation', () => {
  it.each([
    [{ extends: 'base24', tables: { processingCodes: { '00': 'shop' } } }, 'tables.processingCodes.00', /must be a channel/],
    [{ extends: 'base24', tables: { processingCodes: { '0': 'pos' } } }, 'tables.processingCodes.0', /2-digit transaction type or a whole 6-digit code/],
    [{ extends: 'base24', tables: { processingCodes: { '20': { direction: 'chargeback' } } } }, 'tables.processingCodes.20.direction', /must be one of purchase/],
    [{ extends: 'base24', tables: { currencies: { '191': { alpha: 'hrk', exponent: 2 } } } }, 'tables.currencies.191.alpha', /three capital letters/],
    [{ extends: 'base24', tables: { defaultCurrency: '000' } }, 'tables.defaultCurrency', /numeric code of the currency table/],
    [{ extends: 'base24', tables: { ecommerce: { rules: [{ field: 200, values: ['EC'] }] } } }, 'tables.ecommerce.rules.0.field', /field number from 2 to 128/],
    [{ extends: 'base24', tables: { messageClasses: { '0210': 'financial' } } }, 'tables.messageClasses.0210', /request or advice MTI/],
    [{ extends: 'base24', tables: { transactionKey: { reference: 'stan', time: 'transmission', acquirer: true } } }, 'tables.originalData', /needs stan, transmission, acquirer/],
    [{ extends: 'base24', tables: { colours: {} } }, 'tables.colours', /is not one of/],
    [{ extends: 'base24', tables: { responseEchoFields: [3, 'x'] } }, 'tables.responseEchoFields.1', /field number/],
  ])('refuses %j naming %s', (doc, field, message) => {
    const err = specError(doc);
    expect(err.field).toBe(field);
    expect(err.message).toMatch(message);
  });

  it('names the line of a bad entry in a file', async () => {
    const text = [
      '{',
      '  "extends": "base24",',
      '  "fields": {',
      '    "127": { "format": "ans......999999", "subfields": { "fields": { "2": "ans..32", "3": "n 6q" } } }',
      '  },',
      '  "tables": {',
      '    "processingCodes": {',
      '      "00": "pos",',
      '      "20": { "direction": "refnd" }',
      '    }',
      '  }',
      '}',
    ].join('\n');
    await expect(loadSpecFile(writeSpec(text))).rejects.toThrow(/^line 4: field 127\.3: format "n 6q"/);
    const fixed = text.replace('"n 6q"', '"n 6"');
    const err = await loadSpecFile(writeSpec(fixed)).catch((e: unknown) => e as Iso8583SpecError);
    expect(err).toBeInstanceOf(Iso8583SpecError);
    expect((err as Iso8583SpecError).line).toBe(9);
    expect((err as Error).message).toMatch(/^line 9: tables\.processingCodes\.20\.direction: must be one of/);
  });

  it('loads a bank\'s BASE24 variant: sub-message field 127, a header the length leaves out, its own tables', async () => {
    const cfg = await loadSpecFile(writeSpec(JSON.stringify({
      extends: 'base24',
      options: { lengthCountsMessageHeader: false, maxFillerBytes: 8 },
      fields: { 127: { format: 'ans......999999', subfields: { bitmapEncoding: 'binary', fields: { 2: 'ans..32', 3: 'n 6' } } } },
      tables: { defaultCurrency: '364', processingCodes: { '17': 'installment' } },
    }, null, 2)));
    expect(cfg.dialect).toBe('base24');
    expect(cfg.options).toMatchObject({ trailer: '03', messageHeader: { length: 12, response: 'echo' }, lengthCountsMessageHeader: false, maxFillerBytes: 8 });
    expect(cfg.spec[127]?.subfields?.fields[3]).toEqual({ type: 'n', length: 6, lengthType: 'fixed' });
    expect(cfg.tables).toMatchObject({ defaultCurrency: '364', transactionKey: { reference: 'rrn' } });
    expect(cfg.tables.processingCodes['17']).toBe('installment');
    const tx = ok(mapToTransaction(msg({ 3: '170000', 37: '000000000001', 12: '101010', 13: '0420', 49: undefined as unknown as string }), { now: at, tokenKey: KEY, tables: cfg.tables }));
    expect(tx).toMatchObject({ channel: 'installment', currency: 'IRR', customer_id: tokenizePan(PAN, KEY) });
  });
});
