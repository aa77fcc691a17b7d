/**
 * SHA-256 of a string's UTF-8 bytes, lower-case hex (FIPS 180-4), in plain TypeScript: the core stays
 * free of node:crypto (docs/ARCHITECTURE.md, issue 20). For short ids, not for bulk data.
 */

import { num } from './invariant.js';

const FIRST_PRIMES = 64;

function primes(count: number): number[] {
  const found: number[] = [];
  for (let n = 2; found.length < count; n++) if (found.every((p) => n % p !== 0)) found.push(n);
  return found;
}

const fraction32 = (x: number): number => Math.floor((x - Math.floor(x)) * 2 ** 32) >>> 0;
const PRIMES = primes(FIRST_PRIMES);
/** Round constants: the first 32 bits of the fractional parts of the cube roots of the first 64 primes. */
const K = Uint32Array.from(PRIMES, (p) => fraction32(Math.cbrt(p)));
/** Initial hash: the same of the square roots of the first 8 primes. */
const INITIAL = Uint32Array.from(PRIMES.slice(0, 8), (p) => fraction32(Math.sqrt(p)));

const rotr = (x: number, n: number): number => (x >>> n) | (x << (32 - n));

function padded(text: string): DataView {
  const bytes = new TextEncoder().encode(text);
  const blocks = Math.ceil((bytes.length + 9) / 64);
  const buffer = new Uint8Array(blocks * 64);
  buffer.set(bytes);
  buffer[bytes.length] = 0x80;
  const view = new DataView(buffer.buffer);
  const bits = bytes.length * 8;
  view.setUint32(buffer.length - 8, Math.floor(bits / 2 ** 32));
  view.setUint32(buffer.length - 4, bits >>> 0);
  return view;
}

function compress(hash: Uint32Array, view: DataView, offset: number, w: Uint32Array): void {
  for (let i = 0; i < 16; i++) w[i] = view.getUint32(offset + i * 4);
  for (let i = 16; i < 64; i++) {
    const a = num(w, i - 15);
    const b = num(w, i - 2);
    w[i] = (num(w, i - 16) + (rotr(a, 7) ^ rotr(a, 18) ^ (a >>> 3)) + num(w, i - 7) + (rotr(b, 17) ^ rotr(b, 19) ^ (b >>> 10))) >>> 0;
  }
  let a = num(hash, 0), b = num(hash, 1), c = num(hash, 2), d = num(hash, 3), e = num(hash, 4), f = num(hash, 5), g = num(hash, 6), h = num(hash, 7);
  for (let i = 0; i < 64; i++) {
    const t1 = (h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + num(K, i) + num(w, i)) >>> 0;
    const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) >>> 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) >>> 0;
  }
  const next = [a, b, c, d, e, f, g, h];
  next.forEach((x, i) => (hash[i] = (num(hash, i) + x) >>> 0));
}

/** SHA-256 of `text` (UTF-8), 64 lower-case hex digits. */
export function sha256Hex(text: string): string {
  const view = padded(text);
  const hash = Uint32Array.from(INITIAL);
  const w = new Uint32Array(64);
  for (let offset = 0; offset < view.byteLength; offset += 64) compress(hash, view, offset, w);
  return Array.from(hash, (x) => x.toString(16).padStart(8, '0')).join('');
}
