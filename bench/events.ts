/**
 * Synthetic load for the bench: v1 transaction events of about 200 bytes and ISO 8583 0200 requests,
 * deterministic from an index so that every event of a run has its own `tx_id` and events spread over
 * customers (and so partitions) evenly. Event time advances with the index (the scorer runs on it).
 */
import { item } from '../scorer/core/mod.js';
const CHANNELS = ['pos', 'online', 'fuel', 'bill_pay', 'pos', 'installment', 'atm', 'pos'] as const;
const MCC = ['5411', '5812', '5541', '4900', '5311', '5999', '6011', '5732'] as const;
const BASE_MS = Date.UTC(2026, 0, 1);

/** Knuth's multiplicative hash: consecutive indexes land on scattered customers. */
export function customerIndex(i: number, customers: number): number {
  return (Math.imul(i + 1, 2654435761) >>> 0) % customers;
}

export function benchTx(prefix: string, i: number, customers: number): Record<string, unknown> {
  const c = customerIndex(i, customers);
  const k = i % CHANNELS.length;
  return {
    tx_id: `${prefix}-${i}`,
    customer_id: `BC${String(c).padStart(7, '0')}`,
    channel: CHANNELS[k],
    amount_minor: 50_000 + ((i * 7919) % 4_950_000),
    currency: 'IRR',
    occurred_at: new Date(BASE_MS + i * 500).toISOString(),
    mcc: MCC[k],
    merchant_id: `M${String(i % 997).padStart(6, '0')}`,
    terminal_id: `T${String(i % 4099).padStart(7, '0')}`,
  };
}

/** The JSON bodies of `events` events from `first`, `perRequest` a request (0: one bare object each). */
export function requestBodies(prefix: string, first: number, events: number, perRequest: number, customers: number): { body: string; events: number }[] {
  const out: { body: string; events: number }[] = [];
  if (perRequest <= 0) {
    for (let i = first; i < first + events; i++) out.push({ body: JSON.stringify(benchTx(prefix, i, customers)), events: 1 });
    return out;
  }
  for (let i = first; i < first + events; i += perRequest) {
    const n = Math.min(perRequest, first + events - i);
    const items = Array.from({ length: n }, (_, j) => benchTx(prefix, i + j, customers));
    out.push({ body: JSON.stringify(items), events: n });
  }
  return out;
}

/** A Luhn-valid 16-digit test PAN for card number `i` (BIN 603799, the Shetab test range style). */
export function benchPan(i: number): string {
  const body = `603799${String(i).padStart(9, '0')}`;
  let sum = 0;
  for (let j = 0; j < body.length; j++) {
    let d = Number(body[body.length - 1 - j]);
    if (j % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return `${body}${(10 - (sum % 10)) % 10}`;
}

const pad = (n: number, w: number): string => String(n).padStart(w, '0');

/** MMDDhhmmss of a UTC time (field 7). */
export function mmddhhmmss(d: Date): string {
  return `${pad(d.getUTCMonth() + 1, 2)}${pad(d.getUTCDate(), 2)}${pad(d.getUTCHours(), 2)}${pad(d.getUTCMinutes(), 2)}${pad(d.getUTCSeconds(), 2)}`;
}

/**
 * The fields of a 0200 purchase request: connection `conn`'s message `seq` (its STAN, < 1,000,000), on
 * card `card`, transmitted at `at`. The tx id the adapter derives (acquirer, STAN, transmission) is
 * unique per (conn, seq) within one transmission second.
 */
export function iso0200Fields(conn: number, seq: number, card: number, at: Date): Record<number, string> {
  const t = mmddhhmmss(at);
  return {
    2: benchPan(card),
    3: '000000',
    4: pad(100_000 + ((seq * 7919) % 9_000_000), 12),
    7: t,
    11: pad(seq % 1_000_000, 6),
    12: t.slice(4),
    13: t.slice(0, 4),
    18: item(MCC, seq % MCC.length),
    22: '051',
    25: '00',
    32: String(600_000 + conn),
    37: pad(conn * 1_000_000 + seq, 12),
    41: `T${pad(conn, 7)}`,
    42: `M${pad(seq % 997, 14)}`,
    49: '364',
  };
}
