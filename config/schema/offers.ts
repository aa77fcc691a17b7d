/**
 * The offer catalogue as data (`config/offers.yaml`): the TypeBox schema of the file, the parser that
 * turns YAML text into a validated catalogue with errors that name the line, and the compiler that turns
 * the file's shape into the plain-JSON form the offers engine evaluates (`OffersCatalogue`).
 *
 * Pure: text in, catalogue (or errors) out. Reading the file is `config/policy.ts`.
 * Documented, field by field, in docs/offers.md.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { parseAndCompile, type CompileResult, type Path, type YamlConfigOptions } from './yaml-config.js';
import { ConfigError } from './config-error.js';
import { CHANNELS } from '../../contracts/events.js';
import { OFFER_CHANNELS, type OfferChannel } from '../../contracts/subjects.js';
import { FEATURE_CATALOGUE } from '../../contracts/features.js';
import { DAY_MS } from './calendar.js';

const YAML_OPTIONS: YamlConfigOptions = {};

/** The relationship stages of the background (scorer/core/lifecycle). */
export const OFFER_STAGES = [
  'acquisition', 'welcome', 'getting_acquainted', 'account_management', 'intensive_care', 'potential_separation', 'separation', 'win_back',
] as const;

/** What can prompt a decision: the customer's transaction, profile, feedback/redemption ("other"), or a lifecycle timer. */
export const OFFER_TRIGGERS = ['transaction', 'profile', 'other', 'timer'] as const;
export type OfferTrigger = (typeof OFFER_TRIGGERS)[number];

/**
 * What an offer is for: `marketing` (the default: onboarding, retention, occasions…), `recovery`
 * (service recovery after a complaint) or `survey` (a campaign that asks instead of offers: a
 * satisfaction survey whose answer is its conversion). With
 * `contact_policy.hold_marketing_on_open_complaint`, a customer with an open complaint (feature
 * `open_complaints` > 0) gets recovery offers only: marketing and surveys wait.
 */
export const OFFER_PURPOSES = ['marketing', 'recovery', 'survey'] as const;

/** Survey scales, as in feedback events: CSAT 1–5, NPS 0–10. */
export const SURVEY_SCALES = ['csat5', 'nps10'] as const;
export type SurveyScale = (typeof SURVEY_SCALES)[number];
export type OfferPurpose = (typeof OFFER_PURPOSES)[number];

export const OCCASIONS = ['birthday', 'opening_anniversary', 'tier_upgrade'] as const;
export type Occasion = (typeof OCCASIONS)[number];

// ---------------------------------------------------------------------------------------------------
// The file's schema
// ---------------------------------------------------------------------------------------------------

const Name = Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$', description: 'letters, digits, dot, dash, underscore (1–64)' });
const Text = Type.String({ maxLength: 500 });
const Days = Type.Number({ exclusiveMinimum: 0, maximum: 3650, description: 'days, > 0' });
const DaysOrZero = Type.Number({ minimum: 0, maximum: 3650, description: 'days, ≥ 0' });
const Count = Type.Integer({ minimum: 1, maximum: 1_000_000_000 });
const NonNegNum = Type.Number({ minimum: 0, maximum: 1e18 });
const Clock = Type.String({ pattern: '^(([01]\\d|2[0-3]):[0-5]\\d|24:00)$', description: 'HH:MM, bank time' });
const Share = Type.Number({ minimum: 0, maximum: 1, description: 'a share between 0 and 1' });
const DateTime = Type.String({
  pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,9})?)?(Z|[+-]\\d{2}:\\d{2})$',
  description: 'RFC 3339 date-time with an offset, e.g. 2026-03-20T00:00:00+03:30',
});
const Mcc = Type.Union([Type.String({ pattern: '^\\d{4}$', description: 'a 4-digit MCC' }), Type.Integer({ minimum: 0, maximum: 9999 })]);
const OfferChannelT = Type.Union(OFFER_CHANNELS.map((c) => Type.Literal(c)));
const TxChannel = Type.Union(CHANNELS.map((c) => Type.Literal(c)));
const list = <T extends TSchema>(t: T) => Type.Optional(Type.Array(t, { minItems: 1, uniqueItems: true }));
const Range = Type.Object({ min: Type.Optional(Type.Number()), max: Type.Optional(Type.Number()) }, { additionalProperties: false });
const Product = Type.String({ pattern: '^[a-z0-9_]{1,32}$', description: 'a product code, e.g. bill_pay' });
const Cap = Type.Object({ max: Count, period_days: Days }, { additionalProperties: false });

export const WhenSchema = Type.Object({
  /** Which events may prompt this offer; default [transaction]. */
  triggers: list(Type.Union(OFFER_TRIGGERS.map((t) => Type.Literal(t)))),
  stages: list(Type.Union(OFFER_STAGES.map((s) => Type.Literal(s)))),
  tiers: list(Name),
  segments: list(Type.String({ minLength: 1, maxLength: 32 })),
  /** The customer's home branch (profile `branch_id`). */
  branches: list(Type.String({ minLength: 1, maxLength: 64 })),
  churn: Type.Optional(Range),
  value_at_risk: Type.Optional(Range),
  /** Ranges on named features (FEATURE_CATALOGUE), inclusive. */
  features: Type.Optional(Type.Record(Type.String(), Range)),
  /**
   * Features (FEATURE_CATALOGUE) of which at least one is among the latest churn score's top reasons,
   * raising the risk (contribution > 0): why the customer is at risk (docs/models.md, "Reasons"). A score
   * without reasons (below the model's reasons threshold, or no explainer) matches none.
   */
  churn_reasons: list(Type.String({ minLength: 1, maxLength: 64 })),
  held: list(Product),
  not_held: list(Product),
  /** Only a transaction on one of these channels prompts it (e.g. [deposit, transfer]: a visit to the counter). */
  tx_channels: list(TxChannel),
  /** true: only a transaction made at a branch (it carries `branch_id`): the customer is at the counter. */
  at_branch: Type.Optional(Type.Boolean()),
  occasion: Type.Optional(Type.Object({
    kind: Type.Union(OCCASIONS.map((o) => Type.Literal(o))),
    within_days: Type.Optional(Days),
  }, { additionalProperties: false })),
}, { additionalProperties: false });

export const GoalSchema = Type.Object({
  id: Name,
  /** `transaction` or `product` (marketing, recovery); `response` (surveys: the answer, a feedback event of kind survey). */
  kind: Type.Union([Type.Literal('transaction'), Type.Literal('product'), Type.Literal('response')]),
  channels: list(TxChannel),
  mccs: list(Mcc),
  min_amount_minor: Type.Optional(Type.Integer({ minimum: 0 })),
  products: list(Product),
  within_days: Type.Optional(Days),
}, { additionalProperties: false });

export const OfferSchema = Type.Object({
  code: Name,
  campaign: Name,
  description: Type.Optional(Text),
  /** Why the customer gets it (the trigger's `reason`); default: the description. */
  reason: Type.Optional(Text),
  /** `marketing` (default), `recovery` (service recovery: still allowed while a complaint is open) or `survey`. */
  purpose: Type.Optional(Type.Union(OFFER_PURPOSES.map((p) => Type.Literal(p)))),
  /** A survey's question and scale (required with `purpose: survey`, refused otherwise). */
  survey: Type.Optional(Type.Object({
    scale: Type.Union(SURVEY_SCALES.map((x) => Type.Literal(x))),
    question: Type.String({ minLength: 1, maxLength: 500 }),
  }, { additionalProperties: false })),
  /** Channels in order of preference: the first one the contact policy (and, for marketing, the customer's consent) allows is used. */
  channels: Type.Array(OfferChannelT, { minItems: 1, uniqueItems: true }),
  /** `marketing` (needs the channel's consent) or `service` (never held back for consent); default: by `purpose` and `consent.service_purposes`. */
  communication: Type.Optional(Type.Union([Type.Literal('marketing'), Type.Literal('service')])),
  /** true: only for loyalty club members; a non-member's decision is held back (`not_member`). Default false. */
  members_only: Type.Optional(Type.Boolean()),
  when: Type.Optional(WhenSchema),
  /** Days from the trigger to `expires_at`. */
  valid_days: Days,
  /** `unlimited`, or `{ total }` (a budget, split evenly across partitions) and/or `{ per_customer }`. */
  limit: Type.Optional(Type.Union([
    Type.Literal('unlimited'),
    Type.Object({ total: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000_000 })), per_customer: Type.Optional(Count) }, { additionalProperties: false }),
  ])),
  /** Cost of one contact (incentive + message), major units; holdouts cost nothing. */
  cost: Type.Optional(NonNegNum),
  /** Expected value of a conversion, major units: arbitration weighs offers by it. Required except for surveys (default 1: they rank by weight). */
  expected_value: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1e18 })),
  weight: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1e6 })),
  churn_exponent: Type.Optional(Type.Number({ minimum: 0, maximum: 10 })),
  value_exponent: Type.Optional(Type.Number({ minimum: 0, maximum: 10 })),
  cooldown_days: Type.Optional(DaysOrZero),
  goal: GoalSchema,
}, { additionalProperties: false });

export const OffersFileSchema = Type.Object({
  version: Type.String({ pattern: '^[A-Za-z0-9._-]{1,32}$', description: 'quoted, e.g. "2026.07" (letters, digits, . _ -)' }),
  description: Type.Optional(Type.String()),
  bank_time_offset: Type.String({ pattern: '^[+-](0\\d|1[0-4]):[0-5]\\d$', description: 'a UTC offset such as +03:30' }),
  /** Tier ids lowest first; used to tell an upgrade when the feature vector has no `tier_rank`. */
  tier_order: list(Name),
  arbitration: Type.Optional(Type.Object({
    propensity_floor: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1 })),
    churn_exponent: Type.Optional(Type.Number({ minimum: 0, maximum: 10 })),
    value_exponent: Type.Optional(Type.Number({ minimum: 0, maximum: 10 })),
    max_offers_per_event: Type.Optional(Type.Integer({ minimum: 1, maximum: 10 })),
    /** Surveys have their own slot: at most this many per event besides the offers (default 1; 0 = none). */
    max_surveys_per_event: Type.Optional(Type.Integer({ minimum: 0, maximum: 10 })),
  }, { additionalProperties: false })),
  contact_policy: Type.Object({
    per_channel: Type.Optional(Type.Object({ sms: Type.Optional(Cap), app: Type.Optional(Cap), email: Type.Optional(Cap), branch: Type.Optional(Cap) }, { additionalProperties: false })),
    per_customer: Type.Optional(Cap),
    cooldown_days: Type.Optional(DaysOrZero),
    non_response: Type.Optional(Type.Object({ after: Type.Integer({ minimum: 1, maximum: 100 }), suppress_days: Days }, { additionalProperties: false })),
    quiet_hours: Type.Optional(Type.Object({ from: Clock, to: Clock, channels: Type.Array(OfferChannelT, { minItems: 1, uniqueItems: true }) }, { additionalProperties: false })),
    /** true: no marketing offer while the customer has an open complaint (feature open_complaints > 0); recovery offers only. */
    hold_marketing_on_open_complaint: Type.Optional(Type.Boolean()),
  }, { additionalProperties: false }),
  holdout_share: Type.Optional(Share),
  /** Consent rules (docs/offers.md, Consent): which purposes are service, and what a channel never stated means. */
  consent: Type.Optional(Type.Object({
    /** Purposes sent as service communications, without marketing consent. Default [recovery]. */
    service_purposes: Type.Optional(Type.Array(Type.Union(OFFER_PURPOSES.map((p) => Type.Literal(p))), { uniqueItems: true })),
    /** A channel the customer never stated: `granted` (default, as before consent existed) or `withheld`. */
    absent: Type.Optional(Type.Union([Type.Literal('granted'), Type.Literal('withheld')])),
  }, { additionalProperties: false })),
  campaigns: Type.Array(Type.Object({
    id: Name,
    description: Type.Optional(Text),
    holdout_share: Type.Optional(Share),
    from: Type.Optional(DateTime),
    to: Type.Optional(DateTime),
  }, { additionalProperties: false })),
  offers: Type.Array(OfferSchema),
}, { additionalProperties: false });

export type OffersFile = Static<typeof OffersFileSchema>;
export type OfferSpec = Static<typeof OfferSchema>;

// ---------------------------------------------------------------------------------------------------
// The compiled form: plain JSON (null = no condition), durations in ms, times in epoch ms.
// ---------------------------------------------------------------------------------------------------

export interface NumRange { min: number | null; max: number | null }

export interface OfferDef {
  code: string;
  campaign: string;
  description: string;
  reason: string;
  purpose: OfferPurpose;
  /** A survey's scale and question; null for offers. */
  survey: { scale: SurveyScale; question: string } | null;
  channels: OfferChannel[];
  /** `marketing` or `service` as the file says; absent: by purpose (consent.ts `communicationOf`). */
  communication?: 'marketing' | 'service';
  /** Only for loyalty club members (absent: false). */
  membersOnly?: boolean;
  triggers: OfferTrigger[];
  stages: string[] | null;
  tiers: string[] | null;
  segments: string[] | null;
  branches: string[] | null;
  /** Channels of the triggering transaction; null = any event. */
  txChannels: string[] | null;
  churn: NumRange | null;
  valueAtRisk: NumRange | null;
  /** Sorted by feature name. */
  features: { name: string; min: number | null; max: number | null }[];
  /** One of these features raises the latest score's risk among its reasons; null = no condition. */
  churnReasons: string[] | null;
  held: string[];
  notHeld: string[];
  atBranch: boolean;
  occasion: { kind: Occasion; withinMs: number } | null;
  /** Campaign window (validity of the offer's triggering), epoch ms; null = open. */
  from: number | null;
  to: number | null;
  validMs: number;
  /** Total triggers (treated) across all partitions; null = unlimited. */
  total: number | null;
  perCustomer: number | null;
  cost: number;
  expectedValue: number;
  weight: number;
  churnExponent: number;
  valueExponent: number;
  cooldownMs: number;
  holdoutShare: number;
  goal: {
    id: string;
    kind: 'transaction' | 'product' | 'response';
    channels: string[] | null;
    mccs: string[] | null;
    minAmount: number;
    products: string[];
    withinMs: number;
  };
}

export interface ChannelCap { max: number; periodMs: number }

export interface OffersCatalogue {
  version: string;
  /** Bank time zone, minutes east of UTC. */
  offsetMin: number;
  tierOrder: string[];
  arbitration: { floor: number; maxPerEvent: number; maxSurveysPerEvent: number };
  policy: {
    perChannel: Partial<Record<OfferChannel, ChannelCap>>;
    perCustomer: ChannelCap | null;
    nonResponse: { after: number; suppressMs: number } | null;
    /** Minutes since bank midnight, [from, to), wrapping past midnight when from > to. */
    quiet: { from: number; to: number; channels: OfferChannel[] } | null;
    /** No marketing offer while the customer has an open complaint (recovery offers only). */
    holdMarketingOnOpenComplaint: boolean;
  };
  /** Consent rules: purposes sent as service, and what a channel the customer never stated means. */
  consent: { servicePurposes: OfferPurpose[]; absent: 'granted' | 'withheld' };
  /** In file order (arbitration breaks ties by code). */
  offers: OfferDef[];
  /** Longest time a contact matters to the policy (max of periods and cool-downs), ms. */
  horizonMs: number;
}

// ---------------------------------------------------------------------------------------------------
// Errors that name the line
// ---------------------------------------------------------------------------------------------------

/** An invalid offer catalogue: every problem with its line (see `ConfigError`). */
export class OffersConfigError extends ConfigError {
  override readonly name: string = 'OffersConfigError';
}

// ---------------------------------------------------------------------------------------------------
// Parse, validate, compile
// ---------------------------------------------------------------------------------------------------

/**
 * Parses and validates catalogue text. Throws `OffersConfigError` listing every problem found (up to
 * 30), each with its line and column, its path in the file and what is wrong.
 */
export function parseOffers(text: string, source = 'offers.yaml'): OffersCatalogue {
  return parseAndCompile(text, OffersFileSchema, YAML_OPTIONS, compile, (issues) => new OffersConfigError(source, issues));
}

/** A catalogue with no offers: the engine decides nothing. */
export function emptyCatalogue(): OffersCatalogue {
  return {
    version: 'empty', offsetMin: 0, tierOrder: [], arbitration: { floor: 0.01, maxPerEvent: 1, maxSurveysPerEvent: 1 },
    policy: { perChannel: {}, perCustomer: null, nonResponse: null, quiet: null, holdMarketingOnOpenComplaint: false },
    consent: { ...DEFAULT_CONSENT, servicePurposes: [...DEFAULT_CONSENT.servicePurposes] }, offers: [], horizonMs: 0,
  };
}

/** Consent rules when the file has none: recovery is service, an unstated channel is allowed. */
export const DEFAULT_CONSENT: Readonly<OffersCatalogue['consent']> = { servicePurposes: ['recovery'], absent: 'granted' };

const FEATURES = new Set(FEATURE_CATALOGUE.map((f) => f.name));
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function parseOffsetMin(s: string): number {
  const { sign, hours, minutes } = /^(?<sign>[+-])(?<hours>\d{2}):(?<minutes>\d{2})$/.exec(s)?.groups ?? {};
  if (sign === undefined || hours === undefined || minutes === undefined) throw new Error(`bank_time_offset "${s}" is not ±hh:mm`);
  const v = Number(hours) * 60 + Number(minutes);
  return sign === '-' ? -v : v;
}

function clockMin(s: string): number {
  return Number(s.slice(0, 2)) * 60 + Number(s.slice(3, 5));
}

function range(r: { min?: number | undefined; max?: number | undefined } | undefined, path: Path, bad: (p: Path, m: string) => void): NumRange | null {
  if (!r) return null;
  if (r.min === undefined && r.max === undefined) bad(path, 'give min and/or max');
  if (r.min !== undefined && r.max !== undefined && r.min > r.max) bad([...path, 'max'], 'must be ≥ min');
  return { min: r.min ?? null, max: r.max ?? null };
}

type Bad = (path: Path, message: string) => void;

/** A campaign as its offers see it: the holdout share (and whether the file states one) and the window, epoch ms. */
interface CampaignWindow { share: number; explicitShare: boolean; from: number | null; to: number | null }

/** What each offer takes from the rest of the file. */
interface OfferContext {
  campaigns: ReadonlyMap<string, CampaignWindow>;
  /** Codes of the offers compiled so far, to tell a code defined twice. */
  codes: Set<string>;
  defaultShare: number;
  defaultCooldown: number;
  churnExp: number;
  valueExp: number;
  hasTierOrder: boolean;
}

function compile(f: OffersFile): CompileResult<OffersCatalogue> {
  const issues: { path: Path; message: string }[] = [];
  const bad: Bad = (path, message) => void issues.push({ path, message });

  const campaigns = compileCampaigns(f, bad);
  const cp = f.contact_policy;
  const policy = compileContactPolicy(cp, bad);
  const a = f.arbitration ?? {};
  const context: OfferContext = {
    campaigns,
    codes: new Set<string>(),
    defaultShare: f.holdout_share ?? 0,
    defaultCooldown: (cp.cooldown_days ?? 0) * DAY_MS,
    churnExp: a.churn_exponent ?? 1,
    valueExp: a.value_exponent ?? 0,
    hasTierOrder: Boolean(f.tier_order),
  };
  const offers = f.offers.map((o, i) => compileOffer(o, ['offers', i], context, bad));
  if (issues.length) return { ok: false, issues };

  const periods = [
    ...Object.values(policy.perChannel).map((c) => c.periodMs),
    policy.perCustomer?.periodMs ?? 0,
    ...offers.map((o) => o.cooldownMs),
  ];
  return {
    ok: true,
    value: {
      version: f.version,
      offsetMin: parseOffsetMin(f.bank_time_offset),
      tierOrder: f.tier_order ? [...f.tier_order] : [],
      arbitration: { floor: a.propensity_floor ?? 0.01, maxPerEvent: a.max_offers_per_event ?? 1, maxSurveysPerEvent: a.max_surveys_per_event ?? 1 },
      policy,
      consent: {
        servicePurposes: f.consent?.service_purposes ? [...f.consent.service_purposes] : [...DEFAULT_CONSENT.servicePurposes],
        absent: f.consent?.absent ?? DEFAULT_CONSENT.absent,
      },
      offers,
      horizonMs: Math.max(0, ...periods),
    },
  };
}

/** The campaigns by id, each with its holdout share (the file's default where it has none) and its window. */
function compileCampaigns(f: OffersFile, bad: Bad): Map<string, CampaignWindow> {
  const defaultShare = f.holdout_share ?? 0;
  const campaigns = new Map<string, CampaignWindow>();
  f.campaigns.forEach((c, i) => {
    if (campaigns.has(c.id)) bad(['campaigns', i, 'id'], `campaign "${c.id}" is defined twice`);
    const from = c.from !== undefined ? Date.parse(c.from) : null;
    const to = c.to !== undefined ? Date.parse(c.to) : null;
    if (Number.isNaN(from)) bad(['campaigns', i, 'from'], 'is not a real date');
    if (Number.isNaN(to)) bad(['campaigns', i, 'to'], 'is not a real date');
    if (from !== null && to !== null && from >= to) bad(['campaigns', i, 'to'], 'must be after from');
    campaigns.set(c.id, { share: c.holdout_share ?? defaultShare, explicitShare: c.holdout_share !== undefined, from, to });
  });
  return campaigns;
}

/** The contact policy in engine form: caps per channel and per customer, non-response, quiet hours. */
function compileContactPolicy(cp: OffersFile['contact_policy'], bad: Bad): OffersCatalogue['policy'] {
  const perChannel: OffersCatalogue['policy']['perChannel'] = {};
  for (const ch of OFFER_CHANNELS) {
    const cap = cp.per_channel?.[ch];
    if (cap) perChannel[ch] = { max: cap.max, periodMs: cap.period_days * DAY_MS };
  }
  let quiet: OffersCatalogue['policy']['quiet'] = null;
  if (cp.quiet_hours) {
    const from = clockMin(cp.quiet_hours.from);
    const to = clockMin(cp.quiet_hours.to);
    if (from === to) bad(['contact_policy', 'quiet_hours', 'to'], 'must differ from from (an empty window)');
    if (from === 1440) bad(['contact_policy', 'quiet_hours', 'from'], '24:00 is only allowed as to');
    quiet = { from, to, channels: [...cp.quiet_hours.channels] };
  }
  return {
    perChannel,
    perCustomer: cp.per_customer ? { max: cp.per_customer.max, periodMs: cp.per_customer.period_days * DAY_MS } : null,
    nonResponse: cp.non_response ? { after: cp.non_response.after, suppressMs: cp.non_response.suppress_days * DAY_MS } : null,
    quiet,
    holdMarketingOnOpenComplaint: cp.hold_marketing_on_open_complaint ?? false,
  };
}

type WhenSpec = Static<typeof WhenSchema>;
type GoalSpec = Static<typeof GoalSchema>;

/** One offer of the file, compiled; its problems go to `bad` (in the order the checks run). */
function compileOffer(o: OfferSpec, p: Path, context: OfferContext, bad: Bad): OfferDef {
  if (context.codes.has(o.code)) bad([...p, 'code'], `offer "${o.code}" is defined twice`);
  context.codes.add(o.code);
  const camp = context.campaigns.get(o.campaign);
  if (!camp) bad([...p, 'campaign'], `unknown campaign "${o.campaign}" (define it under campaigns)`);
  const w: WhenSpec = o.when ?? {};
  const wp = [...p, 'when'];
  const features = compileFeatureRanges(w, wp, bad);
  const branchChannel = o.channels.includes('branch');
  const triggers = w.triggers ? [...w.triggers] : ['transaction' as const];
  checkWhen(o, w, p, triggers, context.hasTierOrder, bad);
  const { total, perCustomer } = compileLimit(o, p, bad);
  const isSurvey = o.purpose === 'survey';
  checkPurposeAndGoal(o, p, camp, bad);
  const validMs = o.valid_days * DAY_MS;
  return {
    code: o.code,
    campaign: o.campaign,
    description: o.description ?? '',
    reason: o.reason ?? o.description ?? o.code,
    purpose: o.purpose ?? 'marketing',
    survey: o.survey ? { scale: o.survey.scale, question: o.survey.question } : null,
    channels: [...o.channels],
    ...(o.communication ? { communication: o.communication } : {}),
    ...(o.members_only ? { membersOnly: true } : {}),
    triggers: OFFER_TRIGGERS.filter((t) => triggers.includes(t)),
    stages: w.stages ? [...w.stages] : null,
    tiers: w.tiers ? [...w.tiers] : null,
    segments: w.segments ? [...w.segments] : null,
    branches: w.branches ? [...w.branches] : null,
    txChannels: w.tx_channels ? [...w.tx_channels] : null,
    churn: range(w.churn, [...wp, 'churn'], bad),
    valueAtRisk: range(w.value_at_risk, [...wp, 'value_at_risk'], bad),
    features,
    churnReasons: w.churn_reasons ? [...w.churn_reasons] : null,
    held: w.held ? [...w.held] : [],
    notHeld: w.not_held ? [...w.not_held] : [],
    atBranch: w.at_branch === true || branchChannel,
    occasion: w.occasion ? { kind: w.occasion.kind, withinMs: (w.occasion.within_days ?? 7) * DAY_MS } : null,
    from: camp?.from ?? null,
    to: camp?.to ?? null,
    validMs,
    total,
    perCustomer,
    cost: o.cost ?? 0,
    expectedValue: o.expected_value ?? 1,
    weight: o.weight ?? 1,
    churnExponent: o.churn_exponent ?? (isSurvey ? 0 : context.churnExp),
    valueExponent: o.value_exponent ?? (isSurvey ? 0 : context.valueExp),
    cooldownMs: o.cooldown_days !== undefined ? o.cooldown_days * DAY_MS : context.defaultCooldown,
    holdoutShare: isSurvey ? 0 : camp?.share ?? context.defaultShare,
    goal: compileGoal(o.goal, validMs),
  };
}

/** The `when.features` ranges, sorted by feature name; an unknown feature is a problem. */
function compileFeatureRanges(w: WhenSpec, wp: Path, bad: Bad): OfferDef['features'] {
  return Object.entries(w.features ?? {}).map(([name, r]) => {
    if (FORBIDDEN_KEYS.has(name) || !FEATURES.has(name)) bad([...wp, 'features', name], `unknown feature "${name}" (see the feature catalogue, docs/features.md)`);
    const rr = range(r, [...wp, 'features', name], bad);
    return { name, min: rr?.min ?? null, max: rr?.max ?? null };
  }).sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
}

/** The checks of `when` that need more than its schema: known churn reasons, products, branch prompts, triggers, occasions. */
function checkWhen(o: OfferSpec, w: WhenSpec, p: Path, triggers: readonly OfferTrigger[], hasTierOrder: boolean, bad: Bad): void {
  const wp = [...p, 'when'];
  for (const [j, name] of (w.churn_reasons ?? []).entries()) {
    if (FORBIDDEN_KEYS.has(name) || !FEATURES.has(name)) bad([...wp, 'churn_reasons', j], `unknown feature "${name}" (see the feature catalogue, docs/features.md)`);
  }
  const held = w.held ?? [];
  for (const [j, prod] of (w.not_held ?? []).entries()) if (held.includes(prod)) bad([...wp, 'not_held', j], `"${prod}" is also in held: never eligible`);
  const branchChannel = o.channels.includes('branch');
  if (branchChannel && o.channels.length > 1) bad([...p, 'channels'], 'a branch (teller) prompt is its own offer: list branch alone');
  if (w.at_branch === false && branchChannel) bad([...wp, 'at_branch'], 'a branch prompt needs the customer at the counter');
  if (branchChannel && triggers.some((t) => t !== 'transaction')) bad([...wp, 'triggers'], 'a branch prompt is triggered by a transaction at the branch only');
  if (w.tx_channels && !triggers.includes('transaction')) bad([...wp, 'tx_channels'], 'only a transaction has a channel: add transaction to triggers');
  if (w.occasion?.kind === 'tier_upgrade' && !hasTierOrder && !FEATURES.has('tier_rank')) bad([...wp, 'occasion'], 'tier upgrades need tier_order');
}

/** The offer's limits, total and per customer; null where there is none. */
function compileLimit(o: OfferSpec, p: Path, bad: Bad): { total: number | null; perCustomer: number | null } {
  if (o.limit === undefined || o.limit === 'unlimited') return { total: null, perCustomer: null };
  if (o.limit.total === undefined && o.limit.per_customer === undefined) bad([...p, 'limit'], 'give total and/or per_customer, or write unlimited');
  return { total: o.limit.total ?? null, perCustomer: o.limit.per_customer ?? null };
}

/** The checks that tie purpose, survey, goal kind and goal fields together. */
function checkPurposeAndGoal(o: OfferSpec, p: Path, camp: CampaignWindow | undefined, bad: Bad): void {
  const g = o.goal;
  const gp = [...p, 'goal'];
  const isSurvey = o.purpose === 'survey';
  const branchChannel = o.channels.includes('branch');
  if (isSurvey && !o.survey) bad([...p, 'survey'], 'a survey names its scale and question: survey: { scale: csat5|nps10, question: "…" }');
  if (!isSurvey && o.survey) bad([...p, 'survey'], 'only an offer with purpose: survey asks a question');
  if (isSurvey && g.kind !== 'response') bad([...gp, 'kind'], 'a survey converts when it is answered: kind: response');
  if (!isSurvey && g.kind === 'response') bad([...gp, 'kind'], 'kind: response is the goal of a survey (purpose: survey)');
  if (g.kind === 'response' && (g.channels || g.mccs || g.min_amount_minor !== undefined || g.products)) bad([...gp, 'kind'], 'a response goal takes only within_days');
  if (!isSurvey && o.expected_value === undefined) bad([...p, 'expected_value'], 'required for marketing and recovery offers (major units)');
  if (isSurvey && camp?.explicitShare && camp.share > 0) bad([...p, 'campaign'], `campaign "${o.campaign}" has a holdout_share: a survey has no control group (set it to 0)`);
  if (isSurvey && branchChannel) bad([...p, 'channels'], 'a survey goes to the customer (sms, app, email), not to a teller');
  if (g.kind === 'product' && !g.products) bad([...gp, 'products'], 'a product goal names the products to adopt');
  if (g.kind === 'product' && (g.channels || g.mccs || g.min_amount_minor !== undefined)) bad([...gp, 'kind'], 'a product goal takes only products and within_days');
  if (g.kind === 'transaction' && g.products) bad([...gp, 'products'], 'a transaction goal matches channels, mccs and min_amount_minor, not products');
}

/** The goal in engine form: MCCs as 4-digit strings, the window in ms (the offer's validity by default). */
function compileGoal(g: GoalSpec, validMs: number): OfferDef['goal'] {
  return {
    id: g.id,
    kind: g.kind,
    channels: g.channels ? [...g.channels] : null,
    mccs: g.mccs ? g.mccs.map((m) => String(m).padStart(4, '0')) : null,
    minAmount: g.min_amount_minor ?? 0,
    products: g.products ? [...g.products] : [],
    withinMs: g.within_days !== undefined ? g.within_days * DAY_MS : validMs,
  };
}
