/**
 * Customer experience and the feedback it causes. Each customer's satisfaction (0–1) starts from a
 * segment baseline and drifts with what happens to them: declined payments and fees pull it down,
 * it sinks in the weeks before the customer leaves, an open complaint keeps it low and a good
 * resolution partly restores it; between shocks it relaxes back towards the customer's baseline.
 *
 * Satisfaction drives what the customer says: complaints (after declines, fees, or about the service),
 * rare compliments, and answers to the bank's own surveys (a quarterly relationship NPS and a CSAT
 * after branch visits). The bank resolves most complaints after hours to days.
 *
 * Every draw here comes from its own seeded streams (never the transaction generator's), so the
 * transactions are the same whatever feedback does, and the feedback is a function of the seed.
 */
import { CHANNELS, type Channel, type FeedbackV1 } from '../contracts/events.js';
import type { Segment } from './catalog.js';
import { SHOCK_COMPLAINT } from './churn.js';
import { DAY, type Customer } from './population.js';
import { hashInts, mix32, Rng } from './rng.js';
import { item, f32, f64, heapPop, heapPush, u8 } from '../scorer/core/mod.js';

const HOUR = 3_600_000;
const MINUTE = 60_000;

// --- Satisfaction ------------------------------------------------------------------------------------

/**
 * Baseline satisfaction by segment. Retail-bank satisfaction studies (J.D. Power, ACSI) rank premium
 * and older customers highest, young and small-business customers lowest; the spread is small.
 */
export const SEGMENT_SATISFACTION: Record<Segment, number> = { mass: 0.75, affluent: 0.8, youth: 0.72, senior: 0.8, sme: 0.7 };
/** How far satisfaction sinks by the time the customer leaves; it sinks over the drift (`churn.ts`). */
const PRECHURN_DROP = 0.35;
/** A customer won back stays a little more sceptical. */
const WON_BACK_OFFSET = 0.05;
/** Shocks fade back to the baseline with this time constant (days). */
const MEMORY_DAYS = 30;
/** Per declined transaction; an ATM, bill or installment decline (cash or a due date at stake) hurts 1.5×. */
const DECLINE_HIT = 0.03;
/** Per fee charged (an interbank transfer, a bill paid at the counter), times the customer's fee sensitivity. */
const FEE_HIT = 0.005;
/** Share of transfers that go to another bank and carry the interbank (Shetab) fee. */
const INTERBANK_SHARE = 0.6;
/** Lodging a complaint is itself a bad experience; each open complaint (at most 2 count) lowers the level satisfaction relaxes to. */
const COMPLAINT_HIT = 0.02;
const OPEN_COMPLAINT_PENALTY = 0.08;
/** A resolution the customer accepts restores some satisfaction; a poor one (rejected, no explanation) costs a little more. */
const RECOVERY_GOOD = 0.1;
const RECOVERY_POOR = -0.03;
const GOOD_RESOLUTION_SHARE = 0.7;
/** Spending loyalty points is a small pleasure. */
const REDEMPTION_LIFT = 0.02;

// --- Complaints ----------------------------------------------------------------------------------------

/*
 * Complaint rates. UK banks report about 3–5 complaints per 100 customers a year to the FCA (formal
 * complaints, including those closed within a day); roughly 1 in 25 dissatisfied customers complains
 * (TARP). The odds below give about 7–10 complaints per 100 customer-years at `feedback: 1` (we count
 * every complaint contact, the FCA figures only those reported), half of them after declines, many more
 * from unhappy customers and from those about to leave: complainers churn about twice as often. At the reference
 * satisfaction the multiplier is 1; it grows ×e^(slope·drop) as satisfaction falls.
 */
/** Complaint odds per declined transaction (reference satisfaction, first decline in a week). */
export const COMPLAINT_PER_DECLINE = 0.00025;
/** Complaint odds per fee charged. */
export const COMPLAINT_PER_FEE = 0.00015;
/** Daily odds of a complaint about the service itself (branch, app, call centre). */
export const SERVICE_COMPLAINT_PER_DAY = 0.00004;
const S_REF = 0.7;
const COMPLAINT_SLOPE = 8;
/** Each further decline within about a week adds half the odds again (at most 4 count). */
const REPEAT_DECLINE = 0.5;
const DECLINE_MEMORY_DAYS = 7;
/** No new complaint within 3 days of the last: the customer is already waiting for an answer. */
const COMPLAINT_COOLDOWN = 3 * DAY;
/** Complaints come a while after the experience (call centre, app form, next branch visit): median 2 h. */
const COMPLAINT_DELAY = { median: 2 * HOUR, sigma: 1.2, max: 3 * DAY };

/*
 * Resolutions. The FCA expects a final response within 8 weeks; most bank complaints close within a few
 * days. Here: 85 % are resolved, after a log-normal delay with a median of 30 hours (p90 ≈ 5 days), capped
 * at 8 weeks; the rest stay open (and those resolved after the span's end are open in the data).
 */
export const RESOLVED_SHARE = 0.85;
const RESOLUTION_DELAY = { median: 30 * HOUR, sigma: 1.1, max: 56 * DAY };

/** Daily odds of a compliment for the most satisfied customers (none below 0.75): compliments are far rarer than complaints. */
export const COMPLIMENT_PER_DAY = 0.0001;
const COMPLIMENT_FROM = 0.7;

// --- The bank's own surveys ------------------------------------------------------------------------------

/** The bank's relationship NPS: each quarter a random share of customers (tenure ≥ 90 days) is invited over its first 30 days. */
export const NPS_CAMPAIGN = 'relationship-nps';
export const NPS_SAMPLE_SHARE = 0.08;
/** E-mail/SMS relationship surveys typically get 10–20 % responses. */
export const NPS_RESPONSE_RATE = 0.15;
const NPS_WAVE_DAYS = 30;
const NPS_MIN_TENURE = 90 * DAY;
const NPS_DELAY = { median: 6 * HOUR, sigma: 1.2, max: 14 * DAY };
/** Post-visit CSAT: an SMS after a share of teller visits (deposits, bills and installments paid at the branch). */
export const VISIT_CAMPAIGN = 'branch-visit-csat';
export const VISIT_INVITE_SHARE = 0.3;
/** Transactional (post-visit) SMS surveys typically get 10–20 % responses. */
export const VISIT_RESPONSE_RATE = 0.15;
const VISIT_DELAY = { median: 2 * HOUR, sigma: 1, max: 3 * DAY };

/**
 * How likely a customer is to answer a survey relative to a typical one: the very unhappy answer most
 * (they want to be heard), the delighted a little more than the indifferent. 1 at satisfaction 0.7.
 */
export function responsePropensity(s: number): number {
  return (0.85 + 2.5 * (s - 0.6) ** 2) / 0.875;
}
/** The largest value {@link responsePropensity} takes on [0, 1]. */
export const MAX_PROPENSITY = responsePropensity(0);

/*
 * Scores: the answer is satisfaction plus noise (N(0, 0.12): mood, the question, the day), cut into the
 * scale's bands. With the population's satisfaction this gives a CSAT (share of 4–5) around 70–80 % and
 * an NPS around +10 to +25, typical of retail banks.
 */
const SCORE_NOISE = 0.12;
const CSAT_CUTS = [0.3, 0.45, 0.58, 0.74];
const NPS_CUTS = [0.2, 0.27, 0.34, 0.41, 0.48, 0.55, 0.62, 0.69, 0.76, 0.86];

/** A survey score on `scale` for satisfaction `s` and a standard normal draw `z`. */
export function surveyScore(scale: 'csat5' | 'nps10', s: number, z: number): number {
  const x = s + SCORE_NOISE * z;
  const cuts = scale === 'csat5' ? CSAT_CUTS : NPS_CUTS;
  let k = 0;
  for (const cut of cuts) {
    if (!(x >= cut)) break;
    k++;
  }
  return scale === 'csat5' ? k + 1 : k;
}

// --- Texts (no names, no numbers: nothing personal) ------------------------------------------------------

enum Cause { CardDecline, AtmDecline, BillDecline, TransferDecline, TransferFee, CounterFee, Branch, Digital, CallCentre }

const COMPLAINT_TEXT: Record<Cause, readonly string[]> = {
  [Cause.CardDecline]: [
    'My card was declined at a shop although there was enough money in the account.',
    'A payment was declined twice in a row and nobody could tell me why.',
    'An online purchase failed but the amount was held on my account.',
  ],
  [Cause.AtmDecline]: [
    'The ATM refused my withdrawal.',
    'The ATM did not give me the cash and showed an error.',
    'Could not withdraw cash at the ATM near my branch again.',
  ],
  [Cause.BillDecline]: [
    'My bill payment was rejected and now I may pay a late fee.',
    'The installment payment failed on the due date.',
  ],
  [Cause.TransferDecline]: ['My transfer was rejected without a clear reason.', 'A card-to-card transfer failed and the money took days to come back.'],
  [Cause.TransferFee]: ['I was charged a fee for a card-to-card transfer I did not expect.', 'Transfer fees are too high.'],
  [Cause.CounterFee]: ['I was charged a commission for paying a bill at the branch counter.'],
  [Cause.Branch]: ['I waited more than an hour at the branch.', 'Branch staff could not help with my request.', 'The branch closed early without notice.'],
  [Cause.Digital]: ['The mobile app keeps failing at login.', 'Internet banking was down when I needed to pay.', 'The app logged me out in the middle of a payment.'],
  [Cause.CallCentre]: ['I could not reach the call centre.', 'The call centre gave me wrong information.'],
};
const RESOLUTION_GOOD = ['Refund issued and apology sent.', 'Fault found and fixed; the payment went through.', 'Fee reversed as a goodwill gesture.', 'Explained the cause; the customer accepted.'];
const RESOLUTION_POOR = ['Reviewed: no error on the bank\'s side.', 'Closed: the fee is in the published tariff.', 'Closed after no reply from the customer.'];
const COMPLIMENT_TEXT = ['Thanks to the branch staff for the quick help.', 'The app makes paying bills easy.', 'My problem was solved on the first call.', 'Friendly and professional service.'];
const NPS_TEXT = {
  detractor: ['Fees are too high for what I get.', 'Too many declined payments lately.', 'Branch queues are too long.', 'The app is unreliable.'],
  passive: ['Service is fine; the app could be faster.', 'Good enough, nothing special.'],
  promoter: ['Reliable bank and helpful staff.', 'Everything just works.', 'Great service at my branch.'],
};
const VERBATIM_SHARE = 0.3;

// --- The model -------------------------------------------------------------------------------------------

/** A feedback event as the bank's feed carries it. */
export interface FeedbackEvent {
  kind: 'feedback';
  body: FeedbackV1;
}

export interface ExperienceConfig {
  seed: number;
  /** Span in epoch ms: `[start, end)`. */
  start: number;
  end: number;
  /** Multiplier of customer-initiated feedback and survey invitations (0: none). */
  feedback: number;
  /** Feedback ids are `F<idPrefix>-<n>`. */
  idPrefix: string;
  utcOffsetMinutes: number;
}

const T_COMPLAINT = 0;
const T_RESOLUTION = 1;
const T_COMPLIMENT = 2;
const T_NPS_INVITE = 3;
const T_NPS_ANSWER = 4;
const T_VISIT_ANSWER = 5;

/** Something due at `t`: a feedback event to emit, or a step of the bank's own process. */
interface Draft {
  t: number;
  seq: number;
  type: number;
  ci: number;
  /** Index in CHANNELS, or -1. */
  ch: number;
  branch: string | undefined;
  cause: Cause;
  /** The complaint a resolution answers. */
  ref: string;
  good: boolean;
}

/** A binary min-heap of drafts by (time, insertion order): deterministic on ties. */
class DraftHeap {
  private readonly a: Draft[] = [];

  get size(): number {
    return this.a.length;
  }

  peekTime(): number {
    return this.a[0]?.t ?? Infinity;
  }

  push(d: Draft): void {
    heapPush(this.a, d, less);
  }

  pop(): Draft | undefined {
    return heapPop(this.a, less);
  }
}

function less(x: Draft, y: Draft): boolean {
  return x.t < y.t || (x.t === y.t && x.seq < y.seq);
}

const CH = Object.fromEntries(CHANNELS.map((c, i) => [c, i])) as Record<Channel, number>;
const BRANCH_VISIT = new Set([CH.deposit, CH.bill_pay, CH.installment]);

/** Index of a simulator customer id (`C000123` → 122), or -1. */
function indexOfId(id: string): number {
  if (!/^C\d{6,}$/.test(id)) return -1;
  return Number(id.slice(1)) - 1;
}

/**
 * The satisfaction of every customer and the feedback it causes, advanced by the generator in event
 * time: `onTransaction`/`onRedemption` after each event, `startDay` at each simulated day, and
 * `pop` for what falls due. One instance per pass over the events.
 */
export class Experience {
  private readonly n: number;
  private readonly base: Float32Array;
  private readonly feeSense: Float32Array;
  private readonly s: Float64Array;
  private readonly at: Float64Array;
  private readonly declines: Float64Array;
  private readonly declinesAt: Float64Array;
  private readonly lastComplaint: Float64Array;
  private readonly open: Uint8Array;
  /** Start of the latest incident the customer complained about (`churn.ts`: they complain once per incident). */
  private readonly incidentComplained: Float64Array;
  private readonly heap = new DraftHeap();
  private readonly rng = new Rng(0);
  private readonly seed: number;
  private readonly mult: number;
  private readonly offsetMs: number;
  private readonly dailyBound: number;
  private seq = 0;
  private count = 0;
  private wave = NaN;
  /** Time of the latest event applied. */
  now: number;

  constructor(private readonly cfg: ExperienceConfig, private readonly customers: readonly Customer[]) {
    const n = customers.length;
    this.n = n;
    this.seed = hashInts(cfg.seed, 0x66656564);
    this.mult = cfg.feedback;
    this.offsetMs = cfg.utcOffsetMinutes * MINUTE;
    this.now = cfg.start;
    this.base = new Float32Array(n);
    this.feeSense = new Float32Array(n);
    this.s = new Float64Array(n);
    this.at = new Float64Array(n).fill(NaN);
    this.declines = new Float64Array(n);
    this.declinesAt = new Float64Array(n);
    this.lastComplaint = new Float64Array(n).fill(-Infinity);
    this.open = new Uint8Array(n);
    this.incidentComplained = new Float64Array(n).fill(NaN);
    const r = new Rng(0);
    for (const c of customers) {
      r.reseed(hashInts(this.seed, 0, c.index));
      // The spread between customers of a segment is drawn with the population: it also drives churn (`churn.ts`).
      const b = SEGMENT_SATISFACTION[c.segment] + c.satisfactionOffset;
      this.base[c.index] = Math.min(0.95, Math.max(0.2, b));
      this.feeSense[c.index] = (c.segment === 'affluent' ? 0.5 : c.segment === 'youth' || c.segment === 'mass' ? 1.2 : 1) * r.factor(0.4);
    }
    this.dailyBound = this.mult * (SERVICE_COMPLAINT_PER_DAY * Math.exp(COMPLAINT_SLOPE * S_REF) + COMPLIMENT_PER_DAY);
    this.shockComplaints();
  }

  /** Complaints about the fees of the churn process (`churn.ts`), a day or two after each. */
  private shockComplaints(): void {
    if (this.mult <= 0) return;
    for (const c of this.customers) {
      for (const x of c.shockComplaints) {
        if (x.u >= Math.min(1, this.mult * (SHOCK_COMPLAINT[x.kind] ?? 0))) continue;
        const t = x.at + Math.floor((0.5 + 2 * ((x.u * 7919) % 1)) * DAY);
        if (t < this.cfg.start) continue;
        this.push(t, T_COMPLAINT, c.index, CH.transfer, undefined, Cause.TransferFee);
      }
    }
  }

  /** Satisfaction of a customer at `t` (default: the latest event time); undefined for an unknown id. Reads only. */
  satisfaction(customerId: string, t = this.now): number | undefined {
    const ci = indexOfId(customerId);
    if (ci < 0 || ci >= this.n || this.customers[ci]?.id !== customerId) return undefined;
    return this.peek(ci, t);
  }

  /** Time of the earliest pending draft (Infinity when none). */
  nextAt(): number {
    return this.heap.peekTime();
  }

  /** Drafts still pending (e.g. resolutions due after the span). */
  get pending(): number {
    return this.heap.size;
  }

  private target(ci: number, t: number): number {
    const c = item(this.customers, ci);
    let v = f32(this.base, ci) - OPEN_COMPLAINT_PENALTY * Math.min(2, u8(this.open, ci));
    if (c.churnAt !== undefined) {
      if (c.reactivatedAt !== undefined && t >= c.reactivatedAt) v -= WON_BACK_OFFSET;
      else if (t >= c.churnAt) v -= PRECHURN_DROP;
      else {
        const driftAt = c.churn.driftAt ?? c.churnAt;
        const x = (t - driftAt) / Math.max(DAY, c.churnAt - driftAt);
        if (x > 0) v -= PRECHURN_DROP * Math.sqrt(x);
      }
    }
    return v;
  }

  private peek(ci: number, t: number): number {
    const target = this.target(ci, t);
    const at = f64(this.at, ci);
    if (Number.isNaN(at)) return Math.min(1, Math.max(0, target));
    const v = target + (f64(this.s, ci) - target) * Math.exp(-Math.max(0, t - at) / (MEMORY_DAYS * DAY));
    return Math.min(1, Math.max(0, v));
  }

  /** Moves the customer's state to `t` and applies `delta`; returns the new satisfaction. */
  private shock(ci: number, t: number, delta: number): number {
    const v = Math.min(1, Math.max(0, this.peek(ci, t) + delta));
    this.s[ci] = v;
    this.at[ci] = t;
    return v;
  }

  private odds(s: number): number {
    return Math.exp(COMPLAINT_SLOPE * (S_REF - s));
  }

  private delay(r: Rng, d: { median: number; sigma: number; max: number }): number {
    return Math.max(MINUTE, Math.min(d.max, Math.floor(d.median * Math.exp(d.sigma * r.normal()))));
  }

  private push(t: number, type: number, ci: number, ch = -1, branch?: string, cause: Cause = Cause.Branch, ref = '', good = false): void {
    t = Math.floor(t);
    if (t >= this.cfg.end) return;
    this.heap.push({ t, seq: this.seq++, type, ci, ch, branch, cause, ref, good });
  }

  private complaint(ci: number, t: number, cause: Cause, ch = -1, branch?: string): void {
    this.lastComplaint[ci] = t;
    this.push(t, T_COMPLAINT, ci, ch, branch, cause);
  }

  private active(c: Customer, t: number): boolean {
    if (t < c.openedAt || t >= this.cfg.end) return false;
    if (c.churnAt === undefined || t < c.churnAt) return true;
    return c.reactivatedAt !== undefined && t >= c.reactivatedAt;
  }

  /** A local business hour (9:00–21:00) on the simulated day starting at `t0`. */
  private businessTime(r: Rng, t0: number): number {
    const localHour = ((((t0 + this.offsetMs) % DAY) + DAY) % DAY) / HOUR;
    const h = r.range(9, 21);
    return t0 + Math.floor(((((h - localHour) % 24) + 24) % 24) * HOUR);
  }

  /** Draws the day's feedback not tied to a transaction: service complaints, compliments, and the quarterly NPS wave. */
  startDay(d: number, t0: number, t1: number, localDay: number): void {
    const date = new Date(localDay * DAY);
    const month = date.getUTCMonth();
    const quarter = date.getUTCFullYear() * 4 + Math.floor(month / 3);
    if (quarter !== this.wave && (d === 0 || (date.getUTCDate() === 1 && month % 3 === 0))) {
      this.wave = quarter;
      this.npsWave(quarter, Date.UTC(date.getUTCFullYear(), month - (month % 3), 1) / DAY, t0);
    }
    if (this.mult <= 0) return;
    const r = this.rng;
    for (const c of this.customers) {
      if (c.openedAt >= t1) break;
      r.reseed(hashInts(this.seed, 2, c.index, d));
      const u = r.next();
      if (u >= this.dailyBound) continue;
      const t = this.businessTime(r, t0);
      if (!this.active(c, t)) continue;
      const s = this.peek(c.index, t);
      const pService = this.mult * SERVICE_COMPLAINT_PER_DAY * this.odds(s);
      const pCompliment = this.mult * COMPLIMENT_PER_DAY * Math.max(0, (s - COMPLIMENT_FROM) / (1 - COMPLIMENT_FROM));
      if (u < pService) {
        if (t - f64(this.lastComplaint, c.index) < COMPLAINT_COOLDOWN) continue;
        const v = r.next();
        if (v < 0.45) this.complaint(c.index, t, Cause.Branch, -1, c.branch);
        else if (v < 0.8) this.complaint(c.index, t, Cause.Digital, CH.online);
        else this.complaint(c.index, t, Cause.CallCentre);
      } else if (u < pService + pCompliment) {
        const v = r.next();
        this.push(t, T_COMPLIMENT, c.index, v < 0.25 ? CH.online : -1, v >= 0.4 ? c.branch : undefined);
      }
    }
  }

  private npsWave(quarter: number, firstLocalDay: number, notBefore: number): void {
    const share = Math.min(1, NPS_SAMPLE_SHARE * this.mult);
    if (share <= 0) return;
    const r = this.rng;
    for (const c of this.customers) {
      r.reseed(hashInts(this.seed, 3, quarter, c.index));
      if (r.next() >= share) continue;
      const day = firstLocalDay + Math.floor(r.next() * NPS_WAVE_DAYS);
      const t = day * DAY - this.offsetMs + Math.floor(r.range(9, 20) * HOUR);
      if (t >= notBefore) this.push(t, T_NPS_INVITE, c.index);
    }
  }

  /** Applies a transaction (after it is emitted); `key` is its unique event number. */
  onTransaction(c: Customer, key: number, t: number, ch: number, declined: boolean, branch: string | undefined): void {
    this.now = t;
    const ci = c.index;
    if (declined) {
      const dm = f64(this.declines, ci) * Math.exp(-(t - f64(this.declinesAt, ci)) / (DECLINE_MEMORY_DAYS * DAY)) + 1;
      this.declines[ci] = dm;
      this.declinesAt[ci] = t;
      const heavy = ch === CH.atm || ch === CH.bill_pay || ch === CH.installment;
      const s = this.shock(ci, t, -DECLINE_HIT * (heavy ? 1.5 : 1));
      if (this.mult <= 0 || t - f64(this.lastComplaint, ci) < COMPLAINT_COOLDOWN) return;
      const r = this.rng.reseed(mix32(mix32(this.seed, 1), key));
      const p = this.mult * COMPLAINT_PER_DECLINE * this.odds(s) * (1 + REPEAT_DECLINE * (Math.min(5, dm) - 1));
      const u = r.next();
      const incident = c.incidents.find((x) => x.complained && t >= x.from && t < x.until);
      if (incident && this.incidentComplained[ci] !== incident.from) this.incidentComplained[ci] = incident.from;
      else if (u >= p) return;
      const cause = ch === CH.atm ? Cause.AtmDecline : heavy ? Cause.BillDecline : ch === CH.transfer ? Cause.TransferDecline : Cause.CardDecline;
      this.complaint(ci, t + this.delay(r, COMPLAINT_DELAY), cause, ch, branch);
      return;
    }
    const visit = branch !== undefined && BRANCH_VISIT.has(ch);
    if (ch !== CH.transfer && !visit) return;
    const r = this.rng.reseed(mix32(mix32(this.seed, 1), key));
    const fee = ch === CH.transfer ? r.next() < INTERBANK_SHARE : ch === CH.bill_pay;
    if (fee) {
      const s = this.shock(ci, t, -FEE_HIT * f32(this.feeSense, ci));
      if (this.mult > 0 && t - f64(this.lastComplaint, ci) >= COMPLAINT_COOLDOWN && r.next() < this.mult * COMPLAINT_PER_FEE * this.odds(s)) {
        this.complaint(ci, t + this.delay(r, COMPLAINT_DELAY), ch === CH.transfer ? Cause.TransferFee : Cause.CounterFee, ch, branch);
        return;
      }
    }
    if (visit && r.next() < Math.min(1, VISIT_INVITE_SHARE * this.mult)) {
      const s = this.peek(ci, t);
      if (r.next() < VISIT_RESPONSE_RATE * responsePropensity(s)) this.push(t + this.delay(r, VISIT_DELAY), T_VISIT_ANSWER, ci, ch, branch);
    }
  }

  onRedemption(c: Customer, t: number): void {
    this.now = t;
    this.shock(c.index, t, REDEMPTION_LIFT);
  }

  /** Takes the earliest draft and returns the feedback it makes, if any (invitations and lapsed customers make none). */
  pop(): FeedbackEvent | undefined {
    const d = this.heap.pop();
    if (!d) return undefined;
    const c = item(this.customers, d.ci);
    const r = this.rng.reseed(hashInts(this.seed, 4, d.seq));
    const t = d.t;
    if (d.type === T_RESOLUTION) {
      this.shock(d.ci, t, 0);
      this.open[d.ci] = Math.max(0, u8(this.open, d.ci) - 1);
      this.shock(d.ci, t, d.good ? RECOVERY_GOOD : RECOVERY_POOR);
      return this.event(c, t, 'resolution', d, { resolves_feedback_id: d.ref, text: r.pick(d.good ? RESOLUTION_GOOD : RESOLUTION_POOR) });
    }
    if (!this.active(c, t)) return undefined;
    switch (d.type) {
      case T_COMPLAINT: {
        this.shock(d.ci, t, -COMPLAINT_HIT);
        this.open[d.ci] = Math.min(255, u8(this.open, d.ci) + 1);
        const ev = this.event(c, t, 'complaint', d, { text: r.pick(COMPLAINT_TEXT[d.cause]) });
        if (r.next() < RESOLVED_SHARE) {
          const good = r.next() < GOOD_RESOLUTION_SHARE;
          this.push(t + this.delay(r, RESOLUTION_DELAY), T_RESOLUTION, d.ci, d.ch, d.branch, d.cause, ev.body.feedback_id, good);
        }
        return ev;
      }
      case T_COMPLIMENT:
        return this.event(c, t, 'compliment', d, { text: r.pick(COMPLIMENT_TEXT) });
      case T_NPS_INVITE: {
        if (t - c.openedAt < NPS_MIN_TENURE) return undefined;
        if (r.next() < NPS_RESPONSE_RATE * responsePropensity(this.peek(d.ci, t))) this.push(t + this.delay(r, NPS_DELAY), T_NPS_ANSWER, d.ci);
        return undefined;
      }
      case T_NPS_ANSWER: {
        const score = surveyScore('nps10', this.peek(d.ci, t), r.normal());
        const texts = score <= 6 ? NPS_TEXT.detractor : score <= 8 ? NPS_TEXT.passive : NPS_TEXT.promoter;
        return this.event(c, t, 'survey', d, { score, scale: 'nps10', campaign_id: NPS_CAMPAIGN, ...(r.next() < VERBATIM_SHARE ? { text: r.pick(texts) } : {}) });
      }
      case T_VISIT_ANSWER:
        return this.event(c, t, 'survey', d, { score: surveyScore('csat5', this.peek(d.ci, t), r.normal()), scale: 'csat5', campaign_id: VISIT_CAMPAIGN });
      default:
        return undefined;
    }
  }

  private event(c: Customer, t: number, kind: FeedbackV1['kind'], d: Draft, extra: Partial<FeedbackV1>): FeedbackEvent {
    const body: FeedbackV1 = { feedback_id: `F${this.cfg.idPrefix}-${this.count++}`, customer_id: c.id, occurred_at: new Date(t).toISOString(), kind };
    if (extra.score !== undefined) body.score = extra.score;
    if (extra.scale !== undefined) body.scale = extra.scale;
    if (extra.resolves_feedback_id !== undefined) body.resolves_feedback_id = extra.resolves_feedback_id;
    if (extra.campaign_id !== undefined) body.campaign_id = extra.campaign_id;
    if (d.branch !== undefined) body.branch_id = d.branch;
    if (d.ch >= 0) body.channel = item(CHANNELS, d.ch);
    if (extra.text !== undefined) body.text = extra.text;
    return { kind: 'feedback', body };
  }
}
