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
  const maxAttempts = o.maxAttempts ?? 30;
  const timeoutMs = o.requestTimeoutMs ?? 30_000;
  const base = o.target.replace(/\/+$/, '');
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (o.apiKey) headers.authorization = `Bearer ${o.apiKey}`;
  const problems: string[] = [];
  const note = (p: string): void => {
    if (problems.length < 10) problems.push(p);
  };
  let fatal: FeederError | undefined;
  const stopped = (): boolean => fatal !== undefined || o.signal?.aborted === true;


  async function post(b: Batch, counts: BatchCounts): Promise<void> {
    const n = b.items.length;
    counts.sent += n;
    const status: (Status | undefined)[] = new Array(n);
    const body = JSON.stringify(b.items);
    let reason = '';
    for (let attempt = 1; ; attempt++) {
      let wait = Math.min(5000, 200 * 2 ** (attempt - 1));
      let retry = false;
      try {
        const res = await fetch(base + b.path, {
          method: 'POST', headers, body, signal: o.signal ? AbortSignal.any([o.signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs),
        });
        const text = await res.text();
        let parsed: { results?: { index?: unknown; status?: unknown; errors?: { field: string; message: string }[]; error?: string }[]; message?: string } = {};
        try {
          parsed = JSON.parse(text) as typeof parsed;
        } catch {
          parsed = {};
        }
        if (res.status === 401 || res.status === 403) {
          fatal ??= new FeederError(`${base}${b.path} answered ${res.status}: ${parsed.message ?? 'unauthorized'} (check the API key)`);
        } else if (res.status === 404 || res.status === 405) {
          fatal ??= new FeederError(`${base}${b.path} answered ${res.status}: is ${base} a vafa API?`);
        }
        for (const r of Array.isArray(parsed.results) ? parsed.results : []) {
          const i = r.index;
          if (typeof i !== 'number' || i < 0 || i >= n) continue;
          const s = r.status as Status;
          status[i] = s === 'duplicate' && status[i] === 'accepted' ? 'accepted' : s;
          if (s === 'invalid' && r.errors) note(`${b.path} item ${i}: ${r.errors.map((e) => `${e.field} ${e.message}`).join('; ')}`);
        }
        if (res.status === 503 || res.status === 429) {
          retry = true;
          wait = retryAfterMs(res.headers.get('retry-after'), wait);
          reason = `${res.status} ${parsed.message ?? ''}`.trim();
        } else if (!Array.isArray(parsed.results)) {
          reason = `${res.status} ${parsed.message ?? text.slice(0, 200)}`.trim();
        }
      } catch (err) {
        if (stopped()) reason = 'aborted';
        else {
          retry = true;
          reason = (err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message;
        }
      }
      if (retry && attempt < maxAttempts && !stopped()) {
        await sleep(wait, o.signal);
        if (!stopped()) continue;
      }
      break;
    }
    let unsettled = 0;
    for (let i = 0; i < n; i++) {
      const s = status[i];
      if (s === 'accepted') counts.accepted++;
      else if (s === 'duplicate') counts.duplicates++;
      else if (s === 'invalid') counts.invalid++;
      else {
        counts.failed++;
        unsettled++;
      }
    }
    if (unsettled) note(`${b.path}: ${unsettled} of ${n} items not stored (${reason || 'no result'})`);
  }

  let feedback = 0;
  const snapshot = (phase: FeederProgress['phase'], c: BatchCounts, since: number, eventTime?: string): FeederProgress => {
    const seconds = (performance.now() - since) / 1000;
    return {
      phase, ...c, seconds, eventsPerSecond: seconds > 0 ? c.sent / seconds : 0, ...(eventTime ? { eventTime } : {}),
      ...(phase === 'profiles' ? {} : { feedback, ...(answers ? { answers: answers.stats.answered } : {}) }),
    };
  };

  // Profiles.
  const pc = zero();
  const p0 = performance.now();
  if (o.sendProfiles !== false) {
    const profiles = o.bank.profiles();
    const chunks: Batch[] = [];
    for (let i = 0; i < profiles.length; i += PROFILE_BATCH) chunks.push({ path: '/v1/customers', items: profiles.slice(i, i + PROFILE_BATCH) });
    const timer = o.onProgress ? setInterval(() => o.onProgress?.(snapshot('profiles', pc, p0)), 200) : undefined;
    timer?.unref();
    let next = 0;
    await Promise.all(Array.from({ length: Math.min(concurrency, chunks.length) }, async () => {
      while (next < chunks.length && !stopped()) await post(chunks[next++]!, pc);
    }));
    clearInterval(timer);
    o.onProgress?.(snapshot('profiles', pc, p0));
  }
  const profileSummary = { ...pc, seconds: (performance.now() - p0) / 1000 };
  if (fatal) throw fatal;

  // Events.
  const ec = zero();
  const e0 = performance.now();
  let eventTime: string | undefined;
  const timer = o.onProgress ? setInterval(() => o.onProgress?.(snapshot('events', ec, e0, eventTime)), 200) : undefined;
  timer?.unref();
  const lanes = Array.from({ length: concurrency }, () => new Lane());
  const workers = lanes.map((l) => l.run((b) => post(b, ec), stopped));
  const dispatch = async (l: Lane): Promise<void> => {
    if (!l.buf.length) return;
    const first = l.buf[0]!;
    const batch = { path: PATHS[first.kind], items: l.buf.map((e) => e.body) };
    l.buf = [];
    await l.put(batch);
  };

  const unlimited = o.rate === 0 || o.rate === Infinity;
  const capacity = Math.max(1, Math.min(batchSize * concurrency, o.rate / 5));
  let tokens = unlimited ? 0 : Math.min(capacity, 1);
  let lastRefill = performance.now();
  const deadline = o.durationS !== undefined ? e0 + o.durationS * 1000 : Infinity;
  const maxEvents = o.maxEvents ?? Infinity;
  let taken = 0;
  let stoppedBy: FeederSummary['stoppedBy'] = 'exhausted';
  const source = o.bank.events();
  const it = source[Symbol.iterator]();
  const satisfaction = (source as Partial<EventStream>).satisfaction?.bind(source) ?? ((): undefined => undefined);
  // With survey answers: the bank's next event is held back while answers due before it go first.
  let held: IteratorResult<SimEvent> | undefined;
  let feedMs = -Infinity;
  const bankTime = (ev: SimEvent): number => {
    const t = Date.parse(ev.body.occurred_at ?? '');
    return o.timeline && !Number.isNaN(t) ? o.timeline.toSimulated(t) : t;
  };
  const next = (): IteratorResult<SimEvent> => {
    if (!answers) return it.next();
    held ??= it.next();
    const limit = held.done ? feedMs : bankTime(held.value) || feedMs;
    const a = answers.size ? answers.take(limit, feedMs, satisfaction) : undefined;
    if (a) {
      feedMs = Math.max(feedMs, Date.parse(a.body.occurred_at));
      return { done: false, value: o.timeline ? { ...a, body: { ...a.body, occurred_at: new Date(o.timeline.stamp()).toISOString() } } : a };
    }
    const r = held;
    held = undefined;
    if (!r.done) feedMs = Math.max(feedMs, bankTime(r.value) || feedMs);
    return r;
  };
  try {
    for (;;) {
      if (stopped()) {
        stoppedBy = 'aborted';
        break;
      }
      const now = performance.now();
      if (now >= deadline) {
        stoppedBy = 'duration';
        break;
      }
      if (taken >= maxEvents) {
        stoppedBy = 'maxEvents';
        break;
      }
      let allowance = Math.min(batchSize, maxEvents - taken);
      if (!unlimited) {
        tokens = Math.min(capacity, tokens + ((now - lastRefill) / 1000) * o.rate);
        lastRefill = now;
        if (tokens < 1) {
          for (const l of lanes) if (l.buf.length && now - l.bufSince >= FLUSH_MS) await dispatch(l);
          await sleep(Math.min(FLUSH_MS, Math.max(1, ((Math.min(capacity, 50) - tokens) / o.rate) * 1000)), o.signal);
          continue;
        }
        allowance = Math.min(allowance, Math.floor(tokens));
        tokens -= allowance;
      }
      let done = false;
      for (let k = 0; k < allowance; k++) {
        const r = next();
        if (r.done) {
          done = true;
          break;
        }
        const ev = r.value;
        taken++;
        if (ev.kind === 'feedback') feedback++;
        eventTime = ev.kind === 'redemption' ? (ev.body.occurred_at ?? eventTime) : ev.body.occurred_at;
        const lane = lanes[fnv1a32(ev.body.customer_id) % concurrency]!;
        if (lane.buf.length && lane.buf[0]!.kind !== ev.kind) await dispatch(lane);
        if (!lane.buf.length) lane.bufSince = performance.now();
        lane.buf.push(ev);
        if (lane.buf.length >= batchSize) await dispatch(lane);
      }
      if (done) break;
      const t = performance.now();
      for (const l of lanes) if (l.buf.length && t - l.bufSince >= FLUSH_MS) await dispatch(l);
    }
    if (!stopped()) for (const l of lanes) await dispatch(l);
  } finally {
    for (const l of lanes) l.close();
    await Promise.all(workers);
    clearInterval(timer);
  }
  if (fatal) throw fatal;
  answers?.close();
  const final = snapshot('done', ec, e0, eventTime);
  o.onProgress?.(final);
  return {
    sent: ec.sent, accepted: ec.accepted, duplicates: ec.duplicates, invalid: ec.invalid, failed: ec.failed,
    seconds: final.seconds, eventsPerSecond: final.eventsPerSecond, profiles: profileSummary, stoppedBy,
    ...(eventTime ? { lastEventTime: eventTime } : {}), problems, feedback, ...(answers ? { surveys: { ...answers.stats } } : {}),
  };
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
