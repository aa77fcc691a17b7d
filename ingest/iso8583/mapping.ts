/**
 * Pure mapping of decoded ISO 8583 financial messages and reversals to the v1 transaction event, and
 * of requests to their responses. All business choices (channels, currencies, approval codes, time
 * source) are tables a bank can replace; time comes from a reference clock passed in.
 */
import currencyCodes from 'currency-codes';
import type { Channel, TransactionV1 } from '../../contracts/events.js';
import type { CardDirectory } from '../service.js';
import { tokenizePan } from '../tokenize.js';
import type { FieldValue, Iso8583Message } from './codec.js';
import {
  DEFAULT_DIALECT, type MessageClass, type OriginalDataLayout, type ResponseCodes, type TransactionKey,
} from './dialects.js';

export type { MessageClass, OriginalDataLayout, OriginalDataPart, ResponseCodes, TransactionKey } from './dialects.js';

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

/**
 * Which way money moves in a transaction type. `purchase`, `withdrawal`, `payment`, `transfer` and
 * `deposit` become events; `refund` and `adjustment` (a credit adjustment: money back to the cardholder)
 * become refund events (`kind: refund`, default channel pos); `inquiry` (balance inquiry: no money
 * moved) is answered and not booked. A *reversal* of a refund or adjustment (the refund was voided) is a
 * reversal event naming the refund (`reverses_tx_id`, no `kind`): the scorer gives back what it took.
 */
export type Direction = 'purchase' | 'withdrawal' | 'payment' | 'transfer' | 'deposit' | 'refund' | 'adjustment' | 'inquiry';
export const DIRECTIONS: readonly Direction[] = ['purchase', 'withdrawal', 'payment', 'transfer', 'deposit', 'refund', 'adjustment', 'inquiry'];

/** A processing code's meaning: its direction and (for those that become events) its channel. */
export interface ProcessingRule {
  direction: Direction;
  /** Default from the direction: purchase, refund, adjustment → pos, withdrawal → atm, payment → bill_pay, transfer → transfer, deposit → deposit. */
  channel?: Channel;
}

/** The channel a direction gets when its rule names none. */
export const DIRECTION_CHANNELS: Readonly<Partial<Record<Direction, Channel>>> = Object.freeze({
  purchase: 'pos', withdrawal: 'atm', payment: 'bill_pay', transfer: 'transfer', deposit: 'deposit', refund: 'pos', adjustment: 'pos',
});

/** An e-commerce indicator: the characters at `offset` (0-based, `length` of them, default the value's) of a field, one of `values`. */
export interface EcommerceRule {
  field: number;
  offset?: number;
  length?: number;
  values: readonly string[];
}

export interface MappingTables {
  /**
   * Request MTIs handled, by class; any other request is answered `12`. A dual-message bank that
   * books on the 0220 completion can drop 0100/0101 here so authorizations do not count twice.
   */
  messageClasses: Readonly<Record<string, MessageClass>>;
  /**
   * Transaction type (first two digits of field 3) or whole processing code (six digits, wins) → a
   * channel (a purchase-like debit on it) or a {@link ProcessingRule}; a code not listed is answered `12`.
   */
  processingCodes: Readonly<Record<string, Channel | ProcessingRule>>;
  /**
   * A `pos` purchase becomes `online` when field 22 starts with one of `posEntryModes`, field 25 is one
   * of `posConditionCodes`, or any of `rules` matches (e.g. an indicator inside field 48).
   */
  ecommerce: { posEntryModes: readonly string[]; posConditionCodes: readonly string[]; rules?: readonly EcommerceRule[] };
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
   * time at the terminal, at `localUtcOffset`; field 12 alone when it holds YYMMDDhhmmss, as in 1993);
   * the other is used when the preferred one is absent.
   */
  occurredAt: { prefer: 'transmission' | 'local'; localUtcOffset: string };
  /** Fields holding the MCC, first present wins. Default [18]. */
  mccFields?: readonly number[];
  /** Field and layout of the original data elements. Default field 90 as ISO 8583:1987 lays it out. */
  originalData?: OriginalDataLayout;
  /** What a transaction id is built from. Default STAN, field 7 and the acquirer (field 32). */
  transactionKey?: TransactionKey;
  /** Field 39 values sent. Default `00`, `12`, `30`, `96`. */
  responseCodes?: ResponseCodes;
  /** Fields a response copies from its request. Default {@link RESPONSE_ECHO_FIELDS}; the PAN (2) and track data never. */
  responseEchoFields?: readonly number[];
}

/**
 * Codes withdrawn from ISO 4217 that historic messages (a backfill) still carry, with the exponent
 * they had. The current list is the `currency-codes` package (ISO 4217 list one, see its publish date).
 */
const WITHDRAWN: readonly [string, string, number][] = [
  ['191', 'HRK', 2], ['694', 'SLL', 2], ['478', 'MRO', 2], ['678', 'STD', 2], ['937', 'VEF', 2], ['440', 'LTL', 2], ['428', 'LVL', 2],
  ['233', 'EEK', 2], ['931', 'CUC', 2], ['932', 'ZWL', 2], ['703', 'SKK', 2], ['705', 'SIT', 2], ['196', 'CYP', 2], ['470', 'MTL', 2],
];

/** ISO 4217 codes that no card payment is made in: precious metals, bond-market units, SDR-like units, testing, "no currency". */
const NOT_FOR_PAYMENTS: readonly string[] = ['XAG', 'XAU', 'XPD', 'XPT', 'XBA', 'XBB', 'XBC', 'XBD', 'XDR', 'XSU', 'XUA', 'XTS', 'XXX'];

function currencyTable(): Readonly<Record<string, CurrencyInfo>> {
  const out: Record<string, CurrencyInfo> = {};
  for (const [num, alpha, exponent] of WITHDRAWN) out[num] = Object.freeze({ alpha, exponent });
  for (const c of currencyCodes.data) {
    if (NOT_FOR_PAYMENTS.includes(c.code)) continue;
    if (/^\d{3}$/.test(c.number) && /^[A-Z]{3}$/.test(c.code) && Number.isInteger(c.digits)) out[c.number] = Object.freeze({ alpha: c.code, exponent: c.digits });
  }
  // Exponent 0 for IRR although ISO 4217 lists 2: Iranian switches (Shetab) carry whole rials in field 4
  // and the rial has no minor unit in use, so the unit on the wire is the rial itself.
  out['364'] = Object.freeze({ alpha: 'IRR', exponent: 0 });
  return Object.freeze(out);
}

/** ISO 4217 numeric → alpha and exponent: the whole current list, a few withdrawn codes, IRR with exponent 0 (see the source). */
export const CURRENCIES: Readonly<Record<string, CurrencyInfo>> = currencyTable();

/** Request and advice MTIs of ISO 8583:1987 this adapter handles. */
export const MTI_CLASSES: Readonly<Record<string, MessageClass>> = DEFAULT_DIALECT.mapping.messageClasses;

/** The defaults: ISO 8583:1987 transaction types, card-network e-commerce indicators, common MCCs. */
export const DEFAULT_TABLES: Readonly<MappingTables> = Object.freeze({
  messageClasses: MTI_CLASSES,
  processingCodes: Object.freeze({
    '00': 'pos', // goods and services
    '01': 'atm', // cash withdrawal
    '09': 'pos', // goods and services with cash back
    '11': 'pos', // quasi-cash
    '20': { direction: 'refund' }, // returns
    '21': 'deposit',
    '22': { direction: 'adjustment' }, // credit adjustment
    '30': { direction: 'inquiry' }, // available funds inquiry
    '31': { direction: 'inquiry' }, // balance inquiry
    '40': 'transfer', // cardholder accounts transfer
    '50': 'bill_pay', // payment
  } satisfies Record<string, Channel | ProcessingRule>),
  ecommerce: Object.freeze({ posEntryModes: ['81'], posConditionCodes: ['59'] }),
  mccRules: Object.freeze([
    { mcc: ['5541', '5542', '5983'], from: ['pos'], channel: 'fuel' },
    { mcc: ['4900', '4814', '4899', '9311'], from: ['pos', 'online'], channel: 'bill_pay' },
  ] satisfies MccRule[]),
  currencies: CURRENCIES,
  approvedResponseCodes: DEFAULT_DIALECT.mapping.approvedResponseCodes,
  occurredAt: Object.freeze({ prefer: 'transmission', localUtcOffset: '+00:00' }),
});

/**
 * The response MTI for a request or advice (`0200` → `0210`, `0421` → `0430`, `1804` → `1814`): the
 * function digit plus one, the origin digit without its repeat bit. Undefined for a response or
 * anything that is not four digits.
 */
export function responseMti(mti: string): string | undefined {
  if (!/^\d{4}$/.test(mti)) return undefined;
  const fn = Number(mti[2]);
  if (fn % 2 !== 0) return undefined;
  const origin = Number(mti[3]);
  return `${mti.slice(0, 2)}${fn + 1}${origin - (origin % 2)}`;
}

/** Fields a response copies from its request by default (field 2, the PAN, deliberately not among them). */
export const RESPONSE_ECHO_FIELDS: readonly number[] = [3, 4, 7, 11, 12, 13, 32, 33, 37, 41, 42, 49, 70, 90];

/** Fields no response ever copies, whatever the echo list says: card data. */
export const NEVER_ECHOED: readonly number[] = [2, 14, 34, 35, 36, 45, 52, 55];

/**
 * Builds the response to a (possibly partly decoded) request: the echoed fields and field 39.
 * `echo` defaults to {@link RESPONSE_ECHO_FIELDS}; card-data fields are never copied.
 */
export function buildResponse(
  request: { mti: string; fields: Record<number, FieldValue>; header?: Buffer },
  responseCode: string,
  header?: Buffer,
  echo: readonly number[] = RESPONSE_ECHO_FIELDS,
): Iso8583Message | undefined {
  const mti = responseMti(request.mti);
  if (!mti) return undefined;
  const fields: Record<number, FieldValue> = {};
  for (const f of echo) {
    const v = request.fields[f];
    if (v !== undefined && !NEVER_ECHOED.includes(f)) fields[f] = v;
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
    const trackPan = /^;?(\d{12,19})[=D]/.exec(track)?.[1];
    return trackPan !== undefined ? { token: tokenizePan(trackPan, tokenKey) } : { error: { field: 35, reason: 'track 2 does not start with a 12–19 digit PAN and a separator' } };
  }
  return undefined;
}

/** Field 90 of a reversal (ISO 8583:1987 layout): what identifies the original message. */
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
  const [, mti, stan, transmission, acquirer, forwarder] = m ?? [];
  if (mti === undefined || stan === undefined || transmission === undefined || acquirer === undefined || forwarder === undefined) return undefined;
  return { mti, stan, transmission, acquirer, forwarder };
}

/** Splits original data elements by a dialect's layout; undefined when the value does not fit it. */
export function parseOriginalData(s: string, layout: OriginalDataLayout): Partial<Record<OriginalDataLayout['parts'][number]['name'], string>> | undefined {
  const out: Partial<Record<string, string>> = {};
  let pos = 0;
  for (const part of layout.parts) {
    let len: number;
    if (part.length === 'LL') {
      if (!/^\d{2}$/.test(s.slice(pos, pos + 2))) return undefined;
      len = Number(s.slice(pos, pos + 2));
      pos += 2;
    } else len = part.length;
    if (pos + len > s.length) return undefined;
    const v = s.slice(pos, pos + len);
    pos += len;
    if (part.name === 'filler') continue;
    if (part.name !== 'rrn' && !/^\d*$/.test(v)) return undefined;
    out[part.name] = v;
  }
  return pos === s.length ? out : undefined;
}

/**
 * A date-time without a year (MMDDhhmmss), placed in the latest year that does not put it more than a
 * day after the reference (a switch reports what already happened; a day covers clock skew across New
 * Year). Falls back to the nearest year.
 */
export function inferDateTime(mmddhhmmss: string, reference: Date, utcOffsetMinutes = 0): Date | undefined {
  if (mmddhhmmss.length !== 10) return undefined;
  const mo = twoDigits(mmddhhmmss, 0);
  const d = twoDigits(mmddhhmmss, 2);
  const h = twoDigits(mmddhhmmss, 4);
  const mi = twoDigits(mmddhhmmss, 6);
  const s = twoDigits(mmddhhmmss, 8);
  if (mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59) return undefined;
  const latest = reference.getTime() + 86_400_000;
  const y0 = reference.getUTCFullYear();
  let best = NaN;
  let first = NaN;
  for (let y = y0 - 1; y <= y0 + 1; y++) {
    // Day `d` exists in that month of that year (Date.UTC would roll a 30 February into March).
    if (!(Date.UTC(y, mo - 1, d) < Date.UTC(y, mo, 1))) continue;
    const at = Date.UTC(y, mo - 1, d, h, mi, s) - utcOffsetMinutes * 60_000;
    if (Number.isNaN(first)) first = at;
    if (at <= latest && (Number.isNaN(best) || at > best)) best = at;
  }
  const pick = Number.isNaN(best) ? first : best;
  return Number.isNaN(pick) ? undefined : new Date(pick);
}

/** The two ASCII digits at `at` as a number; -1 when either is not a digit. */
function twoDigits(s: string, at: number): number {
  const tens = s.charCodeAt(at) - 48;
  const ones = s.charCodeAt(at + 1) - 48;
  return tens >= 0 && tens <= 9 && ones >= 0 && ones <= 9 ? tens * 10 + ones : -1;
}

function offsetMinutes(offset: string): number | undefined {
  const m = /^([+-])(\d{2}):(\d{2})$/.exec(offset);
  if (!m) return undefined;
  const v = Number(m[2]) * 60 + Number(m[3]);
  return m[1] === '-' ? -v : v;
}

/** `YYYY-MM-DDThh:mm:ssZ` (the ISO string without its milliseconds). */
function rfc3339(d: Date): string {
  const iso = d.toISOString();
  return iso.length === 24 ? `${iso.slice(0, 19)}Z` : iso.replace(/\.\d{3}Z$/, 'Z');
}

/** `YYYYMMDDhhmmss`. */
function compact(d: Date): string {
  const iso = d.toISOString();
  if (iso.length !== 24) return iso.replace(/[-:T]/g, '').slice(0, 14);
  return iso.slice(0, 4) + iso.slice(5, 7) + iso.slice(8, 10) + iso.slice(11, 13) + iso.slice(14, 16) + iso.slice(17, 19);
}

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

/** The parts a transaction id is built from, as read from a message or from original data elements. */
export interface KeyParts {
  reference?: string;
  /** MMDDhhmmss (`transmission`, `local`) or YYMMDDhhmmss (`local12`). */
  time?: string;
  acquirer?: string;
}

/**
 * The id for a key under a dialect's {@link TransactionKey}. With the default (STAN, field 7,
 * acquirer) it is exactly {@link txIdFor}'s; an RRN is written `r<rrn>`, and without the acquirer
 * the acquirer part is `0`.
 */
export function keyId(parts: KeyParts, key: TransactionKey, reference: Date): string | undefined {
  if (parts.reference === undefined || parts.time === undefined) return undefined;
  const acquirer = key.acquirer ? (parts.acquirer ?? '') : '';
  if (key.reference === 'stan' && key.time !== 'local12') return txIdFor({ acquirer, stan: parts.reference, transmission: parts.time }, reference);
  const ref = key.reference === 'stan' ? parts.reference : `r${parts.reference.trim()}`;
  return idAt(acquirer, ref, parts.time, key.time === 'local12', reference, key.reference === 'stan' ? /^\d{1,12}$/ : /^r[0-9A-Za-z]{1,12}$/);
}

function idAt(acquirer: string, ref: string, time: string, withYear: boolean, reference: Date, refPattern: RegExp): string | undefined {
  if (!refPattern.test(ref) || !/^\d*$/.test(acquirer)) return undefined;
  const at = withYear ? yearDateTime(time) : inferDateTime(time, reference);
  if (!at) return undefined;
  return `iso:${acquirer.replace(/^0+/, '') || '0'}:${ref}:${compact(at)}`;
}

/** YYMMDDhhmmss (years 2000–2099) at a UTC offset, or undefined when it is not a valid date and time. */
export function yearDateTime(s: string, utcOffsetMinutes = 0): Date | undefined {
  const m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(s);
  if (!m) return undefined;
  const [y, mo, d, h, mi, sec] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59) return undefined;
  const t = Date.UTC(2000 + y, mo - 1, d, h, mi, sec);
  if (new Date(t).getUTCDate() !== d) return undefined;
  return new Date(t - utcOffsetMinutes * 60_000);
}

/** The key parts of a message itself under a dialect's {@link TransactionKey}. */
function ownKeyParts(f: Record<number, FieldValue>, key: TransactionKey): KeyParts {
  const reference = text(key.reference === 'stan' ? f[11] : f[37]);
  const time = key.time === 'transmission' ? text(f[7]) : key.time === 'local12' ? text(f[12]) : text(f[13]) !== undefined && text(f[12]) !== undefined ? `${text(f[13])}${text(f[12])}` : undefined;
  const acquirer = text(f[32]);
  const parts: KeyParts = {};
  if (reference !== undefined) parts.reference = reference;
  if (time !== undefined) parts.time = time;
  if (acquirer !== undefined) parts.acquirer = acquirer;
  return parts;
}

/** The key parts of the original a reversal or completion names in its original data elements. */
function originalKeyParts(parts: Partial<Record<string, string>>, key: TransactionKey): KeyParts {
  const reference = key.reference === 'stan' ? parts.stan : parts.rrn;
  const time = key.time === 'transmission' ? parts.transmission : key.time === 'local12' ? parts.datetime12
    : parts.date !== undefined && parts.time !== undefined ? `${parts.date}${parts.time.slice(0, 6)}` : undefined;
  return { ...(reference !== undefined ? { reference } : {}), ...(time !== undefined ? { time } : {}), ...(parts.acquirer !== undefined ? { acquirer: parts.acquirer } : {}) };
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

/** Which answer a refusal gets: a format error (a field is missing or wrong) or an invalid transaction (not supported here). */
export type RefusalKind = 'formatError' | 'invalidTransaction';

/** A refusal: `responseCode` is the tables' code for its kind (`30` or `12` by default). */
export interface MappingRefusal {
  ok: false;
  kind: RefusalKind;
  responseCode: string;
  /** The field at fault, when there is one. */
  field?: number;
  reason: string;
}

/** A message that maps to an event. `completion` is an advice booked under the id of the authorisation it completes. */
export interface MappedEvent {
  ok: true;
  kind: 'financial' | 'reversal' | 'completion';
  tx: TransactionV1;
  /**
   * A completion booked under its authorisation's id: its own id (what a reversal naming the completion
   * rebuilds), to be remembered as booked under `tx.tx_id` ({@link CompletionIds}).
   */
  completionOwnId?: string;
  /**
   * A reversal whose original data elements name a completion: `tx.reverses_tx_id` is the completion's
   * own id, to be replaced by the id it was booked under ({@link reversalOfBooked}) when that is known.
   */
  reversesCompletion?: true;
}

/**
 * Where a completion's own id leads to the id it was booked under (its authorisation's). The mapping is
 * pure: the listener remembers each completion it books and looks a reversal's original up here.
 */
export interface CompletionIds {
  /** Remembers that the completion whose own id is `ownId` was booked under `bookedId`; durable when it resolves. */
  remember(ownId: string, bookedId: string): Promise<void>;
  /** The id the completion `ownId` was booked under, or undefined when unknown. */
  bookedIdOf(ownId: string): Promise<string | undefined>;
}

/**
 * A reversal naming a completion, made a reversal of the id the completion was booked under: its
 * `reverses_tx_id` is that id and its `tx_id` that id + `:rev`, so it is the same event as a reversal
 * naming the authorisation itself (a switch that sends both reverses the money once).
 */
export function reversalOfBooked(tx: TransactionV1, bookedId: string): TransactionV1 {
  return { ...tx, tx_id: `${bookedId}:rev`, reverses_tx_id: bookedId };
}

/** A valid message that becomes no event: an inquiry (no money moved; answered approved). */
export interface MappedNoEvent {
  ok: true;
  kind: 'no_event';
  direction: 'inquiry';
  reason: string;
}

export type MappingResult = MappedEvent | MappedNoEvent | MappingRefusal;

/** The default field 39 values. */
const DEFAULT_CODES: ResponseCodes = DEFAULT_DIALECT.mapping.responseCodes;

const refusal = (t: MappingTables) => (kind: RefusalKind, reason: string, field?: number): MappingRefusal => ({
  ok: false, kind, responseCode: (t.responseCodes ?? DEFAULT_CODES)[kind], reason, ...(field !== undefined ? { field } : {}),
});

/** The rule for a processing code: the whole code first, then its first two digits. */
export function processingRule(t: MappingTables, proc: string): ProcessingRule | undefined {
  const raw = t.processingCodes[proc] ?? t.processingCodes[proc.slice(0, 2)];
  if (raw === undefined) return undefined;
  return typeof raw === 'string' ? { direction: directionOf(raw), channel: raw } : raw;
}

function directionOf(channel: Channel): Direction {
  switch (channel) {
    case 'atm': return 'withdrawal';
    case 'bill_pay':
    case 'installment': return 'payment';
    case 'transfer': return 'transfer';
    case 'deposit': return 'deposit';
    default: return 'purchase';
  }
}

/** Whether an e-commerce indicator marks the message as online. */
function isEcommerce(t: MappingTables, f: Record<number, FieldValue>): boolean {
  const entry = text(f[22]);
  const condition = text(f[25]);
  if (entry !== undefined && t.ecommerce.posEntryModes.includes(entry.slice(0, 2))) return true;
  if (condition !== undefined && t.ecommerce.posConditionCodes.includes(condition)) return true;
  return (t.ecommerce.rules ?? []).some((r) => {
    const v = text(f[r.field]);
    if (v === undefined) return false;
    const at = r.offset ?? 0;
    return r.values.some((want) => v.slice(at, at + (r.length ?? want.length)) === want);
  });
}

/** The channel of a message whose rule has one: e-commerce indicators, then MCC overrides. */
function channelOf(t: MappingTables, f: Record<number, FieldValue>, base: Channel, mcc: string | undefined): Channel {
  let channel = base;
  if (channel === 'pos' && isEcommerce(t, f)) channel = 'online';
  if (mcc) {
    const from = channel;
    const rule = t.mccRules.find((r) => r.mcc.includes(mcc) && r.from.includes(from));
    if (rule) channel = rule.channel;
  }
  return channel;
}

function mccOf(t: MappingTables, f: Record<number, FieldValue>): string | undefined {
  for (const n of t.mccFields ?? [18]) {
    const v = text(f[n]);
    if (v !== undefined && /^\d{4}$/.test(v)) return v;
  }
  return undefined;
}

function occurredAtOf(t: MappingTables, f: Record<number, FieldValue>, now: Date): Date | MappingRefusal {
  const refuse = refusal(t);
  const offset = offsetMinutes(t.occurredAt.localUtcOffset) ?? 0;
  const localDate = text(f[13]);
  const localTime = text(f[12]);
  const transmission = text(f[7]);
  if (t.occurredAt.prefer === 'local' && localTime !== undefined && localTime.length === 12) {
    return yearDateTime(localTime, offset) ?? refuse('formatError', 'the local transaction date and time are not a valid YYMMDDhhmmss', 12);
  }
  if ((t.occurredAt.prefer === 'local' || transmission === undefined) && localDate !== undefined && localTime !== undefined) {
    return inferDateTime(`${localDate}${localTime}`, now, offset) ?? refuse('formatError', 'the local transaction date and time are not a valid MMDD and hhmmss', 13);
  }
  if (transmission === undefined) return refuse('formatError', 'the transmission date-time is missing', 7);
  return inferDateTime(transmission, now) ?? refuse('formatError', 'the transmission date-time is not a valid MMDDhhmmss', 7);
}

/** An authorisation or financial request or advice (message class 1 or 2, function 0 or 2), in any ISO version. */
function isFinancialMti(mti: string): boolean {
  return /^\d[12][02]\d$/.test(mti);
}

/** The message class of the original MTI the original data elements name, when they name one. */
function originalClassOf(t: MappingTables, f: Record<number, FieldValue>): MessageClass | undefined {
  const layout = t.originalData ?? DEFAULT_DIALECT.mapping.originalData;
  const raw = text(f[layout.field]);
  const mti = raw === undefined ? undefined : parseOriginalData(raw, layout)?.mti;
  return mti === undefined ? undefined : t.messageClasses[mti];
}

/** The id of the original named by the original data elements, or a refusal; undefined when the field is absent. */
function originalIdOf(t: MappingTables, f: Record<number, FieldValue>, now: Date, kind: 'reversal' | 'completion'): string | MappingRefusal | undefined {
  const refuse = refusal(t);
  const layout = t.originalData ?? DEFAULT_DIALECT.mapping.originalData;
  const key = t.transactionKey ?? DEFAULT_DIALECT.mapping.transactionKey;
  const raw = text(f[layout.field]);
  if (raw === undefined) return undefined;
  const orig = parseOriginalData(raw, layout);
  if (!orig) return refuse('formatError', `original data elements do not fit the layout (${layout.parts.map((p) => `${p.name} ${p.length}`).join(', ')})`, layout.field);
  if (orig.mti !== undefined) {
    // A completion takes its authorisation's id whether or not authorisations are booked here (a
    // dual-message bank that drops 0100 books the completion itself); a reversal needs a booked original.
    const cls = t.messageClasses[orig.mti];
    const booked = kind === 'completion' ? isFinancialMti(orig.mti) : cls === 'financial' || cls === 'completion';
    if (!booked) {
      return isFinancialMti(orig.mti)
        ? refuse('invalidTransaction', `the original MTI ${orig.mti} is not booked here`, layout.field)
        : refuse('formatError', `the original MTI ${orig.mti} is not a financial message`, layout.field);
    }
  }
  const id = keyId(originalKeyParts(orig, key), key, now);
  return id ?? refuse('formatError', 'the original data elements do not hold a valid reference and date-time', layout.field);
}

/**
 * Maps a decoded request or advice. A financial message becomes a transaction; a completion (0220)
 * takes the id of the authorisation its original data elements name (so a booked authorisation and
 * its completion count once; its own id is returned as `completionOwnId`); a reversal (0400/0420 and
 * repeats) becomes a reversal whose `reverses_tx_id` is rebuilt from the original data elements and whose
 * own `tx_id` is that id + `:rev` (so a repeat or an advice of the same reversal is a duplicate, not a
 * second reversal). A reversal naming a completion is marked `reversesCompletion`: what it rebuilds is the
 * completion's own id, which the caller replaces by the id the completion was booked under.
 * A refund or credit adjustment becomes a refund (`kind: refund`); a financial one that carries the
 * original data elements names the purchase it refunds (`refund_of_tx_id`, rebuilt like a reversal's
 * original); a reversal of one is a reversal like any other (it names the refund and carries no `kind`).
 * Inquiries become no event (see {@link MappedNoEvent}).
 */
export function mapToTransaction(msg: Iso8583Message, ctx: MappingContext): MappingResult {
  const t = ctx.tables ?? DEFAULT_TABLES;
  const refuse = refusal(t);
  const f = msg.fields;
  const kind = t.messageClasses[msg.mti];
  if (kind !== 'financial' && kind !== 'reversal' && kind !== 'completion') return refuse('invalidTransaction', `MTI ${msg.mti} is not a financial message or a reversal`);

  const proc = text(f[3]);
  if (proc === undefined || !/^\d{6}$/.test(proc)) return refuse('formatError', 'the processing code is missing or not 6 digits', 3);
  const rule = processingRule(t, proc);
  if (!rule) return refuse('invalidTransaction', `transaction type ${proc.slice(0, 2)} (processing code) is not supported`, 3);
  if (rule.direction === 'inquiry') return { ok: true, kind: 'no_event', direction: 'inquiry', reason: `processing code ${proc} moves no money` };
  const isRefund = (rule.direction === 'refund' || rule.direction === 'adjustment') && kind !== 'reversal';
  const base = rule.channel ?? DIRECTION_CHANNELS[rule.direction];
  if (!base) return refuse('invalidTransaction', `processing code ${proc} has no channel`, 3);
  const mcc = mccOf(t, f);
  const channel = channelOf(t, f, base, mcc);

  const money = amountOf(t, f);
  if ('ok' in money) return money;
  const ownId = ownIdOf(t, f, ctx.now);
  if (typeof ownId === 'object') return ownId;

  const occurredAt = occurredAtOf(t, f, ctx.now);
  if (!(occurredAt instanceof Date)) return occurredAt;

  const card = cardTokenOf(f, ctx.tokenKey);
  if (!card) return refuse('formatError', 'no card data (field 2 or 35)', 2);
  if ('error' in card) return refuse('formatError', card.error.reason, card.error.field);

  const links = linkedIdsOf(t, f, ctx.now, kind, isRefund, ownId);
  if ('ok' in links) return links;

  const response = text(f[39]);
  const declined = kind !== 'reversal' && response !== undefined && !t.approvedResponseCodes.includes(response);
  const terminal = text(f[41])?.trim();
  const merchant = text(f[42])?.trim();
  const { txId, reverses, refundOf } = links;
  const tx: TransactionV1 = {
    tx_id: txId,
    customer_id: ctx.customerId ?? card.token,
    channel,
    amount_minor: money.amount,
    currency: money.currency.alpha,
    occurred_at: rfc3339(occurredAt),
    status: declined ? 'declined' : 'approved',
    ...(reverses ? { reverses_tx_id: reverses } : {}),
    ...(isRefund ? { kind: 'refund' as const } : {}),
    ...(refundOf ? { refund_of_tx_id: refundOf } : {}),
    ...(mcc ? { mcc } : {}),
    ...(merchant ? { merchant_id: merchant } : {}),
    ...(terminal ? { terminal_id: terminal } : {}),
    card_token: card.token,
  };
  return {
    ok: true, kind, tx,
    ...(kind === 'completion' && txId !== ownId ? { completionOwnId: ownId } : {}),
    ...(links.ofCompletion ? { reversesCompletion: true as const } : {}),
  };
}

/** The amount (field 4, minor units) and its currency (field 49, or the tables' default). */
function amountOf(t: MappingTables, f: Record<number, FieldValue>): { amount: number; currency: CurrencyInfo } | MappingRefusal {
  const refuse = refusal(t);
  const amountRaw = text(f[4]);
  if (amountRaw === undefined || !/^\d+$/.test(amountRaw)) return refuse('formatError', 'the amount is missing or not digits', 4);
  const amount = Number(amountRaw);
  if (!Number.isSafeInteger(amount)) return refuse('formatError', 'the amount is too large', 4);
  const currencyCode = text(f[49]) ?? t.defaultCurrency;
  if (currencyCode === undefined) return refuse('formatError', 'the currency code is missing', 49);
  const currency = t.currencies[currencyCode];
  if (!currency || !Number.isInteger(currency.exponent) || currency.exponent < 0 || currency.exponent > 4) {
    return refuse('formatError', `currency ${currencyCode} is not a known ISO 4217 numeric code`, 49);
  }
  return { amount, currency };
}

/** The message's own id, from its reference and date-time as the tables' transaction key says. */
function ownIdOf(t: MappingTables, f: Record<number, FieldValue>, now: Date): string | MappingRefusal {
  const refuse = refusal(t);
  const key = t.transactionKey ?? DEFAULT_DIALECT.mapping.transactionKey;
  const own = ownKeyParts(f, key);
  const refField = key.reference === 'stan' ? 11 : 37;
  if (own.reference === undefined || (key.reference === 'stan' ? !/^\d{6}$/.test(own.reference) : !/^[0-9A-Za-z ]{1,12}$/.test(own.reference) || own.reference.trim() === '')) {
    return refuse('formatError', key.reference === 'stan' ? 'the STAN is missing or not 6 digits' : 'the retrieval reference number is missing or not 1–12 letters and digits', refField);
  }
  const timeField = key.time === 'transmission' ? 7 : 12;
  if (own.time === undefined) return refuse('formatError', key.time === 'transmission' ? 'the transmission date-time is missing' : 'the local transaction date and time are missing', timeField);
  const ownId = keyId(own, key, now);
  if (!ownId) return refuse('formatError', key.time === 'transmission' ? 'the transmission date-time is not a valid MMDDhhmmss' : 'the local transaction date and time are not valid', timeField);
  return ownId;
}

/**
 * The event's id and the ids it names, from the original data elements: a reversal's `reverses` (its id
 * that + `:rev`), a completion's authorisation (its id), a financial refund's purchase (`refundOf`).
 */
function linkedIdsOf(
  t: MappingTables, f: Record<number, FieldValue>, now: Date, kind: 'financial' | 'reversal' | 'completion', isRefund: boolean, ownId: string,
): { txId: string; reverses: string | undefined; refundOf: string | undefined; ofCompletion: boolean } | MappingRefusal {
  let txId = ownId;
  let reverses: string | undefined;
  let refundOf: string | undefined;
  let ofCompletion = false;
  if (isRefund && kind === 'financial') {
    const original = originalIdOf(t, f, now, 'completion');
    if (typeof original === 'object') return original;
    if (original !== ownId) refundOf = original;
  } else if (kind === 'reversal' || kind === 'completion') {
    const original = originalIdOf(t, f, now, kind);
    if (typeof original === 'object') return original;
    if (kind === 'reversal') {
      reverses = original ?? ownId;
      txId = `${reverses}:rev`;
      ofCompletion = original !== undefined && originalClassOf(t, f) === 'completion';
    } else if (original) txId = original;
  }
  return { txId, reverses, refundOf, ofCompletion };
}

/**
 * {@link mapToTransaction} with the customer looked up in a card directory (only for a message that maps).
 * A lookup that throws propagates: the caller answers `96` so that the switch retries, rather than
 * keying the customer's history to the card token.
 */
export async function toTransaction(msg: Iso8583Message, ctx: Omit<MappingContext, 'customerId'> & { cards?: CardDirectory }): Promise<MappingResult> {
  const mapped = mapToTransaction(msg, ctx);
  if (!mapped.ok || mapped.kind === 'no_event' || !ctx.cards || !mapped.tx.card_token) return mapped;
  const customerId = await ctx.cards.lookup(mapped.tx.card_token);
  return customerId ? { ...mapped, tx: { ...mapped.tx, customer_id: customerId } } : mapped;
}
