/**
 * Card tokenization: a keyed, irreversible token (HMAC-SHA-256 under the bank's secret key) replaces a
 * card number (PAN) the moment it arrives, in the ISO 8583 adapter and in customer profiles alike, so
 * the same card always maps to the same token and the PAN itself is never stored, published or logged.
 */
import { createHmac } from 'node:crypto';

export function panDigits(pan: string): string {
  return pan.replace(/[\s-]/g, '');
}

/** `ct_` + 32 base64url characters (192 bits) of HMAC-SHA-256(key, digits). */
export function tokenizePan(pan: string, key: string): string {
  const mac = createHmac('sha256', key).update(panDigits(pan)).digest('base64url');
  return `ct_${mac.slice(0, 32)}`;
}

/** Luhn check, for telling card numbers from other long digit strings. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/** A run of 13–19 digits, single spaces or dashes allowed between them, not inside a longer digit run. */
const CARD_SHAPED = /(?<![\d])\d(?:[ -]?\d){12,18}(?![\d])/g;

/**
 * A copy of `data` (bytes of any text encoding that keeps ASCII digits as themselves: UTF-8, Latin-1)
 * with the digits of every card-number-shaped run that passes the Luhn check replaced by `*`; `data`
 * itself when there is none. For what must be kept as it came (a message sent to DLQ) but may hold a
 * card number a sender put where none belongs.
 */
export function maskCardNumbers(data: Uint8Array): Uint8Array {
  const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1');
  let masked = false;
  const out = text.replace(CARD_SHAPED, (run) => {
    if (!luhnValid(panDigits(run))) return run;
    masked = true;
    return run.replace(/\d/g, '*');
  });
  return masked ? new Uint8Array(Buffer.from(out, 'latin1')) : data;
}
