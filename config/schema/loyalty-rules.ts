/**
 * Earning rules as data: the TypeBox schema of the rules file (`config/loyalty-rules.yaml`), the parser
 * that turns YAML text into validated rules with errors that name the line, and the compiler that turns
 * the file's shape into the plain-JSON form the engine evaluates (`LoyaltyRules`).
 *
 * Pure: text in, rules (or errors) out. Reading the file is `config/policy.ts`.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { parseAndCompile, type CompileResult, type Path, type YamlConfigOptions } from './yaml-config.js';
import { ConfigError } from './config-error.js';
import { CHANNELS } from '../../contracts/events.js';
import { DOW_NAMES, dowIndex, parseClock, parseOffset, type DowName } from './calendar.js';

const YAML_OPTIONS: YamlConfigOptions = { unionHint: (schema) => (schema.anyOf?.some((a) => (a as { pattern?: string }).pattern === '^\\d{4}$') ? 'expected a 4-digit MCC' : 'expected a string or a non-negative integer') };

// ---------------------------------------------------------------------------------------------------
// The file's schema
// ---------------------------------------------------------------------------------------------------

const Name = Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$', description: 'letters, digits, dot, dash, underscore (1–64)' });
/** Identifiers from events (merchant, biller, branch): YAML may read an all-digit one as a number. */
const ExtId = Type.Union([Type.String({ minLength: 1, maxLength: 64 }), Type.Integer({ minimum: 0 })]);
const Mcc = Type.Union([Type.String({ pattern: '^\\d{4}$', description: 'a 4-digit MCC' }), Type.Integer({ minimum: 0, maximum: 9999 })]);
const NonNeg = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const Pos = Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER });
const Multiplier = Type.Number({ minimum: 0, maximum: 1000, description: 'a decimal with at most 4 decimal places' });
const Clock = Type.String({ pattern: '^(([01]\\d|2[0-3]):[0-5]\\d|24:00)$', description: 'HH:MM, bank time' });
const Dow = Type.Union(DOW_NAMES.map((d) => Type.Literal(d)));
const Channel = Type.Union(CHANNELS.map((c) => Type.Literal(c)));
const DateTime = Type.String({
  pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,9})?)?(Z|[+-]\\d{2}:\\d{2})$',
  description: 'RFC 3339 date-time with an offset, e.g. 2026-03-20T00:00:00+03:30',
});
const list = <T extends TSchema>(t: T) => Type.Optional(Type.Array(t, { minItems: 1, uniqueItems: true }));

/** Default `reversals.window_days`: card-scheme chargebacks come within about 120 days. */
export const DEFAULT_REVERSAL_WINDOW_DAYS = 120;

export const WhenSchema = Type.Object({
  channels: list(Channel),
  mcc_sets: list(Name),
  mccs: list(Mcc),
  exclude_mcc_sets: list(Name),
  merchants: list(ExtId),
  billers: list(ExtId),
  /** The transaction's own `branch_id` (where it was made). */
  branches: list(ExtId),
  /** true: only transactions made at a branch (they carry `branch_id`); false: only non-branch ones. */
  at_branch: Type.Optional(Type.Boolean()),
  amount_minor: Type.Optional(Type.Object({ min: Type.Optional(NonNeg), max: Type.Optional(NonNeg) }, { additionalProperties: false })),
  time_of_day: Type.Optional(Type.Object({ from: Clock, to: Clock }, { additionalProperties: false })),
  days_of_week: list(Dow),
  tiers: list(Name),
  segments: list(Type.String({ minLength: 1, maxLength: 32 })),
  campaign: Type.Optional(Name),
  /** bill_pay / installment paid at least this many bank days before `due_date`. */
  early_by_days: Type.Optional(Type.Integer({ minimum: 0, maximum: 3650 })),
}, { additionalProperties: false });

export const AwardSchema = Type.Object({
  per_amount: Type.Optional(Type.Object({ points: NonNeg, per_minor: Pos }, { additionalProperties: false })),
  fixed: Type.Optional(NonNeg),
  multiplier: Type.Optional(Multiplier),
  tier_multiplier: Type.Optional(Type.Boolean()),
}, { additionalProperties: false });

export const CapsSchema = Type.Object({
  per_tx: Type.Optional(NonNeg),
  per_day: Type.Optional(NonNeg),
  per_week: Type.Optional(NonNeg),
  per_month: Type.Optional(NonNeg),
}, { additionalProperties: false });

export const RuleSchema = Type.Object({
  id: Name,
  description: Type.Optional(Type.String()),
  kind: Type.Optional(Type.Union([Type.Literal('earn'), Type.Literal('bonus')])),
  priority: Type.Optional(Type.Integer({ minimum: -1_000_000, maximum: 1_000_000 })),
  exclusive: Type.Optional(Type.Boolean()),
  when: Type.Optional(WhenSchema),
  award: AwardSchema,
  caps: Type.Optional(CapsSchema),
}, { additionalProperties: false });

export const TierSchema = Type.Object({
  id: Name,
  min_points: NonNeg,
  multiplier: Multiplier,
  expiry_days: Type.Integer({ minimum: 1, maximum: 36_500 }),
}, { additionalProperties: false });

export const RulesFileSchema = Type.Object({
  version: Type.String({ pattern: '^[A-Za-z0-9._-]{1,32}$', description: 'quoted, e.g. "2026.07" (letters, digits, . _ -)' }),
  description: Type.Optional(Type.String()),
  bank_time_offset: Type.String({ pattern: '^[+-](0\\d|1[0-4]):[0-5]\\d$', description: 'a UTC offset such as +03:30' }),
  week_starts: Type.Optional(Dow),
  currencies: list(Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 alpha-3' })),
  mcc_sets: Type.Optional(Type.Record(Type.String(), Type.Array(Mcc, { minItems: 1 }))),
  tiers: Type.Object({
    window_months: Type.Integer({ minimum: 1, maximum: 60 }),
    review: Type.Optional(Type.Union([Type.Literal('monthly'), Type.Literal('quarterly')])),
    /**
     * When a lot's points expire: at the end of the bank day `expiry_days` after earning (`day_end`, the
     * default), or at the end of the bank month that day falls in (`month_end`).
     */
    expiry_at: Type.Optional(Type.Union([Type.Literal('day_end'), Type.Literal('month_end')])),
    levels: Type.Array(TierSchema, { minItems: 1, maxItems: 32 }),
  }, { additionalProperties: false }),
  campaigns: Type.Optional(Type.Array(Type.Object({
    id: Name,
    description: Type.Optional(Type.String()),
    from: DateTime,
    to: DateTime,
    budget_points: Type.Optional(NonNeg),
  }, { additionalProperties: false }))),
  referral: Type.Optional(Type.Object({
    points: Pos,
    window_days: Pos,
    channels: list(Channel),
    min_amount_minor: Type.Optional(NonNeg),
  }, { additionalProperties: false })),
  /** Reversal window and pending cancellations; defaults 120 days (card-scheme chargebacks) and 30 days. */
  reversals: Type.Optional(Type.Object({
    window_days: Pos,
    pending_days: NonNeg,
  }, { additionalProperties: false })),
  /**
   * Non-members (docs/loyalty.md, Membership). `pending_days` (default 0: off) keeps what a non-member's
   * transaction would earn as pending points for that many days, granted if the customer joins within them.
   */
  membership: Type.Optional(Type.Object({
    pending_days: Type.Integer({ minimum: 0, maximum: 3650 }),
  }, { additionalProperties: false })),
  rules: Type.Array(RuleSchema),
  branches: Type.Optional(Type.Record(Type.String(), Type.Object({
    description: Type.Optional(Type.String()),
    disable: list(Name),
    rules: Type.Optional(Type.Array(RuleSchema)),
  }, { additionalProperties: false }))),
}, { additionalProperties: false });

/** The rules file as written (after YAML parsing and schema validation). */
export type RulesFile = Static<typeof RulesFileSchema>;
export type RuleSpec = Static<typeof RuleSchema>;

// ---------------------------------------------------------------------------------------------------
// The compiled form the engine evaluates: plain JSON (nulls, arrays, records), no classes.
// ---------------------------------------------------------------------------------------------------

export interface Condition {
  channels: string[] | null;
  /** Union of `mcc_sets` and `mccs`; null = any MCC (a transaction without one included). */
  mccs: string[] | null;
  excludeMccs: string[] | null;
  merchants: string[] | null;
  billers: string[] | null;
  branches: string[] | null;
  atBranch: boolean | null;
  minAmount: number | null;
  maxAmount: number | null;
  /** Minutes since bank midnight: [from, to), wrapping past midnight when from > to. */
  timeFrom: number | null;
  timeTo: number | null;
  /** 0 = Sunday … 6 = Saturday. */
  days: number[] | null;
  tiers: string[] | null;
  segments: string[] | null;
  campaign: string | null;
  earlyByDays: number | null;
}

export interface CompiledRule {
  /** Rule id as it appears in the ledger; a branch's own rules are `<branch>/<id>`. */
  id: string;
  kind: 'earn' | 'bonus';
  priority: number;
  exclusive: boolean;
  /** The branch whose policy defines it, or null for a bank-wide rule. */
  branch: string | null;
  when: Condition;
  /** points = floor((fixed + points × amount / per) × multiplier × tier multiplier); multipliers in 1/10,000. */
  award: { fixed: number; points: number; per: number; multBp: number; tierMult: boolean };
  caps: { tx: number | null; day: number | null; week: number | null; month: number | null };
}

export interface TierDef {
  id: string;
  min: number;
  multBp: number;
  expiryDays: number;
}

export interface LoyaltyRules {
  version: string;
  /** Bank time zone, minutes east of UTC. */
  offsetMin: number;
  /** First day of the bank week, 0 = Sunday … 6 = Saturday. */
  weekStart: number;
  currencies: string[] | null;
  /** Ascending by `min`; the first has `min` 0. */
  tiers: TierDef[];
  windowMonths: number;
  /** Downgrade review every N months (1 monthly, 3 quarterly), at bank-local month starts. */
  reviewMonths: number;
  /**
   * `month_end`: points expire at the end of the bank month in which the end of the bank day `expiry_days`
   * after earning falls, so a month's lots merge into one once past the reversal window (rules `tiers.expiry_at`).
   * Absent (the default, and in rules compiled before the option): at the end of that bank day.
   */
  expiryAt?: 'month_end';
  campaigns: Record<string, { from: number; to: number; budget: number | null }>;
  referral: { points: number; windowDays: number; channels: string[] | null; minAmount: number } | null;
  reversals: { windowDays: number; pendingDays: number };
  /**
   * A non-member's earnings kept as pending points for `pendingDays` and granted if they join within them;
   * 0 (the default, and absent in rules compiled before the option): a non-member earns nothing.
   */
  membership?: { pendingDays: number };
  /** Bank-wide rules in evaluation order. */
  bank: CompiledRule[];
  /** Per branch (the member's `branch_id`): the complete rule list in evaluation order. */
  branches: Record<string, CompiledRule[]>;
}

// ---------------------------------------------------------------------------------------------------
// Errors that name the line
// ---------------------------------------------------------------------------------------------------

/** An invalid loyalty-rules file: every problem with its line (see `ConfigError`). */
export class RulesError extends ConfigError {
  override readonly name: string = 'RulesError';
}

// ---------------------------------------------------------------------------------------------------
// Parse, validate, compile
// ---------------------------------------------------------------------------------------------------

/**
 * Parses and validates rules text. Throws `RulesError` listing every problem found (up to 30), each with
 * its line and column, its path in the file and what is wrong.
 */
export function parseRules(text: string, source = 'loyalty-rules.yaml'): LoyaltyRules {
  return parseAndCompile(text, RulesFileSchema, YAML_OPTIONS, compile, (issues) => new RulesError(source, issues));
}

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

type Bad = (path: Path, message: string) => void;

/** What a rule may name: the MCC sets, tiers and campaigns of the file. */
interface RuleContext {
  mccSets: Readonly<Record<string, string[]>>;
  tierIds: ReadonlySet<string>;
  campaigns: LoyaltyRules['campaigns'];
}

function compile(f: RulesFile): CompileResult<LoyaltyRules> {
  const issues: { path: Path; message: string }[] = [];
  const bad: Bad = (path, message) => void issues.push({ path, message });

  const mccSets = compileMccSets(f, bad);
  const tiers = compileTiers(f, bad);
  const campaigns = compileCampaigns(f, bad);
  const context: RuleContext = { mccSets, tierIds: new Set(f.tiers.levels.map((t) => t.id)), campaigns };

  const ids = new Set<string>();
  const bank = f.rules.map((r, i) => {
    if (ids.has(r.id)) bad(['rules', i, 'id'], `rule "${r.id}" is defined twice`);
    ids.add(r.id);
    return compileRule(r, ['rules', i], null, context, bad);
  });
  const branches = compileBranches(f, bank, ids, context, bad);

  let referral: LoyaltyRules['referral'] = null;
  if (f.referral) {
    referral = { points: f.referral.points, windowDays: f.referral.window_days, channels: f.referral.channels ? [...f.referral.channels] : null, minAmount: f.referral.min_amount_minor ?? 0 };
  }

  if (issues.length) return { ok: false, issues };
  return {
    ok: true,
    value: {
      version: f.version,
      offsetMin: parseOffset(f.bank_time_offset),
      weekStart: dowIndex((f.week_starts ?? 'sat') as DowName),
      currencies: f.currencies ? [...f.currencies] : null,
      tiers,
      windowMonths: f.tiers.window_months,
      reviewMonths: f.tiers.review === 'quarterly' ? 3 : 1,
      ...(f.tiers.expiry_at === 'month_end' ? { expiryAt: 'month_end' as const } : {}),
      campaigns,
      referral,
      reversals: { windowDays: f.reversals?.window_days ?? DEFAULT_REVERSAL_WINDOW_DAYS, pendingDays: f.reversals?.pending_days ?? 30 },
      membership: { pendingDays: f.membership?.pending_days ?? 0 },
      bank: sortRules(bank),
      branches,
    },
  };
}

/** A multiplier in basis points; more than 4 decimal places is a problem. */
function basisPoints(m: number, path: Path, bad: Bad): number {
  const v = Math.round(m * 10_000);
  if (Math.abs(m * 10_000 - v) > 1e-6) bad(path, 'has more than 4 decimal places');
  return v;
}

/** The named MCC sets, each as 4-digit codes. */
function compileMccSets(f: RulesFile, bad: Bad): Record<string, string[]> {
  const mccSets: Record<string, string[]> = {};
  for (const [name, codes] of Object.entries(f.mcc_sets ?? {})) {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(name) || FORBIDDEN_KEYS.has(name)) bad(['mcc_sets', name], 'set names use letters, digits, . _ -');
    mccSets[name] = codes.map(mcc);
  }
  return mccSets;
}

/** The tiers, lowest first: the first starts at 0 points, each next one higher, no id twice. */
function compileTiers(f: RulesFile, bad: Bad): TierDef[] {
  const levels = f.tiers.levels;
  const tiers: TierDef[] = levels.map((t, i) => ({ id: t.id, min: t.min_points, multBp: basisPoints(t.multiplier, ['tiers', 'levels', i, 'multiplier'], bad), expiryDays: t.expiry_days }));
  if (levels[0] && levels[0].min_points !== 0) bad(['tiers', 'levels', 0, 'min_points'], 'the first (lowest) tier must start at 0 points');
  levels.forEach((t, i) => {
    const below = levels[i - 1];
    if (below && t.min_points <= below.min_points) bad(['tiers', 'levels', i, 'min_points'], 'tiers must be listed in strictly increasing min_points');
    if (levels.findIndex((o) => o.id === t.id) !== i) bad(['tiers', 'levels', i, 'id'], `tier "${t.id}" is defined twice`);
  });
  return tiers;
}

/** The campaigns by id, with their windows in epoch ms and their budgets. */
function compileCampaigns(f: RulesFile, bad: Bad): LoyaltyRules['campaigns'] {
  const campaigns: LoyaltyRules['campaigns'] = {};
  (f.campaigns ?? []).forEach((c, i) => {
    const from = Date.parse(c.from);
    const to = Date.parse(c.to);
    if (Number.isNaN(from)) bad(['campaigns', i, 'from'], 'is not a real date');
    if (Number.isNaN(to)) bad(['campaigns', i, 'to'], 'is not a real date');
    if (from >= to) bad(['campaigns', i, 'to'], 'must be after from');
    if (Object.hasOwn(campaigns, c.id)) bad(['campaigns', i, 'id'], `campaign "${c.id}" is defined twice`);
    if (FORBIDDEN_KEYS.has(c.id)) bad(['campaigns', i, 'id'], 'reserved name');
    campaigns[c.id] = { from, to, budget: c.budget_points ?? null };
  });
  return campaigns;
}

type RuleWhen = Static<typeof WhenSchema>;

/** One rule, bank-wide (`branch` null) or a branch's own; its problems go to `bad`. */
function compileRule(r: RuleSpec, path: Path, branch: string | null, context: RuleContext, bad: Bad): CompiledRule {
  const w: RuleWhen = r.when ?? {};
  checkRuleWhen(w, [...path, 'when'], context, bad);
  const a = r.award;
  if (!a.per_amount && !a.fixed) bad([...path, 'award'], 'awards nothing: give per_amount and/or fixed');
  return {
    id: branch === null ? r.id : `${branch}/${r.id}`,
    kind: r.kind ?? 'earn',
    priority: r.priority ?? 0,
    exclusive: r.exclusive ?? false,
    branch,
    when: compileRuleWhen(w, context.mccSets),
    award: {
      fixed: a.fixed ?? 0,
      points: a.per_amount?.points ?? 0,
      per: a.per_amount?.per_minor ?? 1,
      multBp: basisPoints(a.multiplier ?? 1, [...path, 'award', 'multiplier'], bad),
      tierMult: a.tier_multiplier ?? true,
    },
    caps: { tx: r.caps?.per_tx ?? null, day: r.caps?.per_day ?? null, week: r.caps?.per_week ?? null, month: r.caps?.per_month ?? null },
  };
}

/** The checks of a rule's `when` that need the rest of the file or more than the schema. */
function checkRuleWhen(w: RuleWhen, wp: Path, context: RuleContext, bad: Bad): void {
  for (const [k, names] of [['mcc_sets', w.mcc_sets], ['exclude_mcc_sets', w.exclude_mcc_sets]] as const) {
    (names ?? []).forEach((n, i) => { if (!Object.hasOwn(context.mccSets, n)) bad([...wp, k, i], `unknown MCC set "${n}" (define it under mcc_sets)`); });
  }
  (w.tiers ?? []).forEach((t, i) => { if (!context.tierIds.has(t)) bad([...wp, 'tiers', i], `unknown tier "${t}"`); });
  if (w.campaign !== undefined && !Object.hasOwn(context.campaigns, w.campaign)) bad([...wp, 'campaign'], `unknown campaign "${w.campaign}" (define it under campaigns)`);
  if (w.amount_minor?.min !== undefined && w.amount_minor.max !== undefined && w.amount_minor.min > w.amount_minor.max) bad([...wp, 'amount_minor', 'max'], 'must be ≥ min');
  if (w.time_of_day && w.time_of_day.from === w.time_of_day.to) bad([...wp, 'time_of_day', 'to'], 'must differ from from (an empty window)');
  if (w.time_of_day && parseClock(w.time_of_day.from) === 1440) bad([...wp, 'time_of_day', 'from'], '24:00 is only allowed as to');
}

/** A rule's condition in engine form: MCC sets unfolded, times in minutes, days as indexes (null = no condition). */
function compileRuleWhen(w: RuleWhen, mccSets: Readonly<Record<string, string[]>>): CompiledRule['when'] {
  const union = [...(w.mcc_sets ?? []).flatMap((n) => mccSets[n] ?? []), ...(w.mccs ?? []).map(mcc)];
  const exclude = (w.exclude_mcc_sets ?? []).flatMap((n) => mccSets[n] ?? []);
  return {
    channels: w.channels ? [...w.channels] : null,
    mccs: w.mcc_sets || w.mccs ? [...new Set(union)].sort() : null,
    excludeMccs: w.exclude_mcc_sets ? [...new Set(exclude)].sort() : null,
    merchants: w.merchants ? w.merchants.map(String) : null,
    billers: w.billers ? w.billers.map(String) : null,
    branches: w.branches ? w.branches.map(String) : null,
    atBranch: w.at_branch ?? null,
    minAmount: w.amount_minor?.min ?? null,
    maxAmount: w.amount_minor?.max ?? null,
    timeFrom: w.time_of_day ? parseClock(w.time_of_day.from) : null,
    timeTo: w.time_of_day ? parseClock(w.time_of_day.to) : null,
    days: w.days_of_week ? w.days_of_week.map((d) => dowIndex(d)).sort() : null,
    tiers: w.tiers ? [...w.tiers] : null,
    segments: w.segments ? [...w.segments] : null,
    campaign: w.campaign ?? null,
    earlyByDays: w.early_by_days ?? null,
  };
}

/**
 * Each branch's complete rule list in evaluation order: its own rules, then the bank-wide ones it neither
 * disables nor replaces (a branch rule with the id of a bank-wide rule replaces it for the branch's members).
 */
function compileBranches(f: RulesFile, bank: CompiledRule[], ids: ReadonlySet<string>, context: RuleContext, bad: Bad): Record<string, CompiledRule[]> {
  const branches: Record<string, CompiledRule[]> = {};
  for (const [b, policy] of Object.entries(f.branches ?? {})) {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(b) || FORBIDDEN_KEYS.has(b)) bad(['branches', b], 'branch ids use letters, digits, . _ - (1–64)');
    const disabled = new Set(policy.disable ?? []);
    (policy.disable ?? []).forEach((d, i) => { if (!ids.has(d)) bad(['branches', b, 'disable', i], `no bank-wide rule "${d}"`); });
    const own = new Set<string>();
    const ownRules = (policy.rules ?? []).map((r, i) => {
      if (own.has(r.id)) bad(['branches', b, 'rules', i, 'id'], `rule "${r.id}" is defined twice in this branch`);
      own.add(r.id);
      return compileRule(r, ['branches', b, 'rules', i], b, context, bad);
    });
    branches[b] = sortRules([...ownRules, ...bank.filter((r) => !disabled.has(r.id) && !own.has(r.id))]);
  }
  return branches;
}

function mcc(v: string | number): string {
  return typeof v === 'number' ? String(v).padStart(4, '0') : v;
}

/**
 * Evaluation order: priority descending; at equal priority a branch's own rules before bank-wide ones;
 * then the order of the file. (Array.prototype.sort is stable.)
 */
function sortRules(rules: CompiledRule[]): CompiledRule[] {
  return [...rules].sort((a, b) => b.priority - a.priority || (a.branch === null ? 1 : 0) - (b.branch === null ? 1 : 0));
}
