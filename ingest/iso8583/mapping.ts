/**
 * Pure mapping of decoded ISO 8583 financial messages and reversals to the v1 transaction event, and
 * of requests to their responses. All business choices (channels, currencies, approval codes, time
 * source) are tables a bank can replace; time comes from a reference clock passed in.
 */
import type { Channel, TransactionV1 } from '../../contracts/events.js';
import type { CardDirectory } from '../service.js';
import { tokenizePan } from '../tokenize.js';
import type { FieldValue, Iso8583Message } from './codec.js';

/** ISO 4217 alpha code and the exponent of its minor unit. */
export interface CurrencyInfo {
  alpha: string;
  exponent: number;
}

/** Moves a channel to another when the merchant category code says so. */
export interface MccRule {
  mcc: readonly string[];
  /** Channels (from the processing code) the rule applies to. */
  from: readonly Channel[];
  channel: Channel;
}

export interface MappingTables {
  /**
   * Request MTIs handled, by class; any other request is answered `12`. A dual-message bank that
   * books on the 0220 completion can drop 0100/0101 here so authorizations do not count twice.
   */
  messageClasses: Readonly<Record<string, MessageClass>>;
  /** Transaction type (first two digits of field 3) → channel; a type not listed is answered `12`. */
  processingCodes: Readonly<Record<string, Channel>>;
  /** A `pos` purchase becomes `online` when field 22 starts with one of these entry modes or field 25 is one of these condition codes. */
  ecommerce: { posEntryModes: readonly string[]; posConditionCodes: readonly string[] };
  /** First matching rule wins. */
  mccRules: readonly MccRule[];
  /** ISO 4217 numeric (field 49) → alpha code and exponent. */
  currencies: Readonly<Record<string, CurrencyInfo>>;
  /** ISO 4217 numeric code assumed when field 49 is absent (domestic switches often omit it); none by default. */
  defaultCurrency?: string;
  /** Field 39 values that mean approved in a financial advice; any other value makes the event `declined`. */
  approvedResponseCodes: readonly string[];
  /**
   * Which date-time becomes `occurred_at`: field 7 (transmission, UTC) or fields 13+12 (local date and
   * time at the terminal, at `localUtcOffset`); the other is used when the preferred one is absent.
   */
  occurredAt: { prefer: 'transmission' | 'local'; localUtcOffset: string };
}

type CurrencyRow = [string, string, number];
const CURRENCY_ROWS: CurrencyRow[] = [
  // Exponent 0 for IRR although ISO 4217 lists 2: Iranian switches (Shetab) carry whole rials in field 4
  // and the rial has no minor unit in use, so the unit on the wire is the rial itself.
  ['364', 'IRR', 0],
  ['008', 'ALL', 2], ['012', 'DZD', 2], ['032', 'ARS', 2], ['036', 'AUD', 2], ['048', 'BHD', 3], ['050', 'BDT', 2],
  ['051', 'AMD', 2], ['108', 'BIF', 0], ['124', 'CAD', 2], ['144', 'LKR', 2], ['152', 'CLP', 0], ['156', 'CNY', 2],
  ['170', 'COP', 2], ['174', 'KMF', 0], ['203', 'CZK', 2], ['208', 'DKK', 2], ['262', 'DJF', 0], ['324', 'GNF', 0],
  ['344', 'HKD', 2], ['348', 'HUF', 2], ['352', 'ISK', 0], ['356', 'INR', 2], ['360', 'IDR', 2], ['368', 'IQD', 3],
  ['376', 'ILS', 2], ['392', 'JPY', 0], ['398', 'KZT', 2], ['400', 'JOD', 3], ['404', 'KES', 2], ['410', 'KRW', 0],
  ['414', 'KWD', 3], ['417', 'KGS', 2], ['422', 'LBP', 2], ['434', 'LYD', 3], ['458', 'MYR', 2], ['484', 'MXN', 2],
  ['504', 'MAD', 2], ['512', 'OMR', 3], ['524', 'NPR', 2], ['548', 'VUV', 0], ['554', 'NZD', 2], ['566', 'NGN', 2],
  ['578', 'NOK', 2], ['586', 'PKR', 2], ['600', 'PYG', 0], ['608', 'PHP', 2], ['634', 'QAR', 2], ['643', 'RUB', 2],
  ['646', 'RWF', 0], ['682', 'SAR', 2], ['702', 'SGD', 2], ['704', 'VND', 0], ['710', 'ZAR', 2], ['752', 'SEK', 2],
  ['756', 'CHF', 2], ['760', 'SYP', 2], ['764', 'THB', 2], ['784', 'AED', 2], ['788', 'TND', 3], ['800', 'UGX', 0],
  ['818', 'EGP', 2], ['826', 'GBP', 2], ['840', 'USD', 2], ['860', 'UZS', 2], ['886', 'YER', 2], ['901', 'TWD', 2],
  ['933', 'BYN', 2], ['934', 'TMT', 2], ['941', 'RSD', 2], ['944', 'AZN', 2], ['946', 'RON', 2], ['949', 'TRY', 2],
  ['950', 'XAF', 0], ['952', 'XOF', 0], ['953', 'XPF', 0], ['971', 'AFN', 2], ['972', 'TJS', 2], ['975', 'BGN', 2],
  ['978', 'EUR', 2], ['980', 'UAH', 2], ['981', 'GEL', 2], ['985', 'PLN', 2], ['986', 'BRL', 2],
];

/** ISO 4217 numeric → alpha and exponent (IRR with exponent 0: see the note in the source). */
export const CURRENCIES: Readonly<Record<string, CurrencyInfo>> = Object.freeze(
  Object.fromEntries(CURRENCY_ROWS.map(([num, alpha, exponent]) => [num, Object.freeze({ alpha, exponent })])),
);

/** What a request MTI is. Repeats (last digit 1) are handled like the original. */
export type MessageClass = 'financial' | 'reversal' | 'network';

/** Request and advice MTIs this adapter handles. */
export const MTI_CLASSES: Readonly<Record<string, MessageClass>> = Object.freeze({
  '0100': 'financial', '0101': 'financial', '0200': 'financial', '0201': 'financial', '0220': 'financial', '0221': 'financial',
  '0400': 'reversal', '0401': 'reversal', '0420': 'reversal', '0421': 'reversal',
  '0800': 'network', '0801': 'network', '0820': 'network',
});

/** The defaults: ISO 8583:1987 transaction types, card-network e-commerce indicators, common MCCs. */
export const DEFAULT_TABLES: Readonly<MappingTables> = Object.freeze({
  messageClasses: MTI_CLASSES,
  processingCodes: Object.freeze({
    '00': 'pos', // goods and services
    '01': 'atm', // cash withdrawal
    '09': 'pos', // goods and services with cash back
    '11': 'pos', // quasi-cash
    '21': 'deposit',
    '40': 'transfer', // cardholder accounts transfer
    '50': 'bill_pay', // payment
  } satisfies Record<string, Channel>),
  ecommerce: Object.freeze({ posEntryModes: ['81'], posConditionCodes: ['59'] }),
  mccRules: Object.freeze([
    { mcc: ['5541', '5542', '5983'], from: ['pos'], channel: 'fuel' },
    { mcc: ['4900', '4814', '4899', '9311'], from: ['pos', 'online'], channel: 'bill_pay' },
  ] satisfies MccRule[]),
  currencies: CURRENCIES,
  approvedResponseCodes: Object.freeze(['00', '08', '10', '11', '16']),
  occurredAt: Object.freeze({ prefer: 'transmission', localUtcOffset: '+00:00' }),
});

/** The response MTI for a request or advice (`0200` → `0210`, `0421` → `0430`); undefined for a response. */
export function responseMti(mti: string): string | undefined {
  if (!/^\d{4}$/.test(mti)) return undefined;
  const fn = Number(mti[2]);
  if (fn % 2 !== 0) return undefined;
  return `${mti.slice(0, 2)}${fn + 1}0`;
}

/** Fields a response copies from its request (field 2, the PAN, deliberately not among them). */
export const RESPONSE_ECHO_FIELDS: readonly number[] = [3, 4, 7, 11, 12, 13, 32, 33, 37, 41, 42, 49, 70, 90];

/** Builds the response to a (possibly partly decoded) request: echoed fields and field 39. */
export function buildResponse(request: { mti: string; fields: Record<number, FieldValue>; header?: Buffer }, responseCode: string, header?: Buffer): Iso8583Message | undefined {
  const mti = responseMti(request.mti);
  if (!mti) return undefined;
  const fields: Record<number, FieldValue> = {};
  for (const f of RESPONSE_ECHO_FIELDS) {
    const v = request.fields[f];
    if (v !== undefined) fields[f] = v;
  }
  fields[39] = responseCode;
  return { mti, fields, ...(header ? { header } : {}) };
}

const text = (v: FieldValue | undefined): string | undefined => (typeof v === 'string' ? v : undefined);

/** A card field that is present but unusable. */
export interface CardError {
  field: 2 | 35;
  reason: string;
}

/**
 * The keyed card token of a message: from field 2 (PAN) or, when that is absent or empty, from the PAN
 * in track 2 (field 35). `undefined` when the message carries no card.
 */
export function cardTokenOf(fields: Record<number, FieldValue>, tokenKey: string): { token: string } | { error: CardError } | undefined {
  const pan = text(fields[2]);
  if (pan !== undefined && pan !== '') {
    return /^\d{12,19}$/.test(pan) ? { token: tokenizePan(pan, tokenKey) } : { error: { field: 2, reason: 'the PAN is not 12–19 digits' } };
  }
  const track = text(fields[35]);
  if (track !== undefined && track !== '') {
    const m = /^;?(\d{12,19})[=D]/.exec(track);
    return m ? { token: tokenizePan(m[1]!, tokenKey) } : { error: { field: 35, reason: 'track 2 does not start with a 12–19 digit PAN and a separator' } };
  }
  return undefined;
}

/** Field 90 of a reversal: what identifies the original message. */
export interface OriginalDataElements {
  mti: string;
  stan: string;
  /** MMDDhhmmss. */
  transmission: string;
  acquirer: string;
  forwarder: string;
}

/** Splits field 90 (n 42: MTI 4, STAN 6, transmission date-time 10, acquirer 11, forwarder 11). */
export function parseOriginalDataElements(s: string): OriginalDataElements | undefined {
  const m = /^(\d{4})(\d{6})(\d{10})(\d{11})(\d{11})$/.exec(s);
  if (!m) return undefined;
  return { mti: m[1]!, stan: m[2]!, transmission: m[3]!, acquirer: m[4]!, forwarder: m[5]! };
}

/**
 * A date-time without a year (MMDDhhmmss), placed in the latest year that does not put it more than a
 * day after the reference (a switch reports what already happened; a day covers clock skew across New
 * Year). Falls back to the nearest year.
 */
export function inferDateTime(mmddhhmmss: string, reference: Date, utcOffsetMinutes = 0): Date | undefined {
  const m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(mmddhhmmss);
  if (!m) return undefined;
  const [mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return undefined;
  let best: Date | undefined;
  const valid: Date[] = [];
  const y0 = reference.getUTCFullYear();
  for (const y of [y0 - 1, y0, y0 + 1]) {
    const t = Date.UTC(y, mo - 1, d, h, mi, s);
    const check = new Date(t);
    if (check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d) continue;
    const at = new Date(t - utcOffsetMinutes * 60_000);
    valid.push(at);
    if (at.getTime() <= reference.getTime() + 86_400_000 && (!best || at > best)) best = at;
  }
  return best ?? valid[0];
}

function offsetMinutes(offset: string): number | undefined {
  const m = /^([+-])(\d{2}):(\d{2})$/.exec(offset);
  if (!m) return undefined;
  const v = Number(m[2]) * 60 + Number(m[3]);
  return m[1] === '-' ? -v : v;
}

const rfc3339 = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
const compact = (d: Date): string => d.toISOString().replace(/[-:T]/g, '').slice(0, 14);

/**
 * The stable id of a transaction: `iso:<acquirer 32>:<STAN 11>:<YYYYMMDDhhmmss of field 7>`, built only
 * from what a reversal's field 90 repeats, so the id rebuilt from a reversal matches the original's.
 * The year is inferred against the reference clock; the acquirer loses its leading zeros (absent → `0`).
 */
export function txIdFor(key: { acquirer: string; stan: string; transmission: string }, reference: Date): string | undefined {
  const at = inferDateTime(key.transmission, reference);
  if (!at || !/^\d{1,12}$/.test(key.stan) || !/^\d*$/.test(key.acquirer)) return undefined;
  const acquirer = key.acquirer.replace(/^0+/, '') || '0';
  return `iso:${acquirer}:${key.stan.padStart(6, '0')}:${compact(at)}`;
}

export interface MappingContext {
  /** Reference clock (when the message arrived) for the year of MMDD dates. */
  now: Date;
  /** Key of the card tokenization (HMAC). */
  tokenKey: string;
  /** The customer whose profile lists the card (from `CardDirectory.lookup`); else the card token is the customer id. */
  customerId?: string;
  tables?: MappingTables;
}

/** A refusal: `30` (format error: a field is missing or wrong) or `12` (invalid transaction: not supported here). */
export interface MappingRefusal {
  ok: false;
  responseCode: '30' | '12';
  /** The field at fault, when there is one. */
  field?: number;
  reason: string;
}

export type MappingResult = { ok: true; kind: 'financial' | 'reversal'; tx: TransactionV1 } | MappingRefusal;

const refuse = (responseCode: '30' | '12', reason: string, field?: number): MappingRefusal => ({ ok: false, responseCode, reason, ...(field !== undefined ? { field } : {}) });

/**
 * Maps a decoded 0100/0200/0220 (and their repeats) to a transaction, or a 0400/0420 (and repeats) to a
 * reversal whose `reverses_tx_id` is rebuilt from field 90 and whose own `tx_id` is that id + `:rev`
 * (so a repeat or an advice of the same reversal is a duplicate, not a second reversal).
 */
export function mapToTransaction(msg: Iso8583Message, ctx: MappingContext): MappingResult {
  const t = ctx.tables ?? DEFAULT_TABLES;
  const f = msg.fields;
  const kind = t.messageClasses[msg.mti];
  if (kind !== 'financial' && kind !== 'reversal') return refuse('12', `MTI ${msg.mti} is not a financial message or a reversal`);

  const proc = text(f[3]);
  if (proc === undefined || !/^\d{6}$/.test(proc)) return refuse('30', 'the processing code is missing or not 6 digits', 3);
  let channel: Channel | undefined = t.processingCodes[proc.slice(0, 2)];
  if (!channel) return refuse('12', `transaction type ${proc.slice(0, 2)} (processing code) is not supported`, 3);
  const entry = text(f[22]);
  const condition = text(f[25]);
  if (channel === 'pos' && ((entry !== undefined && t.ecommerce.posEntryModes.includes(entry.slice(0, 2))) || (condition !== undefined && t.ecommerce.posConditionCodes.includes(condition)))) {
    channel = 'online';
  }
  const mccRaw = text(f[18]);
  const mcc = mccRaw !== undefined && /^\d{4}$/.test(mccRaw) ? mccRaw : undefined;
  if (mcc) {
    const from = channel;
    const rule = t.mccRules.find((r) => r.mcc.includes(mcc) && r.from.includes(from));
    if (rule) channel = rule.channel;
  }

  const amountRaw = text(f[4]);
  if (amountRaw === undefined || !/^\d+$/.test(amountRaw)) return refuse('30', 'the amount is missing or not digits', 4);
  const amount = Number(amountRaw);
  if (!Number.isSafeInteger(amount)) return refuse('30', 'the amount is too large', 4);
  const currencyCode = text(f[49]) ?? t.defaultCurrency;
  if (currencyCode === undefined) return refuse('30', 'the currency code is missing', 49);
  const currency = t.currencies[currencyCode];
  if (!currency || !Number.isInteger(currency.exponent) || currency.exponent < 0 || currency.exponent > 4) {
    return refuse('30', `currency ${currencyCode} is not a known ISO 4217 numeric code`, 49);
  }

  const stan = text(f[11]);
  if (stan === undefined || !/^\d{6}$/.test(stan)) return refuse('30', 'the STAN is missing or not 6 digits', 11);
  const transmission = text(f[7]);
  if (transmission === undefined) return refuse('30', 'the transmission date-time is missing', 7);
  const acquirer = text(f[32]) ?? '';
  const ownId = txIdFor({ acquirer, stan, transmission }, ctx.now);
  if (!ownId) return refuse('30', 'the transmission date-time is not a valid MMDDhhmmss', 7);

  let occurredAt: Date | undefined;
  const offset = offsetMinutes(t.occurredAt.localUtcOffset) ?? 0;
  const localDate = text(f[13]);
  const localTime = text(f[12]);
  const useLocal = localDate !== undefined && localTime !== undefined && t.occurredAt.prefer === 'local';
  if (useLocal) {
    occurredAt = inferDateTime(`${localDate}${localTime}`, ctx.now, offset);
    if (!occurredAt) return refuse('30', 'the local transaction date and time are not a valid MMDD and hhmmss', 13);
  } else occurredAt = inferDateTime(transmission, ctx.now);
  if (!occurredAt) return refuse('30', 'the transmission date-time is not a valid MMDDhhmmss', 7);

  const card = cardTokenOf(f, ctx.tokenKey);
  if (!card) return refuse('30', 'no card data (field 2 or 35)', 2);
  if ('error' in card) return refuse('30', card.error.reason, card.error.field);

  let txId = ownId;
  let reverses: string | undefined;
  if (kind === 'reversal') {
    const raw = text(f[90]);
    if (raw !== undefined) {
      const orig = parseOriginalDataElements(raw);
      if (!orig) return refuse('30', 'original data elements are not 42 digits', 90);
      if (t.messageClasses[orig.mti] !== 'financial') {
        return MTI_CLASSES[orig.mti] === 'financial'
          ? refuse('12', `the original MTI ${orig.mti} is not booked here`, 90)
          : refuse('30', `the original MTI ${orig.mti} is not a financial message`, 90);
      }
      reverses = txIdFor({ acquirer: orig.acquirer, stan: orig.stan, transmission: orig.transmission }, ctx.now);
      if (!reverses) return refuse('30', 'the original transmission date-time is not a valid MMDDhhmmss', 90);
    } else reverses = ownId;
    txId = `${reverses}:rev`;
  }

  const response = text(f[39]);
  const declined = kind === 'financial' && response !== undefined && !t.approvedResponseCodes.includes(response);
  const terminal = text(f[41])?.trim();
  const merchant = text(f[42])?.trim();
  const tx: TransactionV1 = {
    tx_id: txId,
    customer_id: ctx.customerId ?? card.token,
    channel,
    amount_minor: amount,
    currency: currency.alpha,
    occurred_at: rfc3339(occurredAt),
    status: declined ? 'declined' : 'approved',
    ...(reverses ? { reverses_tx_id: reverses } : {}),
    ...(mcc ? { mcc } : {}),
    ...(merchant ? { merchant_id: merchant } : {}),
    ...(terminal ? { terminal_id: terminal } : {}),
    card_token: card.token,
  };
  return { ok: true, kind, tx };
}

/**
 * {@link mapToTransaction} with the customer looked up in a card directory (only for a message that maps).
 * A lookup that throws propagates: the caller answers `96` so that the switch retries, rather than
 * keying the customer's history to the card token.
 */
export async function toTransaction(msg: Iso8583Message, ctx: Omit<MappingContext, 'customerId'> & { cards?: CardDirectory }): Promise<MappingResult> {
  const mapped = mapToTransaction(msg, ctx);
  if (!mapped.ok || !ctx.cards || !mapped.tx.card_token) return mapped;
  const customerId = await ctx.cards.lookup(mapped.tx.card_token);
  return customerId ? { ...mapped, tx: { ...mapped.tx, customer_id: customerId } } : mapped;
}
