import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bitmapFields, decode, encode, Iso8583DecodeError, Iso8583EncodeError, responseHeader, type FieldValue } from '../../ingest/iso8583/codec.js';
import { FrameReader, frameMessage } from '../../ingest/iso8583/framing.js';
import {
  defineSpec, ISO8583_1987, Iso8583SpecError, parseFormat, resolveOptions,
  type FieldSpec, type Iso8583Spec,
} from '../../ingest/iso8583/spec.js';
import { loadSpecFile, parseSpecConfig } from '../../ingest/iso8583/specfile.js';
import { fixture, fixtureJson, MOOV_FILES } from './helpers.js';

type Decoded = Record<string, string>;
const moov = fixtureJson<{ messages: Record<string, Decoded> }>('moov-io/DECODED_fields.json').messages;
const withField = (n: number, f: FieldSpec): Iso8583Spec => ({ ...ISO8583_1987, [n]: f });

describe('moov-io ISO 8583:1987 messages', () => {
  it.each(MOOV_FILES)('decodes %s to the expected fields and re-encodes it byte for byte', (file) => {
    const expected = moov[file]!;
    const raw = fixture(`moov-io/${file}`);
    const msg = decode(raw);
    expect(msg.mti).toBe(expected['0']);
    expect(msg.bitmap).toBe(expected.bitmap + (expected['1'] ?? ''));
    const want = Object.fromEntries(Object.entries(expected).filter(([k]) => /^\d+$/.test(k) && k !== '0' && k !== '1'));
    expect(Object.fromEntries(Object.entries(msg.fields).map(([k, v]) => [k, String(v)]))).toEqual(want);
    expect(encode(msg).equals(raw)).toBe(true);
  });

  it('matches upstream\'s own decode of the 0400 (iso_reversal_message.json)', () => {
    const upstream = fixtureJson<{ mti: string; bitmap: string; elements: Record<string, string> }>('moov-io/iso_reversal_message.json');
    const msg = decode(fixture('moov-io/iso_reversal_message.dat'));
    expect(msg.mti).toBe(upstream.mti);
    const bits = BigInt(`0x${msg.bitmap.slice(0, 16)}`).toString(2).padStart(64, '0');
    expect(bits).toBe(upstream.bitmap);
    for (const [k, v] of Object.entries(upstream.elements)) {
      if (k === '1') expect(BigInt(`0x${msg.bitmap.slice(16)}`).toString(2).padStart(64, '0')).toBe(v);
      else expect(msg.fields[Number(k)]).toBe(v);
    }
  });

  it('has the 1987 default spec agree with moov-io\'s specification_ver_1987.json for every field', () => {
    const doc = fixtureJson<{ elements: Record<string, { Describe: string }> }>('moov-io/specification_ver_1987.json', 'latin1');
    for (let n = 2; n <= 128; n++) {
      const describe = doc.elements[String(n)]!.Describe.split(';')[0]!.trim();
      if (n === 65) continue; // upstream "b 1"; the default reads a 64-bit tertiary bitmap
      const { name: _name, ...mine } = ISO8583_1987[n]!;
      expect(mine, `field ${n} (${describe})`).toEqual(parseFormat(describe, String(n)));
    }
  });
});

describe('pyiso8583 vectors', () => {
  const py = fixtureJson<{
    messages: { id: string; raw_ascii?: string; raw_hex?: string; decoded: Decoded }[];
    bitmap_vectors: { primary: { bitmap_enc: string; bitmap_hex?: string; bitmap_text?: string; fields: number[] }[]; secondary: { bitmap_text: string; fields: number[] }[] };
  }>('pyiso8583/pyiso8583_vectors.json');
  const vector = (id: string): { raw: Buffer; decoded: Decoded } => {
    const v = py.messages.find((m) => m.id === id)!;
    return { raw: v.raw_hex ? Buffer.from(v.raw_hex, 'hex') : Buffer.from(v.raw_ascii!, 'latin1'), decoded: v.decoded };
  };
  const expectFields = (fields: Record<number, FieldValue>, decoded: Decoded): void => {
    const want = Object.fromEntries(Object.entries(decoded).filter(([k]) => /^\d+$/.test(k) && k !== '1'));
    expect(Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, Buffer.isBuffer(v) ? v.toString('hex').toUpperCase() : v]))).toEqual(want);
  };

  it('decodes the README 0200 and encodes the README 0210', () => {
    const { raw, decoded } = vector('readme_decode_0200');
    const msg = decode(raw);
    expect(msg.mti).toBe(decoded.t);
    expect(msg.bitmap).toBe(decoded.p);
    expectFields(msg.fields, decoded);
    const resp = vector('readme_encode_0210');
    expect(encode({ mti: '0210', fields: { 39: '05' } }).equals(resp.raw)).toBe(true);
  });

  it('decodes a secondary bitmap (fields 21 and 102)', () => {
    const { raw, decoded } = vector('howto_0200_secondary_bitmap');
    const msg = decode(raw);
    expect(msg.bitmap).toBe(decoded.p! + decoded['1']!);
    expectFields(msg.fields, decoded);
    expect(encode(msg).equals(raw)).toBe(true);
  });

  it('refuses a non-numeric PAN under the 1987 spec, naming field 2 and its offset, and reads it as ans', () => {
    const { raw, decoded } = vector('howto_0200_fields_2_3_21');
    let err: unknown;
    try {
      decode(raw);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Iso8583DecodeError);
    expect((err as Iso8583DecodeError).field).toBe(2);
    expect((err as Iso8583DecodeError).offset).toBe(22);
    expect((err as Iso8583DecodeError).partial.mti).toBe('0200');
    const msg = decode(raw, withField(2, parseFormat('ans..19')));
    expectFields(msg.fields, decoded);
  });

  it('decodes binary field 55 with an ASCII LLL length', () => {
    const { raw, decoded } = vector('howto_0200_field55_binary_LLL_ascii_len');
    const spec = withField(55, { type: 'b', length: 999, lengthType: 'LLLVAR', encoding: 'binary' });
    const msg = decode(raw, spec);
    expectFields(msg.fields, decoded);
    expect(encode(msg, spec).equals(raw)).toBe(true);
  });

  it('decodes a BCD PAN of odd length with a BCD length prefix (right-padded)', () => {
    const { raw, decoded } = vector('howto_0200_field2_BCD_odd_len');
    const spec = withField(2, { type: 'n', length: 19, lengthType: 'LLVAR', encoding: 'bcd', lengthEncoding: 'bcd', padding: 'right' });
    const msg = decode(raw, spec);
    expectFields(msg.fields, decoded);
    expect(encode(msg, spec).equals(raw)).toBe(true);
  });

  const sample = (n: number): FieldValue => {
    const f = ISO8583_1987[n]!;
    if (f.type === 'b') return Buffer.alloc(f.length, 0xab);
    if (f.type === 'xn') return `C${'1'.repeat(f.length)}`;
    return f.type === 'n' ? '7'.repeat(f.lengthType === 'fixed' ? f.length : 5) : 'A'.repeat(f.lengthType === 'fixed' ? f.length : 5);
  };
  const encodings = [
    ['ascii', 'hex-ascii'],
    ['cp500 (EBCDIC)', 'hex-ebcdic'],
    ['b (binary, 8 bytes)', 'binary'],
  ] as const;

  it.each(encodings)('writes and reads the primary bitmap vector as %s', (name, bitmapEncoding) => {
    const v = py.bitmap_vectors.primary.find((p) => p.bitmap_enc === name)!;
    const want = v.bitmap_hex ? Buffer.from(v.bitmap_hex, 'hex') : Buffer.from(v.bitmap_text!, 'latin1');
    const fields = Object.fromEntries(v.fields.map((n) => [n, sample(n)]));
    const raw = encode({ mti: '0200', fields }, ISO8583_1987, { bitmapEncoding });
    expect(raw.subarray(4, 4 + want.length).equals(want)).toBe(true);
    const back = decode(raw, ISO8583_1987, { bitmapEncoding });
    expect(Object.keys(back.fields).map(Number)).toEqual(v.fields);
    expect(bitmapFields(Buffer.from(back.bitmap, 'hex'))).toEqual(v.fields);
  });

  it('writes and reads the secondary bitmap vector', () => {
    const v = py.bitmap_vectors.secondary[0]!;
    const fields = Object.fromEntries(v.fields.map((n) => [n, sample(n)]));
    const raw = encode({ mti: '0200', fields });
    expect(raw.subarray(4, 36).toString('latin1')).toBe(`8000000000000000${v.bitmap_text}`);
    expect(Object.keys(decode(raw).fields).map(Number)).toEqual(v.fields);
  });
});

describe('codec', () => {
  it('names the field and offset of a bad length prefix, a too-long value, a short message and trailing bytes', () => {
    const err = (raw: string): Iso8583DecodeError => {
      try {
        decode(Buffer.from(raw, 'latin1'));
      } catch (e) {
        return e as Iso8583DecodeError;
      }
      throw new Error('decoded');
    };
    expect(err('02004000000000000000x9123')).toMatchObject({ field: 2, offset: 20, reason: 'the length prefix is not digits' });
    expect(err('0200400000000000000020' + '1'.repeat(20))).toMatchObject({ field: 2, offset: 20 });
    expect(err('020030000000000000000000').field).toBe(3);
    expect(err('02002000000000000000123456XY')).toMatchObject({ field: 'end', offset: 26 });
    expect(err('02X0')).toMatchObject({ field: 'mti', offset: 0 });
    expect(err('0200ZZ00000000000000')).toMatchObject({ field: 'bitmap', offset: 4 });
    expect(err('0200').field).toBe('bitmap');
    expect(err('02000000000000000001').field).toBe(64);
  });

  it('pads short fixed values on encode and refuses what does not fit, naming the field', () => {
    const raw = encode({ mti: '0200', fields: { 4: '5000', 41: 'T1' } });
    expect(decode(raw).fields).toEqual({ 4: '000000005000', 41: 'T1      ' });
    expect(() => encode({ mti: '0200', fields: { 4: '1'.repeat(13) } })).toThrow(Iso8583EncodeError);
    expect(() => encode({ mti: '0200', fields: { 4: '12a' } })).toThrow(/field 4/);
    expect(() => encode({ mti: '0200', fields: { 2: '1'.repeat(20) } })).toThrow(/field 2/);
    expect(() => encode({ mti: '02000', fields: {} })).toThrow(/mti/);
    expect(() => encode({ mti: '0200', fields: { 129: 'x' } })).toThrow(/field 129/);
    expect(() => encode({ mti: '0200', fields: { 52: Buffer.alloc(3) } })).toThrow(/field 52/);
  });

  it('round-trips a bank variant: BCD MTI, binary bitmaps, BCD numerics, EBCDIC text, binary lengths and a TPDU', () => {
    const spec = defineSpec({
      ...Object.fromEntries(Object.entries(ISO8583_1987).map(([k, v]) => [k, v!])),
      2: { type: 'n', length: 19, lengthType: 'LLVAR', encoding: 'bcd', lengthEncoding: 'binary', padding: 'right' },
      3: { type: 'n', length: 6, lengthType: 'fixed', encoding: 'bcd' },
      4: { type: 'n', length: 12, lengthType: 'fixed', encoding: 'bcd' },
      35: { type: 'z', length: 37, lengthType: 'LLVAR', encoding: 'bcd', lengthEncoding: 'bcd' },
      41: { type: 'ans', length: 8, lengthType: 'fixed', encoding: 'ebcdic' },
      48: { type: 'ans', length: 999, lengthType: 'LLLVAR', encoding: 'ebcdic', lengthEncoding: 'ebcdic' },
      52: { type: 'b', length: 8, lengthType: 'fixed', encoding: 'binary' },
    });
    const options = resolveOptions({ mtiEncoding: 'bcd', bitmapEncoding: 'binary', messageHeader: { length: 5, response: 'swap-tpdu' } });
    const header = Buffer.from('6000010002', 'hex');
    const msg = { mti: '0200', header, fields: { 2: '4111111111111111111', 3: '000000', 4: '000000012345', 35: '4111111111111111=2512101', 41: 'TERM 01', 48: 'Ünïcode-free latin1 ✓'.replace('✓', 'x'), 52: Buffer.from('0123456789abcdef', 'hex'), 100: '12345' } };
    const raw = encode(msg, spec, options);
    expect(raw.subarray(0, 7).toString('hex')).toBe('60000100020200');
    const back = decode(raw, spec, options);
    expect(back.header?.equals(header)).toBe(true);
    expect(back.fields).toEqual({ ...msg.fields, 41: 'TERM 01 ' });
    expect(responseHeader(back.header, options)?.toString('hex')).toBe('6000020001');
  });

  it('frames with a 2-byte binary or 4-byte ASCII header, across split reads and several frames per read', () => {
    const a = Buffer.from('first message');
    const b = Buffer.from('second');
    for (const lengthHeader of ['binary2', 'ascii4'] as const) {
      const stream = Buffer.concat([frameMessage(a, { lengthHeader }), frameMessage(Buffer.alloc(0), { lengthHeader }), frameMessage(b, { lengthHeader })]);
      const whole = new FrameReader({ lengthHeader, maxFrameBytes: 100 }).push(stream);
      expect(whole.frames.map(String)).toEqual(['first message', 'second']);
      const r = new FrameReader({ lengthHeader, maxFrameBytes: 100 });
      const got: string[] = [];
      for (const byte of stream) got.push(...r.push(Buffer.from([byte])).frames.map(String));
      expect(got).toEqual(['first message', 'second']);
      expect(r.buffered).toBe(0);
    }
    expect(new FrameReader({ lengthHeader: 'ascii4', maxFrameBytes: 100 }).push(Buffer.from('00x5hello')).error?.reason).toMatch(/not four digits/);
    const tooBig = new FrameReader({ lengthHeader: 'binary2', maxFrameBytes: 100 }).push(Buffer.concat([frameMessage(a, { lengthHeader: 'binary2' }), Buffer.from([0xff, 0xff])]));
    expect(tooBig.frames.map(String)).toEqual(['first message']);
    expect(tooBig.error?.reason).toMatch(/over the limit/);
    const incl = new FrameReader({ lengthHeader: 'binary2', lengthHeaderIncludesItself: true, maxFrameBytes: 100 });
    expect(incl.push(frameMessage(b, { lengthHeader: 'binary2', lengthHeaderIncludesItself: true })).frames.map(String)).toEqual(['second']);
  });
});

describe('spec files', () => {
  it('loads a bank variant that extends 1987, replaces fields, removes one and sets options', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iso8583-spec-'));
    const path = join(dir, 'bank.json');
    writeFileSync(path, JSON.stringify({
      extends: 'iso8583:1987',
      options: { bitmapEncoding: 'binary', lengthHeader: 'ascii4' },
      fields: { 35: { format: 'z..37', encoding: 'bcd', lengthEncoding: 'bcd' }, 48: 'ans...500', 127: null, 60: { type: 'ans', length: 16, lengthType: 'fixed', name: 'Shetab private', sensitive: true } },
    }));
    const cfg = await loadSpecFile(path);
    expect(cfg.options).toMatchObject({ bitmapEncoding: 'binary', lengthHeader: 'ascii4', mtiEncoding: 'ascii' });
    expect(cfg.spec[35]).toEqual({ type: 'z', length: 37, lengthType: 'LLVAR', encoding: 'bcd', lengthEncoding: 'bcd' });
    expect(cfg.spec[48]).toEqual({ type: 'ans', length: 500, lengthType: 'LLLVAR' });
    expect(cfg.spec[127]).toBeUndefined();
    expect(cfg.spec[60]?.sensitive).toBe(true);
    expect(cfg.spec[2]).toEqual(ISO8583_1987[2]);
  });

  it.each([
    [{ fields: { 35: { type: 'q', length: 3, lengthType: 'fixed' } } }, '35', /type must be one of/],
    [{ fields: { 4: { type: 'n', length: 12 } } }, '4', /lengthType is required/],
    [{ fields: { 2: 'n..190' } }, '2', /does not fit a LLVAR prefix/],
    [{ fields: { 52: 'b 12' } }, '52', /multiple of 8/],
    [{ fields: { 43: { format: 'ans 40', encoding: 'bcd' } } }, '43', /bcd is only for n, z and x\+n/],
    [{ fields: { 1: 'b 64' } }, '1', /field numbers run from 2 to 128/],
    [{ fields: { 129: 'n 1' } }, '129', /field numbers/],
    [{ fields: { 7: { format: 'n 10', colour: 'red' } } }, '7', /unknown property "colour"/],
    [{ fields: {}, options: { lengthHeader: 'ascii2' } }, 'options.lengthHeader', /must be one of/],
    [{ fields: {}, extends: 'iso8583:2003' }, 'extends', /must be one of the dialects/],
  ])('refuses %j naming the field', (doc, field, message) => {
    let err: unknown;
    try {
      parseSpecConfig(doc);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Iso8583SpecError);
    expect((err as Iso8583SpecError).field).toBe(field);
    expect((err as Error).message).toMatch(message);
    if (/^\d+$/.test(field)) expect((err as Error).message).toMatch(new RegExp(`^field ${field}:`));
  });

  it('refuses a file that is not JSON, naming the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iso8583-spec-'));
    const path = join(dir, 'bad.json');
    writeFileSync(path, '{ "fields": ');
    await expect(loadSpecFile(path)).rejects.toThrow(/bad\.json is not valid JSON/);
  });
});
