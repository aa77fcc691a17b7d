import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decode, encode, Iso8583DecodeError, type DecodedMessage, type FieldValue } from '../../ingest/iso8583/codec.js';
import { FrameReader, frameMessage } from '../../ingest/iso8583/framing.js';
import { maskForDlq } from '../../ingest/iso8583/redact.js';
import { defineSpec, ISO8583_1987, resolveOptions, type Iso8583Options, type Iso8583Spec } from '../../ingest/iso8583/spec.js';
import { DIALECTS } from '../../ingest/iso8583/dialects.js';
import { fixture, messageArb, MOOV_FILES } from './helpers.js';

const VARIANT: Iso8583Spec = defineSpec({
  ...Object.fromEntries(Object.entries(ISO8583_1987).map(([k, v]) => [k, v!])),
  2: { type: 'n', length: 19, lengthType: 'LLVAR', encoding: 'bcd', lengthEncoding: 'binary', padding: 'right' },
  4: { type: 'n', length: 12, lengthType: 'fixed', encoding: 'bcd' },
  35: { type: 'z', length: 37, lengthType: 'LLVAR', encoding: 'bcd', lengthEncoding: 'bcd' },
  43: { type: 'ans', length: 40, lengthType: 'fixed', encoding: 'ebcdic' },
  48: { type: 'ans', length: 999, lengthType: 'LLLVAR', encoding: 'ebcdic', lengthEncoding: 'ebcdic' },
  55: { type: 'b', length: 255, lengthType: 'LLVAR', encoding: 'binary', lengthEncoding: 'binary' },
  64: { type: 'b', length: 8, lengthType: 'fixed', encoding: 'ebcdic' },
});
const CONFIGS: [string, Iso8583Spec, Iso8583Options][] = [
  ['1987 defaults', ISO8583_1987, resolveOptions({})],
  ['1987, binary bitmap', ISO8583_1987, resolveOptions({ bitmapEncoding: 'binary' })],
  ['variant: BCD MTI, EBCDIC bitmap, TPDU', VARIANT, resolveOptions({ mtiEncoding: 'bcd', bitmapEncoding: 'hex-ebcdic', messageHeader: { length: 5, response: 'swap-tpdu' } })],
  ['variant: EBCDIC MTI, binary bitmap', VARIANT, resolveOptions({ mtiEncoding: 'ebcdic', bitmapEncoding: 'binary' })],
  ...Object.values(DIALECTS).map((d): [string, Iso8583Spec, Iso8583Options] => [`dialect ${d.name}`, d.spec, d.options]),
  ['base24 with filler and LLLL/LLLLLL private fields', defineSpec({
    ...Object.fromEntries(Object.entries(DIALECTS.base24.spec).map(([k, v]) => [k, v!])),
    60: { type: 'ans', length: 9999, lengthType: 'LLLLVAR', lengthEncoding: 'bcd' },
    126: { type: 'ans', length: 999_999, lengthType: 'LLLLLLVAR', lengthEncoding: 'binary' },
  }), resolveOptions({ messageHeader: { length: 12 }, trailer: '03', maxFillerBytes: 4 })],
];

/** BASE24 with a Postilion-style field 127: a sub-message with its own binary bitmap. */
const SUB_SPEC: Iso8583Spec = defineSpec({
  ...Object.fromEntries(Object.entries(ISO8583_1987).map(([k, v]) => [k, v!])),
  127: { format: 'ans......999999', subfields: { bitmapEncoding: 'binary', fields: { 2: 'ans..32', 3: 'n 6', 9: { format: 'n..19', sensitive: true }, 22: 'ans....9999', 70: 'x+n 8' } } },
});

function decodesOrRefuses(raw: Uint8Array, spec: Iso8583Spec, opts: Iso8583Options): DecodedMessage | Iso8583DecodeError {
  try {
    return decode(raw, spec, opts);
  } catch (err) {
    if (err instanceof Iso8583DecodeError) return err;
    throw err;
  }
}

const seeds = MOOV_FILES.map((f) => fixture(`moov-io/${f}`));
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('digit' as const), at: fc.nat(), byte: fc.integer({ min: 0x30, max: 0x39 }) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(buf: Buffer, muts: Mutation[]): Buffer {
  let b = Buffer.from(buf);
  for (const m of muts) {
    const at = b.length ? m.at % (b.length + 1) : 0;
    if (m.kind === 'flip' || m.kind === 'digit') {
      if (at < b.length) b[at] = m.byte;
    } else if (m.kind === 'truncate') b = b.subarray(0, at);
    else if (m.kind === 'insert') b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
    else b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.n)]);
  }
  return b;
}

describe('fuzzing the codec', () => {
  it.each(CONFIGS)('never throws anything but Iso8583DecodeError on random bytes (%s)', (_name, spec, opts) => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
      decodesOrRefuses(bytes, spec, opts);
    }), { numRuns: 600 });
  });

  it('never throws anything but Iso8583DecodeError on mutated moov-io messages', () => {
    fc.assert(fc.property(fc.constantFrom(...seeds), fc.array(mutation, { minLength: 1, maxLength: 4 }), (seed, muts) => {
      const out = decodesOrRefuses(mutate(seed, muts), ISO8583_1987, resolveOptions({}));
      if (out instanceof Iso8583DecodeError) expect(out.offset).toBeGreaterThanOrEqual(0);
    }), { numRuns: 1000 });
  });

  it.each(CONFIGS)('round-trips random valid messages (%s)', (_name, spec, opts) => {
    const n = opts.messageHeader?.length ?? 5;
    const header = fc.uint8Array({ minLength: n, maxLength: n }).map((u) => Buffer.from(u));
    fc.assert(fc.property(messageArb(spec), header, (msg, hdr) => {
      const withHeader = opts.messageHeader ? { ...msg, header: hdr } : msg;
      const raw = encode(withHeader, spec, opts);
      const back = decode(raw, spec, opts);
      expect(back.mti).toBe(msg.mti);
      expect(back.fields).toEqual(msg.fields);
      if (opts.messageHeader) expect(back.header?.equals(hdr)).toBe(true);
      expect(encode(back, spec, opts).equals(raw)).toBe(true);
      for (const muts of [[{ kind: 'truncate' as const, at: Math.floor(raw.length / 2) }]]) decodesOrRefuses(mutate(raw, muts), spec, opts);
    }), { numRuns: 300 });
  });

  it('never throws anything but Iso8583DecodeError on mutated messages with a sub-message field, and round-trips the valid ones', () => {
    const sub = fc.record({
      2: fc.string({ maxLength: 32 }).map((v) => v.replace(/[^\x20-\x7e]/g, 'x')),
      3: fc.integer({ min: 0, max: 999_999 }).map((v) => String(v).padStart(6, '0')),
      9: fc.integer({ min: 0, max: 1e12 }).map(String),
      70: fc.integer({ min: 0, max: 99_999_999 }).map((v) => `D${String(v).padStart(8, '0')}`),
    }, { requiredKeys: [] });
    fc.assert(fc.property(sub, fc.array(mutation, { minLength: 1, maxLength: 3 }), (subfields, muts) => {
      const raw = encode({ mti: '0200', fields: { 3: '000000', 11: '000001' }, subfields: { 127: subfields as Record<number, FieldValue> } }, SUB_SPEC);
      const back = decode(raw, SUB_SPEC);
      expect(back.subfields?.[127]).toEqual(subfields);
      const out = decodesOrRefuses(mutate(raw, muts), SUB_SPEC, resolveOptions({}));
      if (out instanceof Iso8583DecodeError) expect(out.offset).toBeGreaterThanOrEqual(0);
    }), { numRuns: 1000 });
  });

  it('reads the same frames however the stream is split', () => {
    fc.assert(fc.property(
      fc.array(fc.uint8Array({ minLength: 1, maxLength: 60 }), { minLength: 1, maxLength: 10 }),
      fc.constantFrom('binary2' as const, 'ascii4' as const),
      fc.array(fc.integer({ min: 1, max: 30 }), { minLength: 1, maxLength: 50 }),
      (payloads, lengthHeader, cuts) => {
        const stream = Buffer.concat(payloads.map((p) => frameMessage(Buffer.from(p), { lengthHeader })));
        const reader = new FrameReader({ lengthHeader, maxFrameBytes: 100 });
        const got: Buffer[] = [];
        let pos = 0;
        for (let i = 0; pos < stream.length; i++) {
          const n = cuts[i % cuts.length]!;
          const r = reader.push(stream.subarray(pos, pos + n));
          expect(r.error).toBeUndefined();
          got.push(...r.frames);
          pos += n;
        }
        expect(got.map((g) => g.toString('hex'))).toEqual(payloads.map((p) => Buffer.from(p).toString('hex')));
      },
    ), { numRuns: 300 });
  });
});

describe('fuzzing what goes to the DLQ', () => {
  const panArb = fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: 13, maxLength: 19 }).filter((p) => p[0] !== '0');
  const withCard = (spec: Iso8583Spec): fc.Arbitrary<{ msg: { mti: string; fields: Record<number, FieldValue> }; pan: string; track: boolean }> =>
    fc.tuple(messageArb(spec), panArb, fc.boolean()).map(([msg, pan, track]) => {
      const fields = { ...msg.fields };
      delete fields[2];
      delete fields[35];
      if (track) fields[35] = `${pan}=2512101${'0'.repeat(8)}`;
      else fields[2] = pan;
      return { msg: { mti: msg.mti, fields }, pan, track };
    });

  it('masks a card number that a frame missing its first bytes reads as its bitmap (found by this fuzzer)', () => {
    const pan = '60000000000000';
    const whole = encode({ mti: '0000', fields: { 2: pan, 13: '0000', 26: '00', 46: '', 55: '' } }, ISO8583_1987);
    const raw = whole.subarray(3);
    const outcome = decodesOrRefuses(raw, ISO8583_1987, resolveOptions({}));
    expect(outcome).toBeInstanceOf(Iso8583DecodeError);
    expect(raw.toString('latin1').indexOf(pan)).toBeLessThan((outcome as Iso8583DecodeError).partial.bodyStart!);
    expect(maskForDlq(raw, ISO8583_1987, outcome).toString('latin1')).not.toContain(pan);
  });

  it.each(CONFIGS)('never leaves a PAN in a masked frame, decoded or not (%s)', (_name, spec, opts) => {
    const packed = spec[2]?.encoding === 'bcd';
    fc.assert(fc.property(withCard(spec), fc.array(mutation, { minLength: 0, maxLength: 3 }), ({ msg, pan }, muts) => {
      const header = opts.messageHeader ? Buffer.from('6000010002000000000000000000', 'hex').subarray(0, opts.messageHeader.length) : undefined;
      const raw = mutate(encode(header ? { ...msg, header } : msg, spec, opts), muts);
      const masked = maskForDlq(raw, spec, decodesOrRefuses(raw, spec, opts), opts);
      expect(masked.toString('latin1')).not.toContain(pan);
      if (packed) expect(masked.toString('hex')).not.toContain(pan.length % 2 ? `${pan}0` : pan);
    }), { numRuns: 1000 });
  });
});
