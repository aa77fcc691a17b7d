/**
 * The synthetic bank: a seeded, reproducible generator of retail-bank traffic (customer profiles,
 * transactions, occasional redemptions, customer feedback driven by each customer's satisfaction) with
 * known churn ground truth. Used by `vafa up --simulate`,
 * `vafa simulate`, the tests, the bench and churn-model training.
 *
 * ```ts
 * const bank = createBank({ seed: 7, customers: 10_000, start: new Date('2025-03-21T00:00:00Z'), days: 365 });
 * for (const ev of bank.events()) { ... }                       // lazy, event-time order
 * await runFeeder({ target: 'http://127.0.0.1:8080', bank, rate: 2000 });  // into a running vafa
 * await runFeeder({ target, bank, rate: 2000, respond: { natsUrl: 'nats://127.0.0.1:4222' } });  // and answer vafa's surveys
 * await writeHistory(bank, 'data/history');                    // labelled history for `vafa train`
 * ```
 */
import type { CustomerProfileV1 } from '../contracts/events.js';
import { BankGenerator, type EventStream } from './generator.js';
import { createPopulation, DAY, profileOf, type Customer } from './population.js';
import { hashInts, hashString } from './rng.js';
import type { ShockKind } from './churn.js';

export type { SimEvent, EventStream } from './generator.js';
export {
  COMPLAINT_PER_DECLINE, COMPLAINT_PER_FEE, COMPLIMENT_PER_DAY, NPS_CAMPAIGN, NPS_RESPONSE_RATE, NPS_SAMPLE_SHARE, RESOLVED_SHARE,
  SEGMENT_SATISFACTION, SERVICE_COMPLAINT_PER_DAY, VISIT_CAMPAIGN, VISIT_INVITE_SHARE, VISIT_RESPONSE_RATE, surveyScore, type FeedbackEvent,
} from './feedback.js';
export {
  runFeeder, FeederError, type FeederOptions, type FeederProgress, type FeederSummary, type BatchCounts, type RespondOptions, type SurveyAnswerStats, type Timeline,
} from './feeder.js';
export { decideSurveyAnswer, parseSurveyTrigger, SURVEY_ANSWER_WINDOW_MS, SURVEY_DELAY, SURVEY_RESPONSE_RATE, type SurveyDecision, type SurveyTrigger } from './responder.js';
export { SHOCKS, CLOSURE_SHOCK, ONBOARDING, DRIFT_DAYS, driftLengthCdf, hazardMultiplier, type ChurnLaw, type Shock, type ShockKind } from './churn.js';
export { writeHistory, readHistory, HistoryFileMissingError, type HistoryLabel, type HistoryMeta, type HistoryReader, type WriteHistoryOptions } from './history.js';
export { createProgress, formatProgress, type Progress } from './progress.js';
export { splitPass, type LivePosition, type SplitOptions, type SplitPass } from './live.js';

/** What to simulate. The same options always give byte-identical output. */
export interface SimOptions {
  /** Any safe integer; everything random derives from it. */
  seed: number;
  /** Number of customers: those on the book at `start` plus those who open during the span. */
  customers: number;
  /** Simulated start (event time). */
  start: Date;
  /** Simulated span in days; events lie in `[start, start + days)`. */
  days: number;
  /** ISO 4217 alpha-3 code of every amount; default `IRR` (amounts in Rials, exponent 0). */
  currency?: string;
  /** Offset of the bank's local time from UTC, for time-of-day and weekday patterns; default 210 (Tehran). */
  utcOffsetMinutes?: number;
  /** Multiplies every customer's activity rate (denser or sparser traffic); default 1 (≈ 1.5 events a customer a day). */
  activity?: number;
  /**
   * Multiplies the volume of feedback: the odds of complaints and compliments and the share of customers
   * the bank's own surveys invite (not response rates, not how complaints are resolved). Default 1:
   * realistic rates (about 7–10 complaints per 100 customers a year); a short demo or a test may raise it.
   * 0: no feedback events at all (the other events are the same whatever this is).
   */
  feedback?: number;
  /**
   * Days the same customers go on past `start + days` (0..365, default 0): events then lie in
   * `[start, start + days + continueDays)`, and nobody opens after `start + days` (the population, its churn
   * and ground truth are those of the span alone). Transactions and redemptions before `start + days` are
   * exactly those of the bank without it, ids included (it is not part of `idPrefix`); feedback there may
   * differ a little (satisfaction also looks ahead of the span's end). `vafa up --simulate` backfills the
   * span as history and streams the continuation live.
   */
  continueDays?: number;
}

/** The options as resolved, with the span's end and the id prefix of this run's events. */
export interface ResolvedSimOptions extends Required<SimOptions> {
  /** Exclusive end of the simulated span: `start + days` (a continuation goes on past it: `continueDays`). */
  end: Date;
  /** The hash in every event id (`T<prefix>-<n>`, `R<prefix>-<n>`): distinct options give distinct ids. */
  idPrefix: string;
  /** The hash in feedback ids (`F<prefix>-<n>`): `idPrefix` at `feedback: 1`, else one that also covers `feedback`. */
  feedbackIdPrefix: string;
}

/**
 * Ground truth for one customer. Churn is decided up to a year past the span's end, so every new
 * customer's first year is known: `churn_at` may lie after `options.end` (the customer's activity may
 * already be fading at the end of the data). Compare it with `options.end` for "churned within the data".
 */
export interface CustomerTruth {
  churned: boolean;
  /** When the customer left (RFC 3339); no events follow it until `reactivated_at`. */
  churn_at?: string;
  opened_at: string;
  /** When a churned customer came back (win-back); activity resumes at a lower level. */
  reactivated_at?: string;
  /**
   * The churn process the customer lived through (`simulator/churn.ts`), for the oracle
   * (`training/oracle.ts`): the baseline hazard, every shock with its time, and when the drift began.
   * An oracle at a cut-off may read only the shocks and a drift start at or before it.
   */
  hazard?: ChurnHazard;
}

/** See {@link CustomerTruth.hazard}; times are RFC 3339. */
export interface ChurnHazard {
  /** `vafa.churn/v2`: the behaviour-driven process of `simulator/churn.ts`. */
  law: 'vafa.churn/v2';
  /** Baseline yearly hazard of starting to drift. */
  base: number;
  /** Multiplier of the rate of fee shocks. */
  fee_exposure: number;
  shocks: { kind: ShockKind; at: string; size: number; days: number }[];
  drift_at?: string;
}

/**
 * Version of the simulator's output: it changes whenever the same options give different events or
 * truth, so caches of simulated input (bench/core.ts) key on it. 2: the behaviour-driven churn process.
 */
export const SIMULATOR_VERSION = 2;

export interface Bank {
  readonly options: ResolvedSimOptions;
  /** One profile per customer, in opening order; `cards` hold test card numbers (the API tokenizes them). */
  profiles(): CustomerProfileV1[];
  /**
   * Every event of the span in event-time order, generated lazily a day at a time; each call starts
   * a fresh, identical pass. Transaction ids are `T<idPrefix>-<n>`, redemption ids `R<idPrefix>-<n>`,
   * with `n` increasing in emission order; feedback ids are `F<feedbackIdPrefix>-<m>`, numbered on
   * their own (transactions and redemptions do not change with `feedback`). The pass also answers how
   * satisfied a customer is at the point it has reached ({@link EventStream.satisfaction}).
   */
  events(): EventStream;
  /** Ground truth per customer id. */
  truth(): Map<string, CustomerTruth>;
}

function resolve(opts: SimOptions): ResolvedSimOptions {
  const { seed, customers, start, days } = opts;
  const currency = opts.currency ?? 'IRR';
  const utcOffsetMinutes = opts.utcOffsetMinutes ?? 210;
  const activity = opts.activity ?? 1;
  const feedback = opts.feedback ?? 1;
  const continueDays = opts.continueDays ?? 0;
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer, got ${seed}`);
  if (!Number.isInteger(customers) || customers < 0 || customers > 10_000_000) throw new RangeError(`customers must be an integer in 0..10,000,000, got ${customers}`);
  if (!(start instanceof Date) || Number.isNaN(start.getTime())) throw new RangeError('start must be a valid Date');
  if (!Number.isInteger(days) || days < 1 || days > 3660) throw new RangeError(`days must be an integer in 1..3660, got ${days}`);
  if (!/^[A-Z]{3}$/.test(currency)) throw new RangeError(`currency must be an ISO 4217 alpha-3 code, got ${JSON.stringify(currency)}`);
  if (!Number.isInteger(utcOffsetMinutes) || Math.abs(utcOffsetMinutes) > 14 * 60) throw new RangeError(`utcOffsetMinutes must be an integer within ±840, got ${utcOffsetMinutes}`);
  if (!(activity > 0 && activity <= 100)) throw new RangeError(`activity must be in (0, 100], got ${activity}`);
  if (!(feedback >= 0 && feedback <= 100)) throw new RangeError(`feedback must be in [0, 100], got ${feedback}`);
  if (!Number.isInteger(continueDays) || continueDays < 0 || continueDays > 365) throw new RangeError(`continueDays must be an integer in 0..365, got ${continueDays}`);
  const startMs = start.getTime();
  const idPrefix = hashInts(seed, customers, startMs, days, hashString(currency), utcOffsetMinutes, Math.round(activity * 1e6))
    .toString(16).padStart(8, '0');
  const feedbackIdPrefix = feedback === 1 ? idPrefix : hashInts(Number.parseInt(idPrefix, 16), Math.round(feedback * 1e6)).toString(16).padStart(8, '0');
  return {
    seed, customers, start: new Date(startMs), days, currency, utcOffsetMinutes, activity, feedback, continueDays, end: new Date(startMs + days * DAY), idPrefix,
    feedbackIdPrefix,
  };
}

/** Creates a simulated bank. Cheap: the population is drawn now, events only when iterated. */
export function createBank(opts: SimOptions): Bank {
  const options = resolve(opts);
  const start = options.start.getTime();
  const end = options.end.getTime();
  const population: readonly Customer[] = createPopulation(options.seed, options.customers, { start, end, horizon: end + 365 * DAY });
  const iso = (ms: number): string => new Date(ms).toISOString();
  return {
    options,
    profiles: () => population.map(profileOf),
    events: () => new BankGenerator({ ...options, start, days: options.days + options.continueDays }, population).events(),
    truth: () => new Map(population.map((c) => [c.id, {
      churned: c.churnAt !== undefined,
      ...(c.churnAt !== undefined ? { churn_at: iso(c.churnAt) } : {}),
      opened_at: iso(c.openedAt),
      ...(c.reactivatedAt !== undefined ? { reactivated_at: iso(c.reactivatedAt) } : {}),
      hazard: {
        law: 'vafa.churn/v2' as const, base: c.churn.base, fee_exposure: c.churn.feeExposure,
        shocks: c.churn.shocks.map((s) => ({ kind: s.kind, at: iso(s.at), size: s.size, days: s.days })),
        ...(c.churn.driftAt !== undefined ? { drift_at: iso(c.churn.driftAt) } : {}),
      },
    }])),
  };
}
