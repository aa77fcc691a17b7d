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
