/**
 * The simulated bank's customers: who they are (the profile the bank knows), how they behave (latent
 * rates, amounts, merchants, schedules) and when they leave (ground truth).
 */
import type { CustomerProfileV1 } from '../contracts/events.js';
import {
  AMOUNT, ATMS_PER_BRANCH, BASE_RATE, BILLERS, BRANCHES, EMPLOYERS, FUEL_MCCS, FUEL_STATIONS_PER_BRANCH, HIGH_DECLINE_RISK,
  MERCHANTS_PER_CATEGORY, NEW_CUSTOMER_PRODUCT_FACTOR, ONLINE_MERCHANTS, POS_MCCS, PRODUCT_ODDS, PRODUCTS, RANDOM_CHANNELS,
  REFERRED_RISK, SEGMENT_AGE, SEGMENT_AMOUNT, SEGMENT_MIX, SEGMENT_RATE, SEGMENT_RISK, SEGMENTS, STICKY, STICKY_RISK,
  type Product, type Segment,
} from './catalog.js';
import { DRIFT_DAYS, driftOnset, driftScale, drawShocks, INCIDENT_DAYS, SHOCK_COMPLAINT, type ChurnLaw, type ShockComplaint } from './churn.js';
import { hashInts, Rng } from './rng.js';
import { item } from '../scorer/core/mod.js';

export { DAY } from './churn.js';
import { DAY } from './churn.js';
const YEAR = 365 * DAY;

/**
 * Baseline yearly hazard of starting to drift for an average established customer, tuned so that with
 * the shocks about 6.5 % of established customers churn a year, and with the onboarding bump
 * (`churn.ts`) about 22.5 % of new customers in their first year, half of it within 90 days (../shared/DESIGN.md).
 */
export const BASE_DRIFT = 0.021;
export const WINBACK_SHARE = 0.06;
const NEW_OPENINGS_PER_YEAR = 0.38;
const REFERRAL_NEW = 0.1;
const REFERRAL_ESTABLISHED = 0.03;
const HIGH_DECLINE_SHARE = 0.1;
const LATENT_RISK_SIGMA = 0.4;
/** Spread of customers' satisfaction around their segment's baseline (`feedback.ts`). */
const SATISFACTION_SIGMA = 0.08;
/** An unhappier customer drifts more: the baseline hazard is ×e^(−this × the satisfaction offset) (×3 a standard deviation), normalized to mean 1. */
const UNHAPPY_RISK = 14;

export interface Merchant {
  merchant: string;
  terminals: string[];
  mcc: string;
  branch: string;
}

export interface Obligation {
  kind: 'bill' | 'loan' | 'salary';
  id: string;
  mcc?: string;
  dueDay: number;
  amount: number;
  winter: number;
  /** Paid through the bank's channels (no branch) or at the branch (bills without the bill-pay product). */
  atBranch: boolean;
  /** Share of months the customer pays this obligation with the bank at all. */
  coverage: number;
  from: number;
  until: number;
}

export interface QuietSpell {
  from: number;
  until: number;
  factor: number;
}

export interface Customer {
  index: number;
  id: string;
  openedAt: number;
  /** When the customer is gone (the end of the drift, `churn.driftAt`). */
  churnAt?: number;
  /** The churn process this customer lives through (`churn.ts`); the oracle scores with it. */
  churn: ChurnLaw;
  /** How much more (or less) satisfied than the segment's baseline the customer is (`feedback.ts`); unhappier customers drift more. */
  satisfactionOffset: number;
  /** Runs of failed payments (bad experiences), epoch ms `[from, until)`. */
  incidents: { from: number; until: number; complained: boolean }[];
  /** Incidents and fees the customer may complain about directly (`feedback.ts`). */
  shockComplaints: ShockComplaint[];
  reactivatedAt?: number;
  segment: Segment;
  branch: string;
  branchIndex: number;
  birthDate: string;
  products: Product[];
  referredBy?: string;
  cards: string[];
  has: { debit: boolean; bill: boolean; online: boolean; salary: boolean; loan: boolean };
  /** Daily rates of the unscheduled channels, in RANDOM_CHANNELS order. */
  rates: number[];
  amountFactor: number;
  declineRate: number;
  hourShift: number;
  punctuality: number;
  posMerchants: Merchant[];
  posWeights: number[];
  fuel: Merchant[];
  online: number[];
  atms: { terminal: string; branch: string }[];
  obligations: Obligation[];
  quiet: QuietSpell[];
  payDay?: number;
}

export interface Timeline {
  start: number;
  end: number;
  /** Churn is decided up to a year past the last simulated day, so every new customer's first year is known. */
  horizon: number;
}

export function branchId(b: number): string {
  return `BR${String(b + 1).padStart(2, '0')}`;
}

export function customerId(i: number): string {
  return `C${String(i + 1).padStart(6, '0')}`;
}

function luhnDigit(body: string): string {
  let sum = 0;
  let double = true;
  for (let i = body.length - 1; i >= 0; i--) {
    let d = body.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return String((10 - (sum % 10)) % 10);
}

/** A 16-digit test card number (issuer prefix 990000, never a real card) that passes the Luhn check. */
export function testPan(customerIndex: number, card: number): string {
  const body = `990000${String(customerIndex * 10 + card).padStart(9, '0')}`;
  return body + luhnDigit(body);
}

function dateOnly(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

function expectedRisk(productFactor: number, referral: number): number {
  let e = 0;
  SEGMENTS.forEach((seg, i) => {
    let s = SEGMENT_RISK[seg];
    for (const p of STICKY) {
      const q = PRODUCT_ODDS[seg][p as Exclude<Product, 'current_account'>] * productFactor;
      s *= 1 - q + q * STICKY_RISK;
    }
    e += (SEGMENT_MIX[i] as number) * s;
  });
  return e * (1 - referral + referral * REFERRED_RISK) * (1 - HIGH_DECLINE_SHARE + HIGH_DECLINE_SHARE * HIGH_DECLINE_RISK);
}

const BRANCH_WEIGHTS = Array.from({ length: BRANCHES }, (_, b) => 1 / (b + 1) ** 0.6);
const MCC_WEIGHTS = POS_MCCS.map((m) => m.weight);
const BILLER_WEIGHTS = [1, 0.8, 0.7, 0.9, 0.3, 0.4];

function makePosMerchant(branch: number, mccIndex: number, k: number): Merchant {
  const m = POS_MCCS[mccIndex] ?? item(POS_MCCS, 0);
  const merchant = `M${String(branch + 1).padStart(2, '0')}-${m.mcc}-${String(k + 1).padStart(2, '0')}`;
  const nTerm = 1 + ((branch * 7 + mccIndex * 3 + k) % 3);
  return {
    merchant,
    terminals: Array.from({ length: nTerm }, (_, t) => `T${merchant.slice(1)}-${t + 1}`),
    mcc: m.mcc,
    branch: branchId(branch),
  };
}

function makeFuelStation(branch: number, k: number): Merchant {
  const merchant = `F${String(branch + 1).padStart(2, '0')}-${String(k + 1).padStart(2, '0')}`;
  return {
    merchant,
    terminals: Array.from({ length: 4 }, (_, t) => `T${merchant.slice(1)}-${t + 1}`),
    mcc: FUEL_MCCS[k % 4 === 0 ? 1 : 0],
    branch: branchId(branch),
  };
}

const POS_TABLE: Merchant[] = [];
for (let b = 0; b < BRANCHES; b++) for (let m = 0; m < POS_MCCS.length; m++) for (let k = 0; k < MERCHANTS_PER_CATEGORY; k++) POS_TABLE.push(makePosMerchant(b, m, k));
const FUEL_TABLE: Merchant[] = [];
for (let b = 0; b < BRANCHES; b++) for (let k = 0; k < FUEL_STATIONS_PER_BRANCH; k++) FUEL_TABLE.push(makeFuelStation(b, k));

/** The card-acceptor (merchant) in `branch`'s area for POS category `mccIndex`, number `k`. */
export function posMerchant(branch: number, mccIndex: number, k: number): Merchant {
  return item(POS_TABLE, (branch * POS_MCCS.length + mccIndex) * MERCHANTS_PER_CATEGORY + k);
}

function fuelStation(branch: number, k: number): Merchant {
  return item(FUEL_TABLE, branch * FUEL_STATIONS_PER_BRANCH + k);
}

interface Draft {
  pre: number;
  c: Customer;
  referred: boolean;
}

/** Draws the customers, sorted by opening time (customer ids follow opening order). */
export function createPopulation(seed: number, count: number, tl: Timeline): Customer[] {
  const rng = new Rng(hashInts(seed, 0x706f70));
  const windowStart = Math.min(tl.start, tl.end - YEAR);
  const windowYears = (tl.end - windowStart) / YEAR;
  const newShare = Math.min(0.7, NEW_OPENINGS_PER_YEAR * windowYears);
  const eEst = expectedRisk(1, REFERRAL_ESTABLISHED);

  const drafts: Draft[] = [];
  for (let pre = 0; pre < count; pre++) {
    for (let attempt = 0; ; attempt++) {
      const d = drawCustomer(rng, pre, tl, windowStart, newShare, eEst);
      if (d.c.churnAt === undefined || d.c.churnAt >= tl.start || attempt > 50) {
        drafts.push(d);
        break;
      }
    }
  }
  drafts.sort((a, b) => a.c.openedAt - b.c.openedAt || a.pre - b.pre);
  const customers = drafts.map((d, i) => {
    d.c.index = i;
    d.c.id = customerId(i);
    return d.c;
  });
  drafts.forEach((d, i) => {
    const c = d.c;
    c.cards = c.cards.map((_, k) => testPan(i, k));
    if (c.has.loan) for (const o of c.obligations) if (o.kind === 'loan') o.id = `LOAN-${c.id}`;
    if (d.referred && i > 0) c.referredBy = customerId(rng.int(i));
  });
  return customers;
}

/**
 * Draws one customer. The draws come in a fixed order (opening, products, spending, places, obligations,
 * churn, quiet spells, the rest), which the seed's population depends on: a new draw goes at the end.
 */
function drawCustomer(rng: Rng, pre: number, tl: Timeline, windowStart: number, newShare: number, eEst: number): Draft {
  const isNew = rng.chance(newShare);
  const openedAt = isNew
    ? Math.floor(rng.range(windowStart, tl.end))
    : Math.floor(windowStart - DAY - (9 * YEAR - DAY) * rng.next() ** 1.4);
  const segment = SEGMENTS[rng.weighted(SEGMENT_MIX)] as Segment;
  const branchIdx = rng.weighted(BRANCH_WEIGHTS);
  const [ageLo, ageHi] = SEGMENT_AGE[segment];
  const birth = tl.start - rng.range(ageLo, ageHi + 1) * YEAR;
  const { products, has, sticky } = drawProducts(rng, segment, isNew);
  const referred = rng.chance(isNew ? REFERRAL_NEW : REFERRAL_ESTABLISHED);
  const highDecline = rng.chance(HIGH_DECLINE_SHARE);
  const { rates, amountFactor } = drawSpending(rng, segment, has);
  const places = drawPlaces(rng, branchIdx);
  const { obligations, payDay } = drawObligations(rng, { segment, has, openedAt, amountFactor, tl });
  const churn = drawChurn(rng, { segment, has, sticky, referred, highDecline, isNew, openedAt, obligations, tl, eEst });
  const quiet = drawQuiet(rng, tl, openedAt);

  const c: Customer = {
    index: pre,
    id: '',
    openedAt,
    segment,
    branch: branchId(branchIdx),
    branchIndex: branchIdx,
    birthDate: dateOnly(birth),
    products,
    cards: rng.chance(0.25) ? ['', ''] : [''],
    has,
    rates,
    amountFactor,
    declineRate: highDecline ? rng.range(0.07, 0.14) : 0.03 * rng.factor(0.3),
    hourShift: rng.normal() * 0.8,
    punctuality: rng.normal() * 3.5 - 2,
    ...places,
    obligations,
    quiet,
    ...(churn.churnAt !== undefined ? { churnAt: churn.churnAt } : {}),
    churn: churn.law,
    satisfactionOffset: churn.satisfactionOffset,
    incidents: churn.incidents,
    shockComplaints: churn.shockComplaints,
    ...(churn.reactivatedAt !== undefined ? { reactivatedAt: churn.reactivatedAt } : {}),
    ...(payDay !== undefined ? { payDay } : {}),
  };
  return { pre, c, referred };
}

/** The products beyond the current account, by the segment's odds (fewer for a new customer). */
function drawProducts(rng: Rng, segment: Segment, isNew: boolean): { products: Product[]; has: Customer['has']; sticky: number } {
  const odds = PRODUCT_ODDS[segment];
  const pf = isNew ? NEW_CUSTOMER_PRODUCT_FACTOR : 1;
  const products: Product[] = ['current_account'];
  for (const p of PRODUCTS) {
    if (p === 'current_account') continue;
    if (rng.chance(odds[p] * pf)) products.push(p);
  }
  const has = {
    debit: products.includes('debit_card'),
    bill: products.includes('bill_pay'),
    online: products.includes('online_banking'),
    salary: products.includes('direct_deposit'),
    loan: products.includes('installment_loan'),
  };
  return { products, has, sticky: STICKY.filter((p) => products.includes(p)).length };
}

/** Daily rates of the unscheduled channels (what the customer lacks lowers them) and the amount factor. */
function drawSpending(rng: Rng, segment: Segment, has: Customer['has']): { rates: number[]; amountFactor: number } {
  const segRate = SEGMENT_RATE[segment];
  const activity = rng.factor(0.5);
  const rates = RANDOM_CHANNELS.map((ch) => {
    let r = BASE_RATE[ch] * (segRate[ch] ?? 1) * activity * rng.factor(0.45);
    if (!has.debit && (ch === 'pos' || ch === 'fuel')) r *= 0.3;
    if (!has.debit && ch === 'online') r *= 0.5;
    if (!has.online && ch === 'online') r *= 0.2;
    if (!has.online && ch === 'transfer') r *= 0.4;
    return r;
  });
  return { rates, amountFactor: SEGMENT_AMOUNT[segment] * rng.factor(0.35) };
}

/** Where the customer pays: POS merchants (mostly near the home branch), fuel stations, online merchants, ATMs. */
function drawPlaces(rng: Rng, branchIdx: number): Pick<Customer, 'posMerchants' | 'posWeights' | 'fuel' | 'online' | 'atms'> {
  const nMcc = 3 + rng.int(4);
  const chosen = new Set<number>();
  while (chosen.size < nMcc) chosen.add(rng.weighted(MCC_WEIGHTS));
  const posMerchants: Merchant[] = [];
  const posWeights: number[] = [];
  for (const mi of [...chosen].sort((a, b) => a - b)) {
    const n = 1 + rng.int(3);
    for (let j = 0; j < n; j++) {
      const region = rng.chance(0.12) ? rng.weighted(BRANCH_WEIGHTS) : branchIdx;
      posMerchants.push(posMerchant(region, mi, rng.int(MERCHANTS_PER_CATEGORY)));
      posWeights.push((POS_MCCS[mi]?.weight ?? 0.1) * rng.factor(0.6) / (j + 1));
    }
  }
  const fuel = Array.from({ length: 1 + rng.int(3) }, () => fuelStation(rng.chance(0.15) ? rng.weighted(BRANCH_WEIGHTS) : branchIdx, rng.int(FUEL_STATIONS_PER_BRANCH)));
  const online = Array.from({ length: 2 + rng.int(4) }, () => rng.int(ONLINE_MERCHANTS.length));
  const atms = Array.from({ length: 1 + rng.int(2) }, (_, k) => {
    const b = k === 0 ? branchIdx : rng.weighted(BRANCH_WEIGHTS);
    return { terminal: `ATM-${branchId(b)}-${1 + rng.int(ATMS_PER_BRANCH)}`, branch: branchId(b) };
  });
  return { posMerchants, posWeights, fuel, online, atms };
}

/** Scheduled payments: bills (at the branch without bill pay), an installment loan, a salary (and its pay day). */
function drawObligations(
  rng: Rng,
  o: { segment: Segment; has: Customer['has']; openedAt: number; amountFactor: number; tl: Timeline },
): { obligations: Obligation[]; payDay: number | undefined } {
  const { segment, has, amountFactor, tl } = o;
  const obligations: Obligation[] = [];
  const activeFrom = o.openedAt + 10 * DAY;
  const nBills = has.bill ? 1 + rng.int(4) : 1 + rng.int(2);
  const billers = new Set<number>();
  while (billers.size < nBills) billers.add(rng.weighted(BILLER_WEIGHTS));
  for (const bi of [...billers].sort((a, b) => a - b)) {
    const b = item(BILLERS, bi);
    obligations.push({
      kind: 'bill', id: b.id, mcc: b.mcc, dueDay: 1 + rng.int(28), amount: b.median * Math.sqrt(SEGMENT_AMOUNT[segment]) * rng.factor(0.4),
      winter: b.winter, atBranch: !has.bill, coverage: has.bill ? 0.97 : 0.5, from: activeFrom, until: Infinity,
    });
  }
  if (has.loan) {
    const loanStart = Math.max(activeFrom, tl.start - Math.floor(rng.range(0, 24) * 30 * DAY));
    obligations.push({
      kind: 'loan', id: '', dueDay: 1 + rng.int(28), amount: AMOUNT.installment.median * amountFactor * rng.factor(AMOUNT.installment.sigma),
      winter: 1, atBranch: rng.chance(0.15), coverage: 1, from: loanStart, until: loanStart + Math.floor(rng.range(6, 48) * 30 * DAY),
    });
  }
  let payDay: number | undefined;
  if (has.salary) {
    const employer = rng.int(EMPLOYERS);
    payDay = [1, 25, 26, 27, 28][hashInts(employer) % 5] as number;
    const pension = segment === 'senior' ? 0.6 : 1;
    obligations.push({
      kind: 'salary', id: `EMP${String(employer + 1).padStart(4, '0')}`, dueDay: payDay,
      amount: AMOUNT.salary.median * Math.sqrt(amountFactor) * pension * rng.factor(AMOUNT.salary.sigma),
      winter: 1, atBranch: false, coverage: 1, from: o.openedAt + 3 * DAY, until: Infinity,
    });
  }
  return { obligations, payDay };
}

/** What the churn process decides for a customer. */
interface ChurnDraw {
  law: ChurnLaw;
  churnAt: number | undefined;
  reactivatedAt: number | undefined;
  satisfactionOffset: number;
  incidents: Customer['incidents'];
  shockComplaints: ShockComplaint[];
}

/**
 * Churn: static risk multipliers shape the baseline (normalized by their expectation); what happens to the
 * customer (shocks) raises it for a while; drift begins when the integrated hazard passes a draw. A life
 * event ends the salary (`obligations` is changed in place).
 */
function drawChurn(
  rng: Rng,
  o: { segment: Segment; has: Customer['has']; sticky: number; referred: boolean; highDecline: boolean; isNew: boolean; openedAt: number; obligations: Obligation[]; tl: Timeline; eEst: number },
): ChurnDraw {
  const { segment, openedAt, obligations, tl } = o;
  const feeExposure = (o.has.bill ? 0.7 : 1.5) * (segment === 'affluent' ? 0.6 : 1) * rng.factor(0.3);
  const latent = rng.factor(LATENT_RISK_SIGMA);
  const satisfactionOffset = SATISFACTION_SIGMA * rng.normal();
  const unhappy = Math.exp(-UNHAPPY_RISK * satisfactionOffset - (UNHAPPY_RISK * SATISFACTION_SIGMA) ** 2 / 2);
  const risk = STICKY_RISK ** o.sticky * SEGMENT_RISK[segment] * (o.referred ? REFERRED_RISK : 1) * (o.highDecline ? HIGH_DECLINE_RISK : 1) * latent * unhappy;
  const from = o.isNew ? openedAt : Math.max(openedAt, tl.start - Math.ceil(DRIFT_DAYS[1]) * DAY);
  const closures = obligations.filter((x) => x.kind === 'loan').map((x) => x.until);
  const law: ChurnLaw = {
    base: (BASE_DRIFT * risk) / o.eEst,
    feeExposure,
    shocks: drawShocks(rng, from, tl.horizon, feeExposure, closures),
  };
  const onset = driftOnset(law, openedAt, from, tl.horizon, rng.exponential(1));
  const driftLength = rng.range(DRIFT_DAYS[0], DRIFT_DAYS[1]);
  let churnAt: number | undefined;
  if (onset !== undefined) {
    law.driftAt = onset;
    churnAt = onset + Math.floor(driftLength * driftScale((onset - openedAt) / DAY) * DAY);
    if (churnAt >= tl.horizon) churnAt = undefined;
  }
  let reactivatedAt: number | undefined;
  if (churnAt !== undefined && rng.chance(WINBACK_SHARE)) {
    const back = churnAt + Math.floor(rng.range(45, 270) * DAY);
    if (back < tl.horizon) reactivatedAt = back;
  }
  const lifeEvent = law.shocks.find((x) => x.kind === 'life_event');
  const salary = obligations.find((x) => x.kind === 'salary');
  if (lifeEvent && salary) salary.until = Math.max(salary.from, lifeEvent.at);
  const incidents = law.shocks.filter((x) => x.kind === 'incident')
    .map((x) => ({ from: x.at, until: x.at + Math.floor(rng.range(INCIDENT_DAYS[0], INCIDENT_DAYS[1]) * DAY), complained: x.complained === true }));
  const shockComplaints = law.shocks.filter((x) => SHOCK_COMPLAINT[x.kind] !== undefined).map((x) => ({ at: x.at, kind: x.kind, u: rng.next() }));
  return { law, churnAt, reactivatedAt, satisfactionOffset, incidents, shockComplaints };
}

/** Spells of little activity over the customer's simulated span (about 1.2 a year). */
function drawQuiet(rng: Rng, tl: Timeline, openedAt: number): QuietSpell[] {
  const quiet: QuietSpell[] = [];
  const spanStart = Math.max(tl.start, openedAt);
  const nQuiet = rng.poisson(((tl.end - spanStart) / YEAR) * 1.2);
  for (let q = 0; q < nQuiet; q++) {
    const from = Math.floor(rng.range(spanStart, tl.end));
    quiet.push({ from, until: from + Math.floor(rng.range(5, 25) * DAY), factor: rng.range(0.1, 0.5) });
  }
  return quiet;
}

/** The profile the bank holds (closing dates are not included: the profile is known up front, churn is what the model predicts). */
export function profileOf(c: Customer): CustomerProfileV1 {
  return {
    customer_id: c.id,
    opened_at: new Date(c.openedAt).toISOString(),
    birth_date: c.birthDate,
    segment: c.segment,
    branch_id: c.branch,
    products: [...c.products],
    ...(c.referredBy ? { referred_by: c.referredBy } : {}),
    cards: [...c.cards],
  };
}
