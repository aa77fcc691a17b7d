/**
 * Public event contracts, version 1 (see ../shared/CONTRACT.md, beside the repository). These TypeBox schemas are the single source
 * of truth: the HTTP API validates against them (fastify's native JSON-schema validation), the
 * ISO 8583 adapter produces values of these types, and the scorer consumes them from stream `TX`.
 */
import { Type, type Static } from '@sinclair/typebox';

export const CHANNELS = ['pos', 'atm', 'bill_pay', 'installment', 'online', 'fuel', 'transfer', 'deposit'] as const;
export type Channel = (typeof CHANNELS)[number];

/**
 * Identifiers: printable ASCII without spaces. The names JavaScript objects inherit (`__proto__`,
 * `constructor`, `toString`, ...) are refused so that no id can collide with them in keyed state.
 */
const RESERVED_IDS = '__proto__|__defineGetter__|__defineSetter__|__lookupGetter__|__lookupSetter__|constructor|hasOwnProperty|isPrototypeOf|propertyIsEnumerable|toLocaleString|toString|valueOf';
const Id = Type.String({ minLength: 1, maxLength: 64, pattern: `^(?!(?:${RESERVED_IDS})$)[\\x21-\\x7e]+$`, description: 'printable ASCII, no spaces, not a reserved word such as constructor' });
const OptId = Type.Optional(Type.String({ minLength: 1, maxLength: 64 }));
/** RFC 3339 date-time with an explicit offset (Z or ±hh:mm). */
const Rfc3339 = Type.String({
  pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?(Z|[+-]\\d{2}:\\d{2})$',
  description: 'RFC 3339 date-time, e.g. 2026-11-23T10:15:00Z',
});
const DateOnly = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$', description: 'RFC 3339 full-date, e.g. 2026-12-01' });
/** A value shaped like a card number (13–19 digits, optionally spaced or dashed). Never accepted. */
export const PAN_PATTERN = '^(?:\\d[ -]?){12,18}\\d$';
/** A token must hold something other than digits, spaces and dashes: a card number (PAN) is refused. */
const CardToken = Type.String({
  minLength: 8,
  maxLength: 128,
  pattern: '^(?=.*[^0-9 -])[\\x21-\\x7e]+$',
  description: 'an opaque card token (not only digits); a raw card number (PAN) is refused',
});

export const TransactionV1 = Type.Object(
  {
    tx_id: Id,
    customer_id: Id,
    channel: Type.Union(CHANNELS.map((c) => Type.Literal(c))),
    amount_minor: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
    currency: Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 alpha-3' }),
    occurred_at: Rfc3339,
    status: Type.Optional(Type.Union([Type.Literal('approved'), Type.Literal('declined')], { default: 'approved' })),
    reverses_tx_id: OptId,
    /**
     * `standard` (default): money the customer moves as `channel` says (a purchase, payment, withdrawal,
     * transfer or deposit). `refund`: money a merchant gives back for an earlier purchase (ISO 8583
     * processing codes 20 and 22): it never earns points, takes back what the refunded purchase earned in
     * proportion to `amount_minor` (docs/loyalty.md, Refunds) and is not activity. Not with `reverses_tx_id`.
     */
    kind: Type.Optional(Type.Union([Type.Literal('standard'), Type.Literal('refund')], { description: 'standard (also when absent) or refund: money a merchant gives back for an earlier purchase; it never earns and takes back that purchase\'s points in proportion' })),
    /** The `tx_id` of the purchase a refund gives money back for, when the switch knows it; only with `kind: refund`. */
    refund_of_tx_id: Type.Optional(Id),
    mcc: Type.Optional(Type.String({ pattern: '^\\d{4}$' })),
    merchant_id: OptId,
    terminal_id: OptId,
    branch_id: OptId,
    biller_id: OptId,
    due_date: Type.Optional(DateOnly),
    card_token: Type.Optional(CardToken),
  },
  { additionalProperties: false, $id: 'TransactionV1' },
);
export type TransactionV1 = Static<typeof TransactionV1>;

/** The channels a customer gives or withdraws marketing consent for (`branch`: prompts at the counter; `push`: app notifications). */
export const CONSENT_CHANNELS = ['sms', 'app', 'email', 'push', 'branch'] as const;
export type ConsentChannel = (typeof CONSENT_CHANNELS)[number];

/**
 * Loyalty club membership as the customer chose it (docs/security.md, Consent and membership): `joined`
 * or `left`, and `at`, when the customer made that choice. Between two statements the one given later
 * wins, whatever order they arrive in; equal times: `left` wins. Absent (never stated): a member, as
 * before this field existed.
 */
export const MembershipV1 = Type.Object(
  {
    status: Type.Union([Type.Literal('joined'), Type.Literal('left')], { description: 'joined or left the loyalty club' }),
    at: Rfc3339,
  },
  { additionalProperties: false },
);
export type MembershipV1 = Static<typeof MembershipV1>;

/**
 * One channel's marketing consent: `granted` or `withdrawn`, and `at`, when the customer gave it. The
 * later-given statement wins (equal times: `withdrawn` wins). A channel never stated keeps its default
 * (marketing allowed, as before this field existed; offers.yaml `consent.absent` can change that).
 */
export const ChannelConsentV1 = Type.Object(
  {
    status: Type.Union([Type.Literal('granted'), Type.Literal('withdrawn')], { description: 'granted or withdrawn' }),
    at: Rfc3339,
  },
  { additionalProperties: false },
);
export type ChannelConsentV1 = Static<typeof ChannelConsentV1>;

/** Consent per channel; a channel left out is unchanged by this profile. */
export const ConsentV1 = Type.Object(
  {
    sms: Type.Optional(ChannelConsentV1),
    app: Type.Optional(ChannelConsentV1),
    email: Type.Optional(ChannelConsentV1),
    push: Type.Optional(ChannelConsentV1),
    branch: Type.Optional(ChannelConsentV1),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type ConsentV1 = Static<typeof ConsentV1>;

export const CustomerProfileV1 = Type.Object(
  {
    customer_id: Id,
    opened_at: Rfc3339,
    birth_date: Type.Optional(DateOnly),
    segment: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })),
    branch_id: OptId,
    products: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 32 }), { maxItems: 64, uniqueItems: true })),
    closed_at: Type.Optional(Rfc3339),
    referred_by: OptId,
    cards: Type.Optional(Type.Array(Type.String({ pattern: '^\\d{12,19}$', description: 'card number (PAN); tokenized on arrival, never stored' }), { maxItems: 16 })),
    /** Club membership and when it was chosen; absent: unchanged (never stated: a member). */
    membership: Type.Optional(MembershipV1),
    /** Marketing consent per channel and when it was given; absent channels: unchanged (never stated: allowed). */
    consent: Type.Optional(ConsentV1),
  },
  { additionalProperties: false, $id: 'CustomerProfileV1' },
);
export type CustomerProfileV1 = Static<typeof CustomerProfileV1>;

/** A profile as it travels on stream `TX`: card numbers replaced by their tokens. */
export type StoredProfileV1 = Omit<CustomerProfileV1, 'cards'> & { card_tokens?: string[] };

export const FeedbackV1 = Type.Object(
  {
    feedback_id: Id,
    customer_id: Id,
    occurred_at: Rfc3339,
    kind: Type.Union([Type.Literal('survey'), Type.Literal('complaint'), Type.Literal('compliment'), Type.Literal('resolution')]),
    score: Type.Optional(Type.Integer({ minimum: 0, maximum: 10 })),
    scale: Type.Optional(Type.Union([Type.Literal('csat5'), Type.Literal('nps10')])),
    resolves_feedback_id: OptId,
    campaign_id: OptId,
    offer_id: OptId,
    branch_id: OptId,
    channel: Type.Optional(Type.Union(CHANNELS.map((c) => Type.Literal(c)))),
    text: Type.Optional(Type.String({ maxLength: 4000 })),
  },
  { additionalProperties: false, $id: 'FeedbackV1' },
);
export type FeedbackV1 = Static<typeof FeedbackV1>;

export const RedemptionV1 = Type.Object(
  {
    redemption_id: Id,
    customer_id: Id,
    points: Type.Integer({ minimum: 1, maximum: 1_000_000_000 }),
    occurred_at: Type.Optional(Rfc3339),
  },
  { additionalProperties: false, $id: 'RedemptionV1' },
);
export type RedemptionV1 = Static<typeof RedemptionV1>;

/** The kinds of message on stream `TX`; the kind is the last subject token. */
export type StreamKind = 'transaction' | 'profile' | 'feedback' | 'redemption';

/**
 * Internal control messages on `TX` (`tx.<p>.control`), written by vafa itself, never by the public API:
 * a loyalty-rules reload takes effect in each partition at the position of its control message, so a
 * replay applies the same rules at the same place; a customer's erasure makes the scorer forget the
 * customer at its position (`erase_customer`, on the customer's partition only) and replace the customer's
 * id where other customers' data names it (`erase_mentions`, on every partition).
 */
export const LoyaltyRulesControlV1 = Type.Object(
  {
    control_id: Type.String({ minLength: 1, maxLength: 128 }),
    type: Type.Literal('loyalty_rules'),
    version: Type.String({ minLength: 1, maxLength: 64 }),
    /** The rules file's text (YAML), validated before it was published. */
    text: Type.String({ minLength: 1, maxLength: 1_000_000 }),
  },
  { additionalProperties: false },
);

/**
 * Right to erasure (docs/security.md): the scorer drops everything it holds of `customer_id` (state,
 * remembered transaction ids, timers) at this position; a later event of the same id starts a new customer.
 */
export const EraseCustomerControlV1 = Type.Object(
  {
    control_id: Type.String({ minLength: 1, maxLength: 128 }),
    type: Type.Literal('erase_customer'),
    customer_id: Id,
    /** The erasure's id in the warehouse and the access audit (`erased-<24 hex>`). */
    erasure_id: Type.String({ pattern: '^erased-[0-9a-f]{24}$' }),
  },
  { additionalProperties: false },
);

/**
 * Right to erasure, other customers' data (docs/security.md): from this position on, the partition's
 * scorer writes `erasure_id` wherever another customer's data names the erased customer (who referred
 * them, a referral credit's id), in its state and in every later event it applies. Published on every
 * partition and kept in `TX` (a replay or a rebuild reads it first, see scorer/runtime/worker.ts), so it
 * names the customer only by the SHA-256 of their id (lower-case hex): a guess can be confirmed against it,
 * the id cannot be read from it.
 */
export const EraseMentionsControlV1 = Type.Object(
  {
    control_id: Type.String({ minLength: 1, maxLength: 128 }),
    type: Type.Literal('erase_mentions'),
    customer_sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    /** The erasure's id in the warehouse and the access audit (`erased-<24 hex>`). */
    erasure_id: Type.String({ pattern: '^erased-[0-9a-f]{24}$' }),
  },
  { additionalProperties: false },
);

export const ControlV1 = Type.Union([LoyaltyRulesControlV1, EraseCustomerControlV1, EraseMentionsControlV1], { $id: 'ControlV1' });
export type ControlV1 = Static<typeof ControlV1>;

/** A message on stream `TX` as the scorer sees it. */
export type TxMessage =
  | { kind: 'transaction'; body: TransactionV1 }
  | { kind: 'profile'; body: StoredProfileV1 }
  | { kind: 'feedback'; body: FeedbackV1 }
  | { kind: 'redemption'; body: RedemptionV1 & { occurred_at: string } };

/** True when an RFC 3339 date or date-time names a real calendar instant (no 30 February, no hour 25). */
export function isRealDate(s: string): boolean {
  // Read by hand, as the pattern `^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2}))?$` reads it (test/unit/real-date.test.ts
  // holds them equal): a match and its captures cost ~460 bytes of garbage an event on the scorer's path.
  const n = s.length;
  const year = digitsAt(s, 0, 4);
  const month = digitsAt(s, 5, 2);
  const day = digitsAt(s, 8, 2);
  if (year < 0 || month < 0 || day < 0 || s.charCodeAt(4) !== DASH || s.charCodeAt(7) !== DASH) return false;
  if (n !== 10 && !isRealTime(s)) return false;
  if (month < 1 || month > 12 || day < 1) return false;
  return day <= daysInMonth(year, month);
}

const DASH = 0x2d;
const COLON = 0x3a;
const PLUS = 0x2b;
const DOT = 0x2e;
const LETTER_T = 0x54;
const LETTER_Z = 0x5a;

/** The value of `count` ASCII digits at `at` of `s`, or −1 when one of them is not a digit (or `s` ends first). */
function digitsAt(s: string, at: number, count: number): number {
  let value = 0;
  for (let i = at; i < at + count; i++) {
    const digit = s.charCodeAt(i) - 0x30;
    if (!(digit >= 0 && digit <= 9)) return -1;
    value = value * 10 + digit;
  }
  return value;
}

/** What follows a date at 10: `THH:MM:SS`, an optional fraction, then `Z` or an offset `±HH:MM`, and the end; each part in range. */
function isRealTime(s: string): boolean {
  const hour = digitsAt(s, 11, 2);
  const minute = digitsAt(s, 14, 2);
  const second = digitsAt(s, 17, 2);
  if (s.charCodeAt(10) !== LETTER_T || s.charCodeAt(13) !== COLON || s.charCodeAt(16) !== COLON || hour < 0 || minute < 0 || second < 0) return false;
  let i = 19;
  if (s.charCodeAt(i) === DOT) {
    const first = ++i;
    while (digitsAt(s, i, 1) >= 0) i++;
    if (i === first) return false;
  }
  const sign = s.charCodeAt(i);
  let offsetHour = 0;
  let offsetMinute = 0;
  if (sign === LETTER_Z) i++;
  else if (sign === PLUS || sign === DASH) {
    offsetHour = digitsAt(s, i + 1, 2);
    offsetMinute = digitsAt(s, i + 4, 2);
    if (offsetHour < 0 || offsetMinute < 0 || s.charCodeAt(i + 3) !== COLON) return false;
    i += 6;
  } else return false;
  return i === s.length && hour <= 23 && minute <= 59 && second <= 60 && offsetHour <= 23 && offsetMinute <= 59;
}

/** Days in a month as Date.UTC counts them (years 0–99 are 1900–1999 there), remembered per year and month. */
const monthDays = new Map<number, number>();

/** Days in `month` (1–12; up to 99 as Date.UTC rolls it over) of `year`, as Date.UTC counts them; remembered (bounded). */
export function daysInMonth(year: number, month: number): number {
  const key = year * 128 + month;
  let days = monthDays.get(key);
  if (days === undefined) {
    if (monthDays.size >= 4096) monthDays.clear();
    days = new Date(Date.UTC(year, month, 0)).getUTCDate();
    monthDays.set(key, days);
  }
  return days;
}

/** Everything the scorer reads from `TX`: the public kinds and vafa's own control messages. */
export type CoreMessage = TxMessage | { kind: 'control'; body: ControlV1 };
