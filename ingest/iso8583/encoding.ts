/**
 * Byte-level encodings used by ISO 8583 variants: EBCDIC (code page 500, the one switches call
 * "international EBCDIC") and packed BCD. Every function is total: bad input yields `undefined`.
 */

/** Code page 500, byte → character; a bijection onto U+0000..U+00FF. */
const CP500 = '\u0000\u0001\u0002\u0003\u009c\u0009\u0086\u007f\u0097\u008d\u008e\u000b\u000c\u000d\u000e\u000f\u0010\u0011\u0012\u0013\u009d\u0085\u0008\u0087\u0018\u0019\u0092\u008f\u001c\u001d\u001e\u001f\u0080\u0081\u0082\u0083\u0084\u000a\u0017\u001b\u0088\u0089\u008a\u008b\u008c\u0005\u0006\u0007\u0090\u0091\u0016\u0093\u0094\u0095\u0096\u0004\u0098\u0099\u009a\u009b\u0014\u0015\u009e\u001a \u00a0\u00e2\u00e4\u00e0\u00e1\u00e3\u00e5\u00e7\u00f1[.<(+!&\u00e9\u00ea\u00eb\u00e8\u00ed\u00ee\u00ef\u00ec\u00df]\u0024*);^-/\u00c2\u00c4\u00c0\u00c1\u00c3\u00c5\u00c7\u00d1\u00a6,%_>?\u00f8\u00c9\u00ca\u00cb\u00c8\u00cd\u00ce\u00cf\u00cc\u0060:#@\u0027="\u00d8abcdefghi\u00ab\u00bb\u00f0\u00fd\u00fe\u00b1\u00b0jklmnopqr\u00aa\u00ba\u00e6\u00b8\u00c6\u00a4\u00b5~stuvwxyz\u00a1\u00bf\u00d0\u00dd\u00de\u00ae\u00a2\u00a3\u00a5\u00b7\u00a9\u00a7\u00b6\u00bc\u00bd\u00be\u00ac|\u00af\u00a8\u00b4\u00d7{ABCDEFGHI\u00ad\u00f4\u00f6\u00f2\u00f3\u00f5}JKLMNOPQR\u00b9\u00fb\u00fc\u00f9\u00fa\u00ff\u005c\u00f7STUVWXYZ\u00b2\u00d4\u00d6\u00d2\u00d3\u00d50123456789\u00b3\u00db\u00dc\u00d9\u00da\u009f';

const FROM_CHAR = new Map<number, number>();
for (let b = 0; b < 256; b++) FROM_CHAR.set(CP500.charCodeAt(b), b);

/** Decodes EBCDIC (cp500) bytes to a string. */
export function ebcdicToString(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += CP500[b];
  return s;
}

/** Encodes a string as EBCDIC (cp500); `undefined` when a character has no cp500 byte. */
export function stringToEbcdic(s: string): Buffer | undefined {
  const out = Buffer.alloc(s.length);
  for (let i = 0; i < s.length; i++) {
    const b = FROM_CHAR.get(s.charCodeAt(i));
    if (b === undefined) return undefined;
    out[i] = b;
  }
  return out;
}

/**
 * Unpacks `digits` nibbles from packed BCD. An odd count carries one pad nibble, on the left
 * (`'left'`, the numeric convention) or on the right. Nibbles above 9 are returned as their hex digit
 * (A–F) so that the caller can decide what they mean (track-2 separators are `D`).
 */
export function unpackBcd(bytes: Uint8Array, digits: number, pad: 'left' | 'right'): string {
  let s = '';
  for (const b of bytes) s += (b >> 4).toString(16).toUpperCase() + (b & 0x0f).toString(16).toUpperCase();
  if (s.length === digits) return s;
  return pad === 'left' ? s.slice(s.length - digits) : s.slice(0, digits);
}

/** Packs hex-digit characters (0–9, A–F) into BCD, padding an odd count with a `0` nibble. */
export function packBcd(s: string, pad: 'left' | 'right'): Buffer | undefined {
  if (!/^[0-9A-Fa-f]*$/.test(s)) return undefined;
  const even = s.length % 2 === 0 ? s : pad === 'left' ? `0${s}` : `${s}0`;
  return Buffer.from(even, 'hex');
}

/** Number of bytes that `digits` nibbles take when packed. */
export function bcdBytes(digits: number): number {
  return Math.ceil(digits / 2);
}
