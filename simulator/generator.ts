/**
 * Day-by-day event generation. Each (customer, day) and each scheduled payment draws from its own
 * seeded stream into a compact, reused day buffer (numbers and references to long-lived strings);
 * the day is sorted by event time and its events are materialized, numbered and yielded one by one.
 * Only drafts that spill into later days (reversals, retried payments) are carried over, so memory
 * holds one day of compact drafts, and event objects die young.
 */
import { CHANNELS, type Channel, type RedemptionV1, type TransactionV1 } from '../contracts/events.js';
import {
  AMOUNT, ATM_MCC, BRANCHES, MCC_AMOUNT, MERCHANTS_PER_CATEGORY, ONLINE_MERCHANTS, POS_MCCS, RANDOM_CHANNELS, TIME_OF_DAY,
  TRANSFER_MCC, WEEKEND_FACTOR, currencyScale, weekendDays, type RandomChannel,
} from './catalog.js';
import { INCIDENT_DECLINE } from './churn.js';
import { Experience, type FeedbackEvent } from './feedback.js';
import { branchId, DAY, posMerchant, type Customer, type Merchant } from './population.js';
import { hashInts, mix32, Rng } from './rng.js';
import { InvariantError, item, f64, i32, num, u8 } from '../scorer/core/mod.js';

/** One simulated event, tagged with the API endpoint it belongs to (`/v1/transactions`, `/v1/redemptions`, `/v1/feedback`). */
export type SimEvent = { kind: 'transaction'; body: TransactionV1 } | { kind: 'redemption'; body: RedemptionV1 } | FeedbackEvent;

/**
 * One pass over a bank's events: iterable once, in event-time order, and able to say how satisfied a
 * customer is as the pass has reached (what a survey answer would draw its score from).
 */
export type EventStream = Generator<SimEvent, void, undefined> & {
  /**
   * Satisfaction (0–1) of `customerId` at `atMs` (default: the time of the latest event taken), from the
   * experience of the events taken so far; undefined for an id the bank does not have.
   */
  satisfaction(customerId: string, atMs?: number): number | undefined;
};

export interface GeneratorConfig {
  seed: number;
  start: number;
  days: number;
  currency: string;
  utcOffsetMinutes: number;
  activity: number;
  idPrefix: string;
  /** Multiplier of feedback volume (0: no feedback events). */
  feedback: number;
  /** Feedback ids are `F<feedbackIdPrefix>-<n>`. */
  feedbackIdPrefix: string;
}

interface DayCtx {
  d: number;
  t0: number;
  t1: number;
  mid: number;
  localDay: number;
  weekend: boolean;
  monthStarts: [number, number, number];
  winter: boolean;
  season: { pos: number; atm: number; office: number; online: number; amount: number };
}

/** Links a reversal to its original: the original writes its id here when it is numbered. */
interface IdBox {
  id: string;
}

/** A draft carried into a later day. */
interface Spill {
  t: number;
  c: number;
  s: number;
  kind: number;
  ch: number;
  amt: number;
  st: number;
  mcc: string | undefined;
  merchant: string | undefined;
  terminal: string | undefined;
  branch: string | undefined;
  biller: string | undefined;
  due: number;
  rev: number;
  box: IdBox | undefined;
}

const KIND_TX = 0;
const KIND_REDEMPTION = 1;
const HOUR = 3_600_000;
const REVERSAL_RATE = 0.005;
const REDEMPTION_RATE = 0.0015;
/** Once drift begins the customer moves part of their spending to another bank at once: this share stays. */
const DRIFT_WALLET = 0.6;
/** A drifting customer's purchases narrow to their first merchants once the drift factor is below this. */
const NARROW_FROM = 0.8;
/** A drifting customer's direct debits and installments stop one by one from this drift factor down. */
const STOP_FROM = 0.7;
const MCC_WEIGHTS = POS_MCCS.map((m) => m.weight);
const NCH = RANDOM_CHANNELS.length;
const CH_POS = RANDOM_CHANNELS.indexOf('pos');
const CH_ATM = RANDOM_CHANNELS.indexOf('atm');
const CH_ONLINE = RANDOM_CHANNELS.indexOf('online');
const OFFICE = RANDOM_CHANNELS.map((ch) => ch === 'transfer' || ch === 'deposit');
const WEEKEND = RANDOM_CHANNELS.map((ch) => WEEKEND_FACTOR[ch]);
const CODE = Object.fromEntries(CHANNELS.map((ch, i) => [ch, i])) as Record<Channel, number>;
const RANDOM_CODE = RANDOM_CHANNELS.map((ch) => CODE[ch]);
const BRANCH_IDS = Array.from({ length: BRANCHES }, (_, b) => branchId(b));
const IPG_TERMINALS = ONLINE_MERCHANTS.map((m) => `IPG-${m.id.slice(2)}`);
const P2 = Array.from({ length: 60 }, (_, i) => String(i).padStart(2, '0'));
const P3 = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));

/** RFC 3339 UTC with milliseconds, exactly as `Date.prototype.toISOString` writes it, with the date part cached. */
class IsoClock {
  private days = [NaN, NaN];
  private prefixes = ['', ''];
  private slot = 0;

  format(t: number): string {
    const day = Math.floor(t / DAY);
    let k = this.days[0] === day ? 0 : this.days[1] === day ? 1 : -1;
    if (k < 0) {
      k = this.slot;
      this.slot ^= 1;
      this.days[k] = day;
      this.prefixes[k] = new Date(day * DAY).toISOString().slice(0, 11);
    }
    let r = t - day * DAY;
    const h = Math.floor(r / HOUR);
    r -= h * HOUR;
    const m = Math.floor(r / 60_000);
    r -= m * 60_000;
    const s = Math.floor(r / 1000);
    return `${this.prefixes[k]}${P2[h]}:${P2[m]}:${P2[s]}.${P3[r - s * 1000]}Z`;
  }
}

/** One day of drafts as parallel arrays, reused from day to day. */
class DayBuffer {
  n = 0;
  t = new Float64Array(1024);
  c = new Int32Array(1024);
  s = new Int32Array(1024);
  kind = new Uint8Array(1024);
  ch = new Uint8Array(1024);
  amt = new Float64Array(1024);
  st = new Uint8Array(1024);
  due = new Int32Array(1024);
  rev = new Uint8Array(1024);
  mcc: (string | undefined)[] = [];
  merchant: (string | undefined)[] = [];
  terminal: (string | undefined)[] = [];
  branch: (string | undefined)[] = [];
  biller: (string | undefined)[] = [];
  box: (IdBox | undefined)[] = [];
  order = new Uint32Array(1024);

  /** Starts a draft and returns its index; every optional field is reset. */
  add(t: number, c: number, s: number, kind: number, ch: number, amt: number, st: number): number {
    const i = this.n++;
    if (i === this.t.length) this.grow();
    this.t[i] = t;
    this.c[i] = c;
    this.s[i] = s;
    this.kind[i] = kind;
    this.ch[i] = ch;
    this.amt[i] = amt;
    this.st[i] = st;
    this.due[i] = -1;
    this.rev[i] = 0;
    this.mcc[i] = undefined;
    this.merchant[i] = undefined;
    this.terminal[i] = undefined;
    this.branch[i] = undefined;
    this.biller[i] = undefined;
    this.box[i] = undefined;
    return i;
  }

  addSpill(d: Spill): void {
    const i = this.add(d.t, d.c, d.s, d.kind, d.ch, d.amt, d.st);
    this.mcc[i] = d.mcc;
    this.merchant[i] = d.merchant;
    this.terminal[i] = d.terminal;
    this.branch[i] = d.branch;
    this.biller[i] = d.biller;
    this.due[i] = d.due;
    this.rev[i] = d.rev;
    this.box[i] = d.box;
  }

  spill(i: number): Spill {
    return {
      t: f64(this.t, i), c: i32(this.c, i), s: i32(this.s, i), kind: u8(this.kind, i), ch: u8(this.ch, i), amt: f64(this.amt, i), st: u8(this.st, i),
      mcc: this.mcc[i], merchant: this.merchant[i], terminal: this.terminal[i], branch: this.branch[i], biller: this.biller[i],
      due: i32(this.due, i), rev: u8(this.rev, i), box: this.box[i],
    };
  }

  /** Indices in event-time order (ties: customer, then draw order). */
  sorted(): Uint32Array {
    const o = this.order.subarray(0, this.n);
    for (let i = 0; i < this.n; i++) o[i] = i;
    const { t, c, s } = this;
    o.sort((a, b) => f64(t, a) - f64(t, b) || i32(c, a) - i32(c, b) || i32(s, a) - i32(s, b));
    return o;
  }

  private grow(): void {
    const size = this.t.length * 2;
    const g = <T extends Float64Array | Int32Array | Uint8Array | Uint32Array>(a: T, make: new (n: number) => T): T => {
      const b = new make(size);
      b.set(a);
      return b;
    };
    this.t = g(this.t, Float64Array);
    this.c = g(this.c, Int32Array);
    this.s = g(this.s, Int32Array);
    this.kind = g(this.kind, Uint8Array);
    this.ch = g(this.ch, Uint8Array);
    this.amt = g(this.amt, Float64Array);
    this.st = g(this.st, Uint8Array);
    this.due = g(this.due, Int32Array);
    this.rev = g(this.rev, Uint8Array);
    this.order = new Uint32Array(size);
  }
}

function hash3(a: number, b: number, c: number): number {
  return mix32(mix32(mix32(0x9e3779b9, a), b), c);
}

function hash4(a: number, b: number, c: number, d: number): number {
  return mix32(hash3(a, b, c), d >>> 0);
}

export class BankGenerator {
  private readonly end: number;
  private readonly minorPerRef: number;
  private readonly round: number;
  private readonly atmUnit: number;
  private readonly weekend: readonly number[];
  private readonly offsetMs: number;
  private readonly localHourAtDayStart: number;
  private readonly firstLocalDay: number;
  private readonly streamSeed: number;
  private readonly lambda = new Float64Array(NCH);
  private readonly clock = new IsoClock();
  private readonly rng = new Rng(0);
  private readonly buf = new DayBuffer();
  private readonly dueDates = new Map<number, string>();
  // The customer-day being generated (fields instead of closures: this is the hot path).
  private cust!: Customer;
  private seq = 0;

  constructor(private readonly cfg: GeneratorConfig, private readonly customers: readonly Customer[]) {
    this.end = cfg.start + cfg.days * DAY;
    const scale = currencyScale(cfg.currency);
    this.minorPerRef = scale.minorPerRef;
    this.round = scale.round;
    this.atmUnit = this.minor(5);
    this.weekend = weekendDays(cfg.currency);
    this.offsetMs = cfg.utcOffsetMinutes * 60_000;
    this.localHourAtDayStart = ((((cfg.start + this.offsetMs) % DAY) + DAY) % DAY) / HOUR;
    this.firstLocalDay = Math.floor((cfg.start + DAY / 2 + this.offsetMs) / DAY);
    this.streamSeed = hashInts(cfg.seed, 0x657673);
  }

  /** A fresh pass over the span's events (see {@link EventStream}). */
  events(): EventStream {
    const xp = new Experience({
      seed: this.cfg.seed, start: this.cfg.start, end: this.end, feedback: this.cfg.feedback, idPrefix: this.cfg.feedbackIdPrefix,
      utcOffsetMinutes: this.cfg.utcOffsetMinutes,
    }, this.customers);
    return Object.assign(this.generate(xp), { satisfaction: (id: string, at?: number) => xp.satisfaction(id, at) });
  }

  private *generate(xp: Experience): Generator<SimEvent, void, undefined> {
    const schedule = this.schedule();
    const buf = this.buf;
    const { idPrefix } = this.cfg;
    let pending: Spill[] = [];
    let n = 0;
    for (let d = 0; d < this.cfg.days; d++) {
      const ctx = this.dayContext(d);
      pending = this.fillDay(d, ctx, schedule, pending);
      xp.startDay(d, ctx.t0, ctx.t1, ctx.localDay);
      const order = buf.sorted();
      for (const i of order) {
        const t = f64(buf.t, i);
        if (t >= this.end) continue;
        if (t >= ctx.t1) {
          pending.push(buf.spill(i));
          continue;
        }
        while (xp.nextAt() <= t) {
          const f = xp.pop();
          if (f) yield f;
        }
        const cust = item(this.customers, i32(buf.c, i));
        const customerId = cust.id;
        const occurredAt = this.clock.format(t);
        if (buf.kind[i] === KIND_REDEMPTION) {
          yield { kind: 'redemption', body: { redemption_id: `R${idPrefix}-${n++}`, customer_id: customerId, points: f64(buf.amt, i), occurred_at: occurredAt } };
          xp.onRedemption(cust, t);
          continue;
        }
        const key = n;
        const body = this.transactionAt(i, `T${idPrefix}-${n++}`, customerId, occurredAt);
        const branch = buf.branch[i];
        yield { kind: 'transaction', body };
        // After the yield: whoever holds this event sees the satisfaction from the events before it.
        xp.onTransaction(cust, key, t, u8(buf.ch, i), buf.st[i] === 1, branch);
      }
      const dayEnd = Math.min(ctx.t1, this.end);
      while (xp.nextAt() < dayEnd) {
        const f = xp.pop();
        if (f) yield f;
      }
    }
  }

  /**
   * Fills the buffer with day `d`'s events: the spills of earlier days that fall in it, each open
   * customer's day and the scheduled payments due. Returns the spills that fall later still.
   */
  private fillDay(d: number, ctx: DayCtx, schedule: (number[] | undefined)[], pending: Spill[]): Spill[] {
    const buf = this.buf;
    buf.n = 0;
    const later: Spill[] = [];
    for (const sp of pending) if (sp.t < ctx.t1) buf.addSpill(sp);
    else later.push(sp);
    for (const c of this.customers) {
      if (c.openedAt >= ctx.t1) break;
      this.customerDay(c, ctx);
    }
    const due = schedule[d];
    if (due) {
      for (let k = 0; k < due.length; k += 3) this.payment(item(this.customers, num(due, k)), num(due, k + 1), num(due, k + 2), ctx);
      schedule[d] = undefined;
    }
    return later;
  }

  /** The transaction of buffer row `i`; a purchase remembers its id in its box for the reversal that may follow. */
  private transactionAt(i: number, txId: string, customerId: string, occurredAt: string): TransactionV1 {
    const buf = this.buf;
    const body: TransactionV1 = {
      tx_id: txId,
      customer_id: customerId,
      channel: item(CHANNELS, u8(buf.ch, i)),
      amount_minor: f64(buf.amt, i),
      currency: this.cfg.currency,
      occurred_at: occurredAt,
      status: buf.st[i] ? 'declined' : 'approved',
    };
    const box = buf.box[i];
    if (buf.rev[i]) {
      if (!box) throw new InvariantError(`simulator: reversal ${body.tx_id} has no box for the id of the transaction it reverses`);
      body.reverses_tx_id = box.id;
    } else if (box) box.id = body.tx_id;
    const mcc = buf.mcc[i];
    if (mcc !== undefined) body.mcc = mcc;
    const merchant = buf.merchant[i];
    if (merchant !== undefined) body.merchant_id = merchant;
    const terminal = buf.terminal[i];
    if (terminal !== undefined) body.terminal_id = terminal;
    const branch = buf.branch[i];
    if (branch !== undefined) body.branch_id = branch;
    const biller = buf.biller[i];
    if (biller !== undefined) body.biller_id = biller;
    const dueDay = i32(buf.due, i);
    if (dueDay >= 0) body.due_date = this.dueDate(dueDay);
    return body;
  }

  private dueDate(day: number): string {
    let s = this.dueDates.get(day);
    if (s === undefined) {
      s = new Date(day * DAY).toISOString().slice(0, 10);
      if (this.dueDates.size > 4096) this.dueDates.clear();
      this.dueDates.set(day, s);
    }
    return s;
  }

  /** Scheduled payments (bills, installments, salaries) bucketed by the day they are paid: `[customer, obligation, due day]` triples. */
  private schedule(): (number[] | undefined)[] {
    const buckets: (number[] | undefined)[] = new Array(this.cfg.days);
    const lastLocalDay = this.firstLocalDay + this.cfg.days - 1;
    const first = new Date((this.firstLocalDay - 31) * DAY);
    const r = new Rng(0);
    for (const c of this.customers) {
      for (const [oi, o] of c.obligations.entries()) {
        for (let m = 0; ; m++) {
          const due = Date.UTC(first.getUTCFullYear(), first.getUTCMonth() + m, o.dueDay) / DAY;
          if (due > lastLocalDay + 25) break;
          const dueMs = due * DAY;
          if (dueMs < o.from || dueMs >= o.until) continue;
          r.reseed(hash4(this.streamSeed, c.index, oi, due));
          if (r.next() >= o.coverage) continue;
          const offset = o.kind === 'salary' ? 0 : Math.max(-20, Math.min(25, Math.round(c.punctuality + 2 * r.normal())));
          const d = due + offset - this.firstLocalDay;
          if (d < 0 || d >= this.cfg.days) continue;
          (buckets[d] ??= []).push(c.index, oi, due);
        }
      }
    }
    return buckets;
  }

  private dayContext(d: number): DayCtx {
    const t0 = this.cfg.start + d * DAY;
    const localDay = this.firstLocalDay + d;
    const date = new Date(localDay * DAY);
    const y = date.getUTCFullYear();
    const m = date.getUTCMonth();
    const dom = date.getUTCDate();
    const season = { pos: 1, atm: 1, office: 1, online: 1, amount: 1 };
    if (this.cfg.currency === 'IRR') {
      if (m === 2 && dom >= 8 && dom <= 19) Object.assign(season, { pos: 1.35, amount: 1.25 });
      if ((m === 2 && dom >= 20) || (m === 3 && dom <= 3)) Object.assign(season, { pos: 0.8, atm: 0.8, office: 0.6, online: 0.9 });
    }
    return {
      d,
      t0,
      t1: t0 + DAY,
      mid: t0 + DAY / 2,
      localDay,
      weekend: this.weekend.includes((((localDay + 4) % 7) + 7) % 7),
      monthStarts: [Date.UTC(y, m - 1, 1) / DAY, Date.UTC(y, m, 1) / DAY, Date.UTC(y, m + 1, 1) / DAY],
      winter: m === 11 || m === 0 || m === 1,
      season,
    };
  }

  /** Drift factor: 1 normally, falling to 0 over the drift before churn (`churn.ts`); -1 when the customer is gone that day. */
  private fade(c: Customer, ctx: DayCtx): number {
    if (c.churnAt === undefined) return 1;
    if (ctx.t0 >= c.churnAt) return c.reactivatedAt !== undefined && ctx.t1 > c.reactivatedAt ? 1 : -1;
    const driftAt = c.churn.driftAt ?? c.churnAt;
    if (ctx.mid <= driftAt) return 1;
    return Math.min(1, Math.max(0, (c.churnAt - ctx.mid) / (c.churnAt - driftAt)));
  }

  /** Extra decline rate on this day from a run of failed payments (a bad experience, `churn.ts`). */
  private incident(c: Customer, mid: number): number {
    for (const x of c.incidents) if (mid >= x.from && mid < x.until) return INCIDENT_DECLINE;
    return 0;
  }

  private active(c: Customer, t: number): boolean {
    if (t < c.openedAt || t >= this.end) return false;
    if (c.churnAt === undefined || t < c.churnAt) return true;
    return c.reactivatedAt !== undefined && t >= c.reactivatedAt;
  }

  private minor(ref: number, unit = this.round): number {
    return Math.max(unit, Math.round((ref * this.minorPerRef) / unit) * unit);
  }

  private timeOf(rng: Rng, key: Channel | 'salary', t0: number, shift: number): number {
    const mix = TIME_OF_DAY[key];
    let comp = item(mix, 0);
    if (mix.length > 1) {
      let u = rng.next();
      for (const m of mix) {
        u -= m[2];
        comp = m;
        if (u < 0) break;
      }
    }
    const h = comp[0] + comp[1] * rng.normal() + shift;
    return t0 + Math.floor(((((h - this.localHourAtDayStart) % 24) + 24) % 24) * HOUR);
  }

  /** Adds a transaction draft for the current customer; -1 when the customer is not active at `t`. */
  private tx(t: number, ch: number, amount: number, declined: boolean): number {
    if (!this.active(this.cust, t)) return -1;
    return this.buf.add(t, this.cust.index, this.seq++, KIND_TX, ch, amount, declined ? 1 : 0);
  }

  private customerDay(c: Customer, ctx: DayCtx): void {
    const f = this.fade(c, ctx);
    if (f < 0) return;
    const back = c.reactivatedAt !== undefined && ctx.t1 > c.reactivatedAt;
    const { t0, t1, mid } = ctx;
    const buf = this.buf;
    this.cust = c;
    this.seq = 0;
    const rng = this.rng.reseed(hash3(this.streamSeed, c.index, ctx.d));

    // Drift before churn: fewer events, smaller amounts, more declines, cash taken out, sticky products
    // dropped, purchases at fewer kinds of merchant.
    const sinceOpen = (mid - c.openedAt) / DAY;
    let level = this.cfg.activity * (0.5 + 0.5 * Math.min(1, Math.max(0, sinceOpen) / 30));
    if (back) level *= 0.6;
    for (const q of c.quiet) if (mid >= q.from && mid < q.until) level *= q.factor;
    const spend = (0.5 + 0.5 * f) * ctx.season.amount;
    const decline = c.declineRate + 0.12 * (1 - f) + this.incident(c, mid);
    const nonCash = (f < 1 ? DRIFT_WALLET : 1) * (0.1 + 0.9 * f ** 1.3);

    if (c.openedAt >= t0 && c.openedAt < t1) {
      const i = this.tx(c.openedAt + Math.floor(rng.range(3, 40) * 60_000), CODE.deposit, this.minor(AMOUNT.deposit.median * c.amountFactor * rng.factor(0.6)), false);
      if (i >= 0) buf.branch[i] = c.branch;
    }
    if (back && c.reactivatedAt !== undefined && c.reactivatedAt >= t0) {
      const i = this.tx(c.reactivatedAt + Math.floor(rng.range(1, 30) * 60_000), CODE.deposit, this.minor(AMOUNT.deposit.median * c.amountFactor * rng.factor(0.6)), false);
      if (i >= 0) buf.branch[i] = c.branch;
    }
    if (c.churnAt !== undefined && c.churnAt >= t0 && c.churnAt < t1 && rng.chance(0.5)) {
      const t = Math.max(t0, c.churnAt - Math.floor(rng.range(0.5, 6) * HOUR));
      const i = this.tx(t, CODE.transfer, this.minor(AMOUNT.salary.median * c.amountFactor * rng.factor(0.8)), false);
      if (i >= 0) buf.mcc[i] = TRANSFER_MCC;
    }

    const lam = this.lambda;
    const season = ctx.season;
    let total = 0;
    for (let i = 0; i < NCH; i++) {
      let l = (c.rates[i] as number) * level;
      if (ctx.weekend) l *= num(WEEKEND, i);
      if (i === CH_ATM) l *= season.atm * (1 + 1.2 * (1 - f));
      else l *= nonCash;
      if (i === CH_POS) {
        l *= season.pos;
        if (c.payDay !== undefined && this.daysSincePayday(c.payDay, ctx) <= 5) l *= 1.25;
      } else if (i === CH_ONLINE) l *= season.online;
      else if (OFFICE[i]) l *= season.office;
      lam[i] = l;
      total += l;
    }
    const n = rng.poisson(total);
    for (let k = 0; k < n; k++) {
      let u = rng.next() * total;
      let i = 0;
      while (i < NCH - 1 && (u -= f64(lam, i)) >= 0) i++;
      this.randomEvent(c, item(RANDOM_CHANNELS, i), num(RANDOM_CODE, i), rng, t0, f, spend, decline);
    }

    if (f === 1 && !back && sinceOpen >= 60 && rng.chance(REDEMPTION_RATE * (c.has.online ? 2 : 1) * this.cfg.activity)) {
      const t = this.timeOf(rng, 'online', t0, c.hourShift);
      const points = Math.max(100, Math.round(rng.lognormal(Math.log(1500), 0.7) / 100) * 100);
      if (this.active(c, t)) buf.add(t, c.index, this.seq++, KIND_REDEMPTION, 0, points, 0);
    }
  }

  private randomEvent(c: Customer, ch: RandomChannel, code: number, rng: Rng, t0: number, f: number, spend: number, decline: number): void {
    const buf = this.buf;
    const t = this.timeOf(rng, ch, t0, c.hourShift);
    const declined = rng.chance(ch === 'atm' ? decline * 1.5 : decline) && ch !== 'deposit';
    let i: number;
    switch (ch) {
      case 'pos': {
        const m: Merchant = f < NARROW_FROM
          ? item(c.posMerchants, rng.weighted(c.posWeights.slice(0, Math.max(1, Math.ceil(c.posWeights.length * f / NARROW_FROM)))))
          : rng.chance(0.85)
          ? item(c.posMerchants, rng.weighted(c.posWeights))
          : posMerchant(rng.chance(0.6) ? c.branchIndex : rng.int(BRANCHES), rng.weighted(MCC_WEIGHTS), rng.int(MERCHANTS_PER_CATEGORY));
        const amount = this.minor(AMOUNT.pos.median * c.amountFactor * (MCC_AMOUNT[m.mcc] ?? 1) * rng.factor(AMOUNT.pos.sigma) * spend);
        const terminal = rng.pick(m.terminals);
        i = this.tx(t, code, amount, declined);
        if (i < 0) return;
        buf.mcc[i] = m.mcc;
        buf.merchant[i] = m.merchant;
        buf.terminal[i] = terminal;
        break;
      }
      case 'atm': {
        const a = c.atms.length > 1 && rng.chance(0.25) ? item(c.atms, 1) : item(c.atms, 0);
        i = this.tx(t, code, this.minor(AMOUNT.atm.median * Math.sqrt(c.amountFactor) * rng.factor(AMOUNT.atm.sigma) * (2 - f), this.atmUnit), declined);
        if (i < 0) return;
        buf.mcc[i] = ATM_MCC;
        buf.terminal[i] = a.terminal;
        buf.branch[i] = a.branch;
        break;
      }
      case 'online': {
        const oi = rng.chance(0.85) ? rng.pick(c.online) : rng.int(ONLINE_MERCHANTS.length);
        const om = item(ONLINE_MERCHANTS, oi);
        i = this.tx(t, code, this.minor(AMOUNT.online.median * c.amountFactor * om.amount * rng.factor(AMOUNT.online.sigma) * spend), declined);
        if (i < 0) return;
        buf.mcc[i] = om.mcc;
        buf.merchant[i] = om.id;
        buf.terminal[i] = IPG_TERMINALS[oi];
        break;
      }
      case 'fuel': {
        const st = rng.pick(c.fuel);
        const amount = this.minor(AMOUNT.fuel.median * c.amountFactor ** 0.3 * rng.factor(AMOUNT.fuel.sigma) * spend);
        const terminal = rng.pick(st.terminals);
        i = this.tx(t, code, amount, declined);
        if (i < 0) return;
        buf.mcc[i] = st.mcc;
        buf.merchant[i] = st.merchant;
        buf.terminal[i] = terminal;
        break;
      }
      case 'transfer': {
        i = this.tx(t, code, this.minor(AMOUNT.transfer.median * c.amountFactor * rng.factor(AMOUNT.transfer.sigma) * spend), declined);
        if (i < 0) return;
        buf.mcc[i] = TRANSFER_MCC;
        break;
      }
      case 'deposit': {
        const amount = this.minor(AMOUNT.deposit.median * c.amountFactor * rng.factor(AMOUNT.deposit.sigma) * spend);
        const branch = rng.chance(0.9) ? c.branch : BRANCH_IDS[rng.int(BRANCHES)];
        i = this.tx(t, code, amount, false);
        if (i < 0) return;
        buf.branch[i] = branch;
        break;
      }
    }
    if (!declined && (ch === 'pos' || ch === 'online') && rng.chance(REVERSAL_RATE)) {
      const tr = t + Math.floor(rng.chance(0.8) ? rng.range(1, 360) * 60_000 : rng.range(6, 72) * HOUR);
      const j = this.tx(tr, code, f64(buf.amt, i), false);
      if (j < 0) return;
      const box: IdBox = { id: '' };
      buf.box[i] = box;
      buf.box[j] = box;
      buf.rev[j] = 1;
      buf.mcc[j] = buf.mcc[i];
      buf.merchant[j] = buf.merchant[i];
      buf.terminal[j] = buf.terminal[i];
    }
  }

  private daysSincePayday(payDay: number, ctx: DayCtx): number {
    const [prev, curr] = ctx.monthStarts;
    const thisMonth = curr + payDay - 1;
    return ctx.localDay >= thisMonth ? ctx.localDay - thisMonth : ctx.localDay - (prev + payDay - 1);
  }

  /** A scheduled payment falling on this day; customers who are fading drop salary first, then bills and installments. */
  private payment(c: Customer, oi: number, due: number, ctx: DayCtx): void {
    const f = this.fade(c, ctx);
    const o = c.obligations[oi];
    if (f < 0 || !o) return;
    const back = c.reactivatedAt !== undefined && ctx.t1 > c.reactivatedAt;
    if (o.kind === 'salary' ? f < 0.9 || back : f < STOP_FROM - 0.1 * (oi % 3)) return;
    const buf = this.buf;
    this.cust = c;
    this.seq = 1_000_000 + oi * 10;
    const r = this.rng.reseed(hash4(this.streamSeed, c.index, oi, due));
    r.next();
    if (o.kind !== 'salary') r.normal();
    const t = this.timeOf(r, o.kind === 'salary' ? 'salary' : o.kind === 'loan' ? 'installment' : 'bill_pay', ctx.t0, o.kind === 'salary' ? 0 : c.hourShift);
    if (o.kind === 'salary') {
      const i = this.tx(t, CODE.deposit, this.minor(o.amount * r.factor(0.05)), false);
      if (i >= 0) buf.merchant[i] = o.id;
      return;
    }
    const amount = o.kind === 'loan' ? this.minor(o.amount) : this.minor(o.amount * (ctx.winter ? o.winter : 1) * r.factor(0.2));
    const code = o.kind === 'loan' ? CODE.installment : CODE.bill_pay;
    const declined = r.chance(c.declineRate + 0.12 * (1 - f));
    const retryAt = t + Math.floor(r.range(20, 30) * HOUR);
    for (const [at, dec] of declined ? [[t, true], [retryAt, false]] as const : [[t, false]] as const) {
      const i = this.tx(at, code, amount, dec);
      if (i < 0) continue;
      if (o.mcc) buf.mcc[i] = o.mcc;
      if (o.atBranch) buf.branch[i] = c.branch;
      buf.biller[i] = o.id;
      buf.due[i] = due;
    }
  }
}
