/**
 * Feeds a running vafa over its HTTP API: profiles first, then the event stream at a target rate.
 *
 * Events are spread over `concurrency` lanes by customer (FNV-1a of the id), each lane sending its
 * batches one after another, so several requests are in flight while every customer's events keep
 * their order (a reversal never overtakes its original). A 503 or 429 is retried with the same batch
 * after `Retry-After` (the API is idempotent on ids: items stored by an earlier attempt come back as
 * duplicates and are still counted as accepted).
 *
 * With `respond`, the feeder also closes the loop with vafa: it reads the offer triggers vafa publishes,
 * and the customers answer its surveys (see `responder.ts`); the answers join the feed in event time.
 */
import { fnv1a32 } from '../contracts/subjects.js';
import type { CustomerProfileV1 } from '../contracts/events.js';
import type { EventStream, SimEvent } from './generator.js';
import { readOfferTriggers, SurveyAnswerQueue, type SurveyAnswerStats } from './responder.js';

export type { SurveyAnswerStats } from './responder.js';

/** Per-item outcomes of a set of requests. */
export interface BatchCounts {
  /** Items posted (each counted once, however many times it was retried). */
  sent: number;
  accepted: number;
  duplicates: number;
  invalid: number;
  failed: number;
}

export interface FeederProgress extends BatchCounts {
  phase: 'profiles' | 'events' | 'done';
  /** Wall-clock seconds of the current phase. */
  seconds: number;
  eventsPerSecond: number;
  /** Event time of the latest event taken from the bank. */
  eventTime?: string;
  /** Feedback items taken (the bank's feedback and survey answers); included in `sent`. */
  feedback?: number;
  /** Survey answers given (with `respond`); included in `feedback`. */
  answers?: number;
}

export interface FeederSummary extends BatchCounts {
  /** Wall-clock seconds of the event phase. */
  seconds: number;
  /** `sent / seconds`. */
  eventsPerSecond: number;
  profiles: BatchCounts & { seconds: number };
  /** Why the event phase ended. */
  stoppedBy: 'exhausted' | 'duration' | 'maxEvents' | 'aborted';
  /** Event time of the last event sent. */
  lastEventTime?: string;
  /** Up to 10 examples of what went wrong (invalid items, failed requests). */
  problems: string[];
  /** Feedback items sent (the bank's feedback and survey answers); included in `sent`. */
  feedback: number;
  /** With `respond`: what became of vafa's offer triggers. */
  surveys?: SurveyAnswerStats;
}

/** Survey answering: see {@link FeederOptions.respond}. */
export interface RespondOptions {
  /** NATS server URL(s) of the vafa deployment, comma-separated, e.g. `nats://127.0.0.1:4222`. */
  natsUrl: string;
  /** Seed of the answer decisions; default the bank's seed (`bank.options.seed`), else 0. */
  seed?: number;
}

export interface FeederOptions {
  /** Base URL of the vafa HTTP API, e.g. `http://127.0.0.1:8080`. */
  target: string;
  /**
   * The events and profiles to send: a bank from `createBank`, or anything shaped like one. Survey
   * answers draw their scores from the pass's `satisfaction` when `events()` returns an {@link EventStream}.
   */
  bank: { profiles(): CustomerProfileV1[]; events(): Iterable<SimEvent>; options?: { seed: number } };
  /** Events per second (wall clock); 0 or Infinity sends as fast as the API accepts. */
  rate: number;
  /** Stop taking new events after this many seconds of the event phase. */
  durationS?: number;
  /** Stop after this many events. */
  maxEvents?: number;
  /** Items per request, 1..1000; default 200. */
  batchSize?: number;
  /** Requests in flight (lanes); default 4. */
  concurrency?: number;
  /** Sent as `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Aborting stops promptly: no new requests, in-flight ones finish and are counted. */
  signal?: AbortSignal;
  /** Called about 5 times a second and once at the end of each phase. */
  onProgress?: (p: FeederProgress) => void;
  /** Post the bank's profiles first; default true. */
  sendProfiles?: boolean;
  /** Per-request timeout; default 30 s. */
  requestTimeoutMs?: number;
  /** Attempts per batch on 503/429/network errors before its unsettled items count as failed; default 30. */
  maxAttempts?: number;
  /**
   * Answer vafa's surveys (closed loop); default off. The feeder reads the offer triggers published on
   * stream `OFFERS` from the moment it starts; for each survey it decides from the seed and the offer id
   * whether and when the customer answers (by channel: see `SURVEY_RESPONSE_RATE`, `SURVEY_DELAY`), and
   * posts the answer to `/v1/feedback` when the feed reaches its time, with `offer_id`, `campaign_id`,
   * `scale`, `branch_id` and a score from the customer's satisfaction then. Answers still ahead of the feed
   * when it stops are dropped (`surveys.pending`). Marketing offers are read but not answered.
   */
  respond?: RespondOptions;
  /**
   * The events carry wall-clock stamps rather than the bank's own times (a live stream, simulator/live.ts):
   * survey answers are then timed in the bank's time (triggers mapped through it) and stamped like the
   * events. Default: the events' times are the bank's.
   */
  timeline?: Timeline;
}

/** See {@link FeederOptions.timeline}. */
export interface Timeline {
  /** The bank's time (epoch ms) at a stamp the events carry. */
  toSimulated(stampedMs: number): number;
  /** The stamp of an event sent now (epoch ms; never before the events already stamped). */
  stamp(): number;
}

/** A condition the feeder cannot work around (wrong key, wrong URL). */
export class FeederError extends Error {
  override readonly name = 'FeederError';
}

type Status = 'accepted' | 'duplicate' | 'invalid' | 'failed';
interface Batch {
  path: string;
  items: unknown[];
}

const PATHS: Record<SimEvent['kind'], string> = { transaction: '/v1/transactions', redemption: '/v1/redemptions', feedback: '/v1/feedback' };
const PROFILE_BATCH = 1000;
const FLUSH_MS = 250;

const zero = (): BatchCounts => ({ sent: 0, accepted: 0, duplicates: 0, invalid: 0, failed: 0 });

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

function retryAfterMs(value: string | null, fallback: number): number {
  if (!value) return fallback;
  const s = Number(value);
  if (Number.isFinite(s)) return Math.min(60_000, Math.max(0, s * 1000));
  const at = Date.parse(value);
  return Number.isNaN(at) ? fallback : Math.min(60_000, Math.max(0, at - Date.now()));
}

class Lane {
  buf: SimEvent[] = [];
  bufSince = 0;
  private readonly q: Batch[] = [];
  private wake: (() => void) | undefined;
  private space: (() => void) | undefined;
  private closed = false;

  async put(b: Batch): Promise<void> {
    while (this.q.length >= 2) await new Promise<void>((r) => (this.space = r));
    this.q.push(b);
    this.signal('wake');
  }

  close(): void {
    this.closed = true;
    this.signal('wake');
  }

  async run(send: (b: Batch) => Promise<void>, stopped: () => boolean): Promise<void> {
    for (;;) {
      const b = this.q.shift();
      this.signal('space');
      if (b && !stopped()) {
        await send(b);
        continue;
      }
      if (this.closed || stopped()) {
        this.q.length = 0;
        this.signal('space');
        return;
      }
      await new Promise<void>((r) => (this.wake = r));
    }
  }

  private signal(which: 'wake' | 'space'): void {
    const f = which === 'wake' ? this.wake : this.space;
    if (which === 'wake') this.wake = undefined;
    else this.space = undefined;
    f?.();
  }
}

/**
 * Posts the bank's profiles to `/v1/customers`, then streams its events to `/v1/transactions`,
 * `/v1/redemptions` and `/v1/feedback` at `rate` events per second (token bucket), and returns
 * per-item totals.
 * Event time runs ahead of the wall clock: a simulated year compresses into the run.
 */
export async function runFeeder(o: FeederOptions): Promise<FeederSummary> {
  const batchSize = o.batchSize ?? 200;
  const concurrency = o.concurrency ?? 4;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 1000) throw new RangeError('batchSize must be an integer in 1..1000');
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) throw new RangeError('concurrency must be an integer in 1..64');
  if (!(o.rate >= 0)) throw new RangeError('rate must be ≥ 0 (0 or Infinity: unthrottled)');
  if (!o.respond) return await feed(o, batchSize, concurrency, undefined);
  // Triggers are read from before the profiles on: a profile can trigger a survey too.
  const answers = new SurveyAnswerQueue(o.respond.seed ?? o.bank.options?.seed ?? 0);
  let stop: () => Promise<void>;
  try {
    const timeline = o.timeline;
    stop = await readOfferTriggers(o.respond.natsUrl, (p) => answers.add(timeline ? triggerInBankTime(p, timeline) : p));
  } catch (err) {
    throw new FeederError((err as Error).message, { cause: err });
  }
  try {
    return await feed(o, batchSize, concurrency, answers);
  } finally {
    await stop();
  }
}

async function feed(o: FeederOptions, batchSize: number, concurrency: number, answers: SurveyAnswerQueue | undefined): Promise<FeederSummary> {
  const poster = new Poster(o);
  const profiles = await sendProfiles(o, poster, concurrency);
  if (poster.fatal) throw poster.fatal;
  const events = await sendEvents(o, poster, batchSize, concurrency, answers);
  if (poster.fatal) throw poster.fatal;
  answers?.close();
  const { counts: ec, tally } = events;
  const final = progressOf('done', ec, events.since, tally, answers);
  o.onProgress?.(final);
  return {
    sent: ec.sent, accepted: ec.accepted, duplicates: ec.duplicates, invalid: ec.invalid, failed: ec.failed,
    seconds: final.seconds, eventsPerSecond: final.eventsPerSecond, profiles, stoppedBy: events.stoppedBy,
    ...(tally.eventTime ? { lastEventTime: tally.eventTime } : {}), problems: poster.problems, feedback: tally.feedback,
    ...(answers ? { surveys: { ...answers.stats } } : {}),
  };
}

/** What the event phase has taken from the bank so far (read by the progress reports as it runs). */
interface EventTally {
  taken: number;
  /** Feedback items taken (the bank's and survey answers). */
  feedback: number;
  /** Event time of the latest event taken. */
  eventTime: string | undefined;
}

function progressOf(phase: FeederProgress['phase'], c: BatchCounts, since: number, tally?: EventTally, answers?: SurveyAnswerQueue): FeederProgress {
  const seconds = (performance.now() - since) / 1000;
  const eventTime = tally?.eventTime;
  return {
    phase, ...c, seconds, eventsPerSecond: seconds > 0 ? c.sent / seconds : 0, ...(eventTime ? { eventTime } : {}),
    ...(phase === 'profiles' ? {} : { feedback: tally?.feedback ?? 0, ...(answers ? { answers: answers.stats.answered } : {}) }),
  };
}

/** Answers of the API to one POST of a batch. */
interface BatchAnswer {
  results?: { index?: unknown; status?: unknown; errors?: { field: string; message: string }[]; error?: string }[];
  message?: string;
}

/** One attempt at a batch: whether to try again, after how long, and why it fell short (undefined: it did not). */
interface Attempt {
  retry: boolean;
  waitMs: number;
  reason?: string;
}

/**
 * Posts batches to the API, retrying 503, 429 and network errors, and counts each item's outcome once.
 * Keeps the first 10 problems and the first answer the feeder cannot work around (`fatal`).
 */
class Poster {
  readonly problems: string[] = [];
  fatal: FeederError | undefined;
  private readonly base: string;
  private readonly headers: Record<string, string> = { 'content-type': 'application/json' };
  private readonly maxAttempts: number;
  private readonly timeoutMs: number;

  constructor(private readonly o: FeederOptions) {
    this.base = o.target.replace(/\/+$/, '');
    if (o.apiKey) this.headers.authorization = `Bearer ${o.apiKey}`;
    this.maxAttempts = o.maxAttempts ?? 30;
    this.timeoutMs = o.requestTimeoutMs ?? 30_000;
  }

  /** True once the run is aborted or failed for good: no new requests. */
  stopped(): boolean {
    return this.fatal !== undefined || this.o.signal?.aborted === true;
  }

  note(problem: string): void {
    if (this.problems.length < 10) this.problems.push(problem);
  }

  async post(b: Batch, counts: BatchCounts): Promise<void> {
    const n = b.items.length;
    counts.sent += n;
    const status: (Status | undefined)[] = new Array(n);
    const body = JSON.stringify(b.items);
    let reason = '';
    for (let attempt = 1; ; attempt++) {
      const tried = await this.attempt(b, body, status, Math.min(5000, 200 * 2 ** (attempt - 1)));
      reason = tried.reason ?? reason;
      if (tried.retry && attempt < this.maxAttempts && !this.stopped()) {
        await sleep(tried.waitMs, this.o.signal);
        if (!this.stopped()) continue;
      }
      break;
    }
    this.settle(b, status, reason, counts);
  }

  /** One POST of a batch; records the items' statuses in `status` (an item accepted before stays accepted). */
  private async attempt(b: Batch, body: string, status: (Status | undefined)[], backoffMs: number): Promise<Attempt> {
    try {
      const signal = this.o.signal ? AbortSignal.any([this.o.signal, AbortSignal.timeout(this.timeoutMs)]) : AbortSignal.timeout(this.timeoutMs);
      const res = await fetch(this.base + b.path, { method: 'POST', headers: this.headers, body, signal });
      const text = await res.text();
      let parsed: BatchAnswer = {};
      try {
        parsed = JSON.parse(text) as BatchAnswer;
      } catch {
        parsed = {};
      }
      this.checkFatal(res.status, b.path, parsed);
      this.record(b, parsed, status);
      if (res.status === 503 || res.status === 429) {
        return { retry: true, waitMs: retryAfterMs(res.headers.get('retry-after'), backoffMs), reason: `${res.status} ${parsed.message ?? ''}`.trim() };
      }
      if (!Array.isArray(parsed.results)) return { retry: false, waitMs: backoffMs, reason: `${res.status} ${parsed.message ?? text.slice(0, 200)}`.trim() };
      return { retry: false, waitMs: backoffMs };
    } catch (err) {
      if (this.stopped()) return { retry: false, waitMs: backoffMs, reason: 'aborted' };
      const reason = (err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message;
      return { retry: true, waitMs: backoffMs, reason };
    }
  }

  private checkFatal(httpStatus: number, path: string, parsed: BatchAnswer): void {
    if (httpStatus === 401 || httpStatus === 403) {
      this.fatal ??= new FeederError(`${this.base}${path} answered ${httpStatus}: ${parsed.message ?? 'unauthorized'} (check the API key)`);
    } else if (httpStatus === 404 || httpStatus === 405) {
      this.fatal ??= new FeederError(`${this.base}${path} answered ${httpStatus}: is ${this.base} a vafa API?`);
    }
  }

  private record(b: Batch, parsed: BatchAnswer, status: (Status | undefined)[]): void {
    for (const r of Array.isArray(parsed.results) ? parsed.results : []) {
      const i = r.index;
      if (typeof i !== 'number' || i < 0 || i >= status.length) continue;
      const s = r.status as Status;
      status[i] = s === 'duplicate' && status[i] === 'accepted' ? 'accepted' : s;
      if (s === 'invalid' && r.errors) this.note(`${b.path} item ${i}: ${r.errors.map((e) => `${e.field} ${e.message}`).join('; ')}`);
    }
  }

  /** Counts each item by its last status; an item with none is not stored (failed). */
  private settle(b: Batch, status: (Status | undefined)[], reason: string, counts: BatchCounts): void {
    let unsettled = 0;
    for (let i = 0; i < status.length; i++) {
      const s = status[i];
      if (s === 'accepted') counts.accepted++;
      else if (s === 'duplicate') counts.duplicates++;
      else if (s === 'invalid') counts.invalid++;
      else {
        counts.failed++;
        unsettled++;
      }
    }
    if (unsettled) this.note(`${b.path}: ${unsettled} of ${status.length} items not stored (${reason || 'no result'})`);
  }
}

/** Posts the bank's profiles (unless `sendProfiles` is false) over `concurrency` requests at a time. */
async function sendProfiles(o: FeederOptions, poster: Poster, concurrency: number): Promise<FeederSummary['profiles']> {
  const pc = zero();
  const p0 = performance.now();
  if (o.sendProfiles !== false) {
    const profiles = o.bank.profiles();
    const chunks: Batch[] = [];
    for (let i = 0; i < profiles.length; i += PROFILE_BATCH) chunks.push({ path: '/v1/customers', items: profiles.slice(i, i + PROFILE_BATCH) });
    const timer = o.onProgress ? setInterval(() => o.onProgress?.(progressOf('profiles', pc, p0)), 200) : undefined;
    timer?.unref();
    let next = 0;
    await Promise.all(Array.from({ length: Math.min(concurrency, chunks.length) }, async () => {
      for (let chunk = chunks[next]; chunk !== undefined && !poster.stopped(); chunk = chunks[next]) {
        next++;
        await poster.post(chunk, pc);
      }
    }));
    clearInterval(timer);
    o.onProgress?.(progressOf('profiles', pc, p0));
  }
  return { ...pc, seconds: (performance.now() - p0) / 1000 };
}

/** The outcome of the event phase. */
interface EventPhase {
  counts: BatchCounts;
  /** `performance.now()` when the phase began. */
  since: number;
  tally: EventTally;
  stoppedBy: FeederSummary['stoppedBy'];
}

/** Streams the bank's events (and survey answers) over the lanes until the bank, the time or the count runs out. */
async function sendEvents(o: FeederOptions, poster: Poster, batchSize: number, concurrency: number, answers: SurveyAnswerQueue | undefined): Promise<EventPhase> {
  const counts = zero();
  const since = performance.now();
  const tally: EventTally = { taken: 0, feedback: 0, eventTime: undefined };
  const timer = o.onProgress ? setInterval(() => o.onProgress?.(progressOf('events', counts, since, tally, answers)), 200) : undefined;
  timer?.unref();
  const lanes = new Lanes(concurrency, batchSize, (b) => poster.post(b, counts), () => poster.stopped());
  let stoppedBy: FeederSummary['stoppedBy'];
  try {
    stoppedBy = await pump(o, new BankFeed(o, answers), lanes, tally, { since, batchSize, concurrency, stopped: () => poster.stopped() });
    if (!poster.stopped()) await lanes.flushAll();
  } finally {
    await lanes.close();
    clearInterval(timer);
  }
  return { counts, since, tally, stoppedBy };
}

/** The loop of the event phase: takes events as the rate allows and puts them in their lanes. */
async function pump(
  o: FeederOptions,
  feed: BankFeed,
  lanes: Lanes,
  tally: EventTally,
  run: { since: number; batchSize: number; concurrency: number; stopped: () => boolean },
): Promise<FeederSummary['stoppedBy']> {
  const bucket = new TokenBucket(o.rate, run.batchSize * run.concurrency);
  const deadline = o.durationS !== undefined ? run.since + o.durationS * 1000 : Infinity;
  const maxEvents = o.maxEvents ?? Infinity;
  for (;;) {
    if (run.stopped()) return 'aborted';
    const now = performance.now();
    if (now >= deadline) return 'duration';
    if (tally.taken >= maxEvents) return 'maxEvents';
    const allowance = bucket.grant(now, Math.min(run.batchSize, maxEvents - tally.taken));
    if (allowance === undefined) {
      await lanes.flushStale(now);
      await sleep(bucket.refillWaitMs(), o.signal);
      continue;
    }
    for (let k = 0; k < allowance; k++) {
      const r = feed.next();
      if (r.done) return 'exhausted';
      const ev = r.value;
      tally.taken++;
      if (ev.kind === 'feedback') tally.feedback++;
      tally.eventTime = ev.kind === 'redemption' ? (ev.body.occurred_at ?? tally.eventTime) : ev.body.occurred_at;
      await lanes.push(ev);
    }
    await lanes.flushStale(performance.now());
  }
}

/** The rate limit of the event phase: a token bucket of `rate` events a second; 0 or Infinity: none. */
class TokenBucket {
  private readonly unlimited: boolean;
  private readonly capacity: number;
  private tokens: number;
  private lastRefill = performance.now();

  constructor(private readonly rate: number, maxBatched: number) {
    this.unlimited = rate === 0 || rate === Infinity;
    this.capacity = Math.max(1, Math.min(maxBatched, rate / 5));
    this.tokens = this.unlimited ? 0 : Math.min(this.capacity, 1);
  }

  /** How many of `want` events may go now (taking their tokens), or undefined to wait for a token. */
  grant(now: number, want: number): number | undefined {
    if (this.unlimited) return want;
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.lastRefill) / 1000) * this.rate);
    this.lastRefill = now;
    if (this.tokens < 1) return undefined;
    const granted = Math.min(want, Math.floor(this.tokens));
    this.tokens -= granted;
    return granted;
  }

  /** How long to sleep before asking again after {@link grant} said wait. */
  refillWaitMs(): number {
    return Math.min(FLUSH_MS, Math.max(1, ((Math.min(this.capacity, 50) - this.tokens) / this.rate) * 1000));
  }
}

/**
 * The bank's events in order, with the survey answers due (with `respond`) merged in by the bank's time:
 * the bank's next event is held back while answers due before it go first.
 */
class BankFeed {
  private readonly it: Iterator<SimEvent>;
  private readonly satisfaction: EventStream['satisfaction'] | (() => undefined);
  private held: IteratorResult<SimEvent> | undefined;
  private feedMs = -Infinity;

  constructor(private readonly o: FeederOptions, private readonly answers: SurveyAnswerQueue | undefined) {
    const source = o.bank.events();
    this.it = source[Symbol.iterator]();
    this.satisfaction = (source as Partial<EventStream>).satisfaction?.bind(source) ?? ((): undefined => undefined);
  }

  next(): IteratorResult<SimEvent> {
    if (!this.answers) return this.it.next();
    this.held ??= this.it.next();
    const limit = this.held.done ? this.feedMs : this.bankTime(this.held.value) || this.feedMs;
    const a = this.answers.size ? this.answers.take(limit, this.feedMs, this.satisfaction) : undefined;
    if (a) {
      this.feedMs = Math.max(this.feedMs, Date.parse(a.body.occurred_at));
      const timeline = this.o.timeline;
      return { done: false, value: timeline ? { ...a, body: { ...a.body, occurred_at: new Date(timeline.stamp()).toISOString() } } : a };
    }
    const r = this.held;
    this.held = undefined;
    if (!r.done) this.feedMs = Math.max(this.feedMs, this.bankTime(r.value) || this.feedMs);
    return r;
  }

  private bankTime(ev: SimEvent): number {
    const t = Date.parse(ev.body.occurred_at ?? '');
    return this.o.timeline && !Number.isNaN(t) ? this.o.timeline.toSimulated(t) : t;
  }
}

/**
 * The lanes of the event phase, one per request in flight: a customer's events always go to the same
 * lane (FNV-1a of the id), in batches of one kind, so they keep their order.
 */
class Lanes {
  private readonly lanes: Lane[];
  private readonly workers: Promise<void>[];

  constructor(concurrency: number, private readonly batchSize: number, send: (b: Batch) => Promise<void>, stopped: () => boolean) {
    this.lanes = Array.from({ length: concurrency }, () => new Lane());
    this.workers = this.lanes.map((l) => l.run(send, stopped));
  }

  async push(ev: SimEvent): Promise<void> {
    const lane = this.lanes[fnv1a32(ev.body.customer_id) % this.lanes.length];
    if (lane === undefined) throw new Error('unreachable: a lane index is below the number of lanes');
    const head = lane.buf[0];
    if (head !== undefined && head.kind !== ev.kind) await dispatch(lane);
    if (!lane.buf.length) lane.bufSince = performance.now();
    lane.buf.push(ev);
    if (lane.buf.length >= this.batchSize) await dispatch(lane);
  }

  /** Sends the batches that have waited {@link FLUSH_MS} or more. */
  async flushStale(now: number): Promise<void> {
    for (const l of this.lanes) if (l.buf.length && now - l.bufSince >= FLUSH_MS) await dispatch(l);
  }

  async flushAll(): Promise<void> {
    for (const l of this.lanes) await dispatch(l);
  }

  /** Lets the lanes finish the batches they hold and waits for them. */
  async close(): Promise<void> {
    for (const l of this.lanes) l.close();
    await Promise.all(this.workers);
  }
}

/** Hands a lane's buffered events to its sender as one batch. */
async function dispatch(l: Lane): Promise<void> {
  const first = l.buf[0];
  if (first === undefined) return;
  const batch = { path: PATHS[first.kind], items: l.buf.map((e) => e.body) };
  l.buf = [];
  await l.put(batch);
}

/** An `OFFERS` payload with its times moved from the events' stamps to the bank's time (same validity span). */
function triggerInBankTime(payload: unknown, timeline: Timeline): unknown {
  if (typeof payload !== 'object' || payload === null) return payload;
  const p = payload as { created_at?: unknown; expires_at?: unknown };
  const created = typeof p.created_at === 'string' ? Date.parse(p.created_at) : Number.NaN;
  if (Number.isNaN(created)) return payload;
  const simulated = timeline.toSimulated(created);
  const expires = typeof p.expires_at === 'string' ? Date.parse(p.expires_at) : Number.NaN;
  return {
    ...payload, created_at: new Date(simulated).toISOString(),
    ...(Number.isNaN(expires) ? {} : { expires_at: new Date(simulated + (expires - created)).toISOString() }),
  };
}
