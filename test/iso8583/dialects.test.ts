/**
 * The codec and framing gaps of issue 17 (LLLL/LLLLLL prefixes, signed BCD amounts, sub-messages,
 * filler and trailers, a length header that leaves out the message header) and the built-in dialects,
 * each against bytes written here by hand from the dialect's published field definitions.
 */
import { describe, expect, it } from 'vitest';
import { decode, encode, Iso8583DecodeError, Iso8583EncodeError, type FieldValue } from '../../ingest/iso8583/codec.js';
import { DIALECTS } from '../../ingest/iso8583/dialects.js';
import { FrameReader, frameMessage, framingOf } from '../../ingest/iso8583/framing.js';
import { maskForDlq } from '../../ingest/iso8583/redact.js';
import { defineSpec, ISO8583_1987, Iso8583SpecError, parseFormat, resolveOptions, type FieldSpec, type Iso8583Spec } from '../../ingest/iso8583/spec.js';

const withFields = (fields: Record<number, FieldSpec>): Iso8583Spec => ({ ...ISO8583_1987, ...fields });
const decodeError = (f: () => unknown): Iso8583DecodeError => {
  try {
    f();
  } catch (e) {
    if (e instanceof Iso8583DecodeError) return e;
    throw e;
  }
  throw new Error('no error');
};

describe('length prefixes of 4 and 6 digits', () => {
  it('parses the notation with 4 and 6 dots and refuses 5', () => {
    expect(parseFormat('ans....9999', '60')).toEqual({ type: 'ans', length: 9999, lengthType: 'LLLLVAR' });
    expect(parseFormat('ans......999999', '127')).toEqual({ type: 'ans', length: 999999, lengthType: 'LLLLLLVAR' });
    expect(() => parseFormat('ans.....9999', '60')).toThrow(/2, 3, 4 or 6 dots/);
  });

  it.each([
    ['ascii', Buffer.from('000005').toString('hex')], // six digits
    ['bcd', '000005'], // three packed bytes
    ['binary', '000005'], // a 3-byte big-endian integer
  ] as const)('round-trips an LLLLLL field with a %s prefix', (lengthEncoding, prefixHex) => {
    const spec = withFields({ 127: { type: 'ans', length: 999_999, lengthType: 'LLLLLLVAR', lengthEncoding } });
    const bytes = encode({ mti: '0200', fields: { 127: 'hello' } }, spec);
    expect(bytes.subarray(4 + 32, bytes.length - 5).toString('hex')).toBe(prefixHex);
    expect(decode(bytes, spec).fields[127]).toBe('hello');
  });

  it('reads an LLLL BCD prefix as two bytes and refuses a length over the maximum, naming the field', () => {
    const spec = withFields({ 60: { type: 'ans', length: 20, lengthType: 'LLLLVAR', lengthEncoding: 'bcd' } });
    const bytes = encode({ mti: '0200', fields: { 60: 'abc' } }, spec);
    expect(bytes.subarray(20, 22).toString('hex')).toBe('0003');
    const tooLong = Buffer.concat([bytes.subarray(0, 20), Buffer.from('0021', 'hex'), Buffer.from('x'.repeat(21))]);
    expect(decodeError(() => decode(tooLong, spec))).toMatchObject({ field: 60, offset: 20, reason: 'length 21 is over the maximum 20' });
  });
});

describe('signed amounts (x+n)', () => {
  it('reads and writes C/D then packed BCD digits (jPOS IFB_AMOUNT), and refuses another sign', () => {
    const spec = withFields({ 28: { type: 'xn', length: 8, lengthType: 'fixed', encoding: 'bcd' } });
    const bytes = encode({ mti: '0200', fields: { 28: 'D00000150' } }, spec);
    expect(bytes.subarray(20).toString('hex')).toBe('4400000150');
    expect(decode(bytes, spec).fields[28]).toBe('D00000150');
    const bad = Buffer.from(bytes);
    bad[20] = 0x2b; // '+'
    expect(decodeError(() => decode(bad, spec))).toMatchObject({ field: 28, offset: 20, reason: 'expected C or D followed by digits' });
    expect(() => encode({ mti: '0200', fields: { 28: 'X00000150' } }, spec)).toThrow(Iso8583EncodeError);
  });

  it('keeps ASCII x+n as it was, and refuses a variable BCD x+n in a spec', () => {
    expect(decode(encode({ mti: '0200', fields: { 28: 'C00000100' } })).fields[28]).toBe('C00000100');
    expect(() => defineSpec({ 46: { format: 'x+n..20', encoding: 'bcd' } })).toThrow(/bcd x\+n amount must be fixed/);
  });
});

describe('sub-message fields (own bitmap)', () => {
  const sub: FieldSpec = {
    type: 'ans', length: 999_999, lengthType: 'LLLLLLVAR',
    subfields: {
      bitmapEncoding: 'binary',
      fields: defineSpec({ 2: 'ans..32', 3: 'n 6', 12: { format: 'ans..40', sensitive: true }, 70: 'n 4' }),
    },
  };
  const spec = withFields({ 127: sub });

  it('decodes the sub-fields with their spans, and builds the field from sub-fields on encode', () => {
    const bytes = encode({ mti: '0200', fields: { 3: '000000' }, subfields: { 127: { 2: 'SWITCH-KEY-01', 3: '123456', 70: '0001' } } }, spec);
    const msg = decode(bytes, spec);
    expect(msg.subfields?.[127]).toEqual({ 2: 'SWITCH-KEY-01', 3: '123456', 70: '0001' });
    expect(msg.subMessages?.[127]?.bitmap).toBe('E000000000000000' + '0400000000000000'); // 1 (second bitmap), 2, 3 | 70
    const span = msg.subMessages![127]!.spans[3]!;
    expect(bytes.subarray(span.dataStart, span.end).toString('latin1')).toBe('123456');
    expect(encode(msg, spec).equals(bytes)).toBe(true);
  });

  it('names the sub-field of a bad value, and a sub-field the spec does not define', () => {
    const bytes = encode({ mti: '0200', fields: {}, subfields: { 127: { 3: '123456' } } }, spec);
    const at = bytes.indexOf(Buffer.from('123456'));
    const bad = Buffer.from(bytes);
    bad[at + 2] = 0x41;
    expect(decodeError(() => decode(bad, spec))).toMatchObject({ field: '127.3', offset: at, reason: 'expected digits only' });
    const undefinedSub = encode({ mti: '0200', fields: {}, subfields: { 127: { 3: '123456' } } }, spec);
    const bm = undefinedSub.indexOf(Buffer.from('123456')) - 8;
    undefinedSub[bm + 1] = 0x01; // announces sub-field 16
    expect(decodeError(() => decode(undefinedSub, spec)).field).toBe('127.16');
  });

  it('masks a sensitive sub-field in what goes to the DLQ', () => {
    const bytes = encode({ mti: '0200', fields: { 2: '4111111111111111' }, subfields: { 127: { 12: 'CARDHOLDER NAME/ALI' } } }, spec);
    const masked = maskForDlq(bytes, spec, decode(bytes, spec)).toString('latin1');
    expect(masked).not.toContain('CARDHOLDER NAME');
    expect(masked).not.toContain('4111111111111111');
  });

  it('refuses sub-fields on a field whose content is not raw bytes, and nested sub-fields', () => {
    expect(() => defineSpec({ 127: { format: 'n...999', subfields: { fields: { 2: 'n 2' } } } })).toThrow(/subfields need content carried as raw bytes/);
    expect(() => defineSpec({ 127: { format: 'ans...999', subfields: { fields: { 2: { format: 'ans...99', subfields: { fields: {} } } } } } })).toThrow(/cannot have sub-fields/);
  });
});

describe('filler and trailer after the last field', () => {
  const body = encode({ mti: '0800', fields: { 7: '0420090613', 11: '900001', 70: '301' } });

  it('accepts a configured trailer, writes it on encode, and refuses other trailing bytes', () => {
    const opts = resolveOptions({ trailer: '03' });
    const withEtx = Buffer.concat([body, Buffer.from([0x03])]);
    expect(decode(withEtx, ISO8583_1987, opts).fields[11]).toBe('900001');
    expect(encode(decode(withEtx, ISO8583_1987, opts), ISO8583_1987, opts).equals(withEtx)).toBe(true);
    expect(decodeError(() => decode(Buffer.concat([body, Buffer.from([0x04])]), ISO8583_1987, opts))).toMatchObject({ field: 'end', offset: body.length, reason: '1 bytes after the last field' });
  });

  it('ignores filler up to maxFillerBytes (before the trailer) and counts it', () => {
    const opts = resolveOptions({ trailer: '03', maxFillerBytes: 4 });
    const padded = Buffer.concat([body, Buffer.from('    '), Buffer.from([0x03])]);
    expect(decode(padded, ISO8583_1987, opts).fillerBytes).toBe(4);
    expect(decodeError(() => decode(Buffer.concat([body, Buffer.from('     ')]), ISO8583_1987, opts)).field).toBe('end');
  });

  it('validates the options', () => {
    expect(() => resolveOptions({ trailer: '0' })).toThrow(/options.trailer/);
    expect(() => resolveOptions({ maxFillerBytes: 2000 })).toThrow(/options.maxFillerBytes/);
    expect(() => resolveOptions({ lengthCountsMessageHeader: false })).toThrow(/needs a messageHeader/);
  });
});

describe('a length header that does not count the message header', () => {
  it('frames and reads 12 header bytes on top of the counted length, across split reads', () => {
    const opts = resolveOptions({ messageHeader: { length: 12 }, lengthCountsMessageHeader: false });
    const framing = framingOf(opts);
    expect(framing).toEqual({ lengthHeader: 'binary2', lengthHeaderIncludesItself: false, uncountedBytes: 12 });
    const msg = encode({ mti: '0800', header: Buffer.from('ISO006000050'), fields: { 11: '000001', 70: '301' } }, ISO8583_1987, opts);
    const framed = frameMessage(msg, framing);
    expect(framed.readUInt16BE(0)).toBe(msg.length - 12);
    const reader = new FrameReader({ ...framing, maxFrameBytes: 1000 });
    const both = Buffer.concat([framed, framed]);
    const frames = [...reader.push(both.subarray(0, 7)).frames, ...reader.push(both.subarray(7)).frames];
    expect(frames.map((f) => decode(f, ISO8583_1987, opts).header!.toString())).toEqual(['ISO006000050', 'ISO006000050']);
  });
});

describe('dialect iso8583:1987-binary (jPOS ISO87BPackager layout)', () => {
  const d = DIALECTS['iso8583:1987-binary'];
  // Written by hand from the packager's field table: BCD MTI, binary bitmap, LLNUM with a BCD length,
  // IFB_AMOUNT (ASCII sign + BCD), track 2 as BCD with D, IF_CHAR text, currency as 3 ASCII characters.
  const hex = [
    '0200', '7220001020808000',
    '16', '4111111111111111', // 2
    '000000', '000000012500', '0420050805', '000123', // 3, 4, 7, 11
    '4300000100', // 28 C00000100
    '24', '4111111111111111D2512101', // 35
    Buffer.from('TERM0001').toString('hex'), Buffer.from('364').toString('hex'), // 41, 49
  ].join('');
  const fields: Record<number, FieldValue> = { 2: '4111111111111111', 3: '000000', 4: '000000012500', 7: '0420050805', 11: '000123', 28: 'C00000100', 35: '4111111111111111=2512101', 41: 'TERM0001', 49: '364' };

  it('decodes a hand-written binary 0200 field by field and encodes it back byte for byte', () => {
    const msg = decode(Buffer.from(hex, 'hex'), d.spec, d.options);
    expect(msg.mti).toBe('0200');
    expect(msg.fields).toEqual(fields);
    expect(encode({ mti: '0200', fields }, d.spec, d.options).toString('hex').toUpperCase()).toBe(hex.toUpperCase());
  });

  it('has the field sizes the packager gives: 65 is one byte, 93 six characters, 96 sixteen bytes', () => {
    expect(d.spec[65]).toMatchObject({ type: 'b', length: 1, encoding: 'binary' });
    expect(d.spec[93]).toMatchObject({ type: 'an', length: 6 });
    expect(d.spec[96]).toMatchObject({ length: 16, encoding: 'binary' });
    expect(d.spec[36]).toMatchObject({ lengthType: 'LLLVAR', lengthEncoding: 'bcd' });
    expect(d.spec[36]!.encoding).toBeUndefined();
  });
});

describe('dialect base24', () => {
  const d = DIALECTS.base24;
  it('reads the ISO header and the ETX trailer, and has 16-character terminal ids', () => {
    const text = `ISO026000050` + '0800' + '8220000000000000' + '0400000000000000' + '0420090613' + '900001' + '301';
    const raw = Buffer.concat([Buffer.from(text, 'latin1'), Buffer.from([0x03])]);
    const msg = decode(raw, d.spec, d.options);
    expect(msg.header!.toString()).toBe('ISO026000050');
    expect(msg.fields).toEqual({ 7: '0420090613', 11: '900001', 70: '301' });
    expect(encode(msg, d.spec, d.options).equals(raw)).toBe(true);
    expect(d.spec[41]).toMatchObject({ type: 'ans', length: 16 });
  });
});

describe('dialect iso8583:1993', () => {
  it('has 1993\'s layout: 12-digit local date-time, 3-digit action code, LL original data in 56', () => {
    const d = DIALECTS['iso8583:1993'];
    expect(d.spec[12]).toMatchObject({ type: 'n', length: 12 });
    expect(d.spec[39]).toMatchObject({ type: 'n', length: 3 });
    expect(d.spec[56]).toMatchObject({ type: 'n', length: 35, lengthType: 'LLVAR' });
    expect(d.spec[22]).toMatchObject({ type: 'an', length: 12 });
    expect(d.mapping.responseCodes.approved).toBe('000');
  });

  it('every dialect spec is valid and round-trips a message', () => {
    for (const d of Object.values(DIALECTS)) {
      const fields: Record<number, FieldValue> = { 3: '000000', 4: '000000012500', 11: '000123' };
      expect(decode(encode({ mti: '0200', fields, ...(d.options.messageHeader ? { header: Buffer.alloc(d.options.messageHeader.length, 0x30) } : {}) }, d.spec, d.options), d.spec, d.options).fields).toEqual(fields);
    }
    expect(() => { throw new Iso8583SpecError('127.3', 'x'); }).toThrow(/^field 127\.3: x$/);
  });
});
