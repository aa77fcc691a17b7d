/**
 * Keeping card data out of what the adapter logs and dead-letters: a masked copy of a raw frame, and a
 * summary of a message that names only non-card fields.
 */
import { luhnValid } from '../tokenize.js';
import type { DecodedMessage, FieldSpan, FieldValue, Iso8583DecodeError } from './codec.js';
import { cardTokenOf } from './mapping.js';
import { isSensitive, type Iso8583Options, type Iso8583Spec } from './spec.js';

const MASK = 0x2a;

/**
 * What is known of a frame's layout: the spans of the fields decoded, and whether the decoder got to
 * the end (`complete`). An incomplete layout is not trusted: fields may have been read misaligned.
 */
export interface FrameLayout {
  spans: Record<number, FieldSpan>;
  /** Offset just after the MTI, when it was read. */
  afterMti?: number;
  complete: boolean;
  /** Spans of sub-fields (of sub-messages) by field → sub-field, masked when the sub-field is `sensitive`. */
  subSpans?: Record<number, Record<number, FieldSpan>>;
}

function isDigitByte(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0xf0 && b <= 0xf9);
}

/** Card-number characters as text: digits, and track-2's `=` and `D` separators (ASCII or EBCDIC). */
function isTrackByte(b: number): boolean {
  return isDigitByte(b) || b === 0x3d || b === 0x44 || b === 0x7e || b === 0xc4;
}

/** A track byte, or one masked already: a masked field inside a card-number run must not split it in two. */
function isTrackOrMaskByte(b: number): boolean {
  return b === MASK || isTrackByte(b);
}

function runs(buf: Buffer, isMember: (b: number) => boolean, visit: (start: number, end: number) => void): void {
  let start = -1;
  for (const [i, b] of buf.entries()) {
    if (isMember(b)) {
      if (start < 0) start = i;
    } else if (start >= 0) {
      visit(start, i);
      start = -1;
    }
  }
  if (start >= 0) visit(start, buf.length);
}

/**
 * A copy of a raw message with card data masked (`*`): the content of every decoded card field and,
 * anywhere, a 13–19 digit run that passes Luhn. When the layout is not trusted, neither are the field
 * boundaries nor the bitmap (a frame missing a few bytes reads its card number as bitmap), so every run
 * of 12 or more digits (with track-2 separators, and across fields masked already) is masked wherever
 * it lies, or everything past the MTI when the spec packs card fields in BCD or binary.
 */
export function maskFrame(raw: Buffer, spec: Iso8583Spec, layout: FrameLayout): Buffer {
  const out = Buffer.from(raw);
  for (const [k, span] of Object.entries(layout.spans)) {
    if (isSensitive(spec, Number(k))) out.fill(MASK, span.dataStart, span.end);
  }
  for (const [k, subs] of Object.entries(layout.subSpans ?? {})) {
    const fields = spec[Number(k)]?.subfields?.fields ?? {};
    for (const [j, span] of Object.entries(subs)) if (fields[Number(j)]?.sensitive) out.fill(MASK, span.dataStart, span.end);
  }
  if (!layout.complete) {
    const packed = Object.keys(spec).map(Number).some((n) => {
      const enc = spec[n]?.encoding;
      return isSensitive(spec, n) && (enc === 'bcd' || enc === 'binary');
    });
    if (packed) out.fill(MASK, layout.afterMti ?? 0);
    else runs(out, isTrackOrMaskByte, (s, e) => {
      let digits = 0;
      for (const b of out.subarray(s, e)) if (isDigitByte(b)) digits++;
      if (digits >= 12) out.fill(MASK, s, e);
    });
  }
  runs(out, isDigitByte, (s, e) => {
    if (e - s < 13 || e - s > 19) return;
    const digits = Array.from(out.subarray(s, e), (b) => String(b & 0x0f)).join('');
    if (luhnValid(digits)) out.fill(MASK, s, e);
  });
  return out;
}

/**
 * The frame as it may go to the DLQ. The decoder's field boundaries are trusted only when it read the
 * whole message and found a well-formed card number where the spec puts one (field 2 or track 2);
 * otherwise (a decode error, or a message with no card, perhaps read misaligned) card data could sit
 * in any field, and every long digit run is masked.
 */
export function maskForDlq(raw: Buffer, spec: Iso8583Spec, outcome: DecodedMessage | Iso8583DecodeError, opts?: Partial<Iso8583Options>): Buffer {
  if ('partial' in outcome) {
    const { spans, afterMti, subSpans } = outcome.partial;
    return maskFrame(raw, spec, { spans, ...(afterMti !== undefined ? { afterMti } : {}), ...(subSpans ? { subSpans } : {}), complete: false });
  }
  const subSpans = outcome.subMessages ? Object.fromEntries(Object.entries(outcome.subMessages).map(([k, v]) => [k, v.spans])) : undefined;
  const card = cardTokenOf(outcome.fields, 'mask');
  const trusted = card !== undefined && 'token' in card;
  const afterMti = (outcome.header?.length ?? 0) + (opts?.mtiEncoding === 'bcd' ? 2 : 4);
  return maskFrame(raw, spec, { spans: outcome.spans, afterMti, ...(subSpans ? { subSpans } : {}), complete: trusted });
}

/**
 * Identifying, non-card fields of a message for logs and DLQ details. For a message that did not
 * decode (`trusted` false) only the MTI, processing code and STAN, values too short to hold a card number.
 */
export function messageSummary(msg: { mti?: string; fields: Record<number, FieldValue> }, trusted = true): Record<string, string> {
  const out: Record<string, string> = {};
  if (msg.mti) out.mti = msg.mti;
  pickField(out, msg.fields, 3, 'processing_code', trusted);
  pickField(out, msg.fields, 11, 'stan', trusted);
  if (trusted) {
    pickField(out, msg.fields, 37, 'rrn', trusted);
    pickField(out, msg.fields, 41, 'terminal', trusted);
  }
  return out;
}

/** Sets `out[name]` to field `field` trimmed, when it is text (at most 6 characters unless `trusted`). */
function pickField(out: Record<string, string>, fields: Record<number, FieldValue>, field: number, name: string, trusted: boolean): void {
  const v = fields[field];
  if (typeof v === 'string' && v.trim() !== '' && (trusted || v.length <= 6)) out[name] = v.trim();
}
