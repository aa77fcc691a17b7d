/**
 * Survey answers: the simulator's side of vafa's closed loop. The scorer publishes offer triggers on
 * JetStream stream `OFFERS` (`offers.<channel>`); a trigger of kind `survey` asks the customer a question
 * on a scale. For each one this module decides, from the seed and the offer id, whether the customer
 * answers and when; the score comes from the customer's satisfaction at the time of the answer, and the
 * feeder merges the answers into its feed in event time.
 */
import { createHash } from 'node:crypto';
import { OFFER_CHANNELS, STREAM_OFFERS, type OfferChannel } from '../contracts/subjects.js';
import { MAX_PROPENSITY, responsePropensity, surveyScore, type FeedbackEvent } from './feedback.js';
import { hashInts, hashString, Rng } from './rng.js';
import { InvariantError, heapPop, heapPush } from '../scorer/core/mod.js';

/** An offer trigger as published on `OFFERS` (the fields the simulator reads). */
export interface SurveyTrigger {
  offer_id: string;
  customer_id: string;
  campaign_id: string;
  channel: OfferChannel;
  created_at: string;
  expires_at: string;
  /** `offer` when the payload has none. */
  kind: 'offer' | 'survey';
  survey?: { scale: 'csat5' | 'nps10'; question: string };
  branch_id?: string;
}

/**
 * Share of survey triggers answered, by channel, for a customer of typical satisfaction (the very
 * unhappy answer up to 2× as often: see `responsePropensity`). Industry figures: e-mail surveys
 * 5–10 %, SMS 10–15 %, in-app prompts 15–25 %, a question asked in person at the branch far more often.
 */
export const SURVEY_RESPONSE_RATE: Record<OfferChannel, number> = { sms: 0.12, app: 0.18, email: 0.07, branch: 0.35 };
/** Delay from the trigger to the answer, log-normal: median minutes and spread by channel (an SMS is read soon, an e-mail hours later, the branch at the next visit). */
export const SURVEY_DELAY: Record<OfferChannel, { medianMinutes: number; sigma: number }> = {
  sms: { medianMinutes: 30, sigma: 1.3 },
  app: { medianMinutes: 180, sigma: 1.2 },
  email: { medianMinutes: 480, sigma: 1.1 },
  branch: { medianMinutes: 1200, sigma: 0.8 },
};
/** No answer comes later than this after the trigger (the survey link lapses), nor after the trigger's `expires_at`. */
export const SURVEY_ANSWER_WINDOW_MS = 48 * 3_600_000;
/** Satisfaction assumed for a customer the bank stream does not know. */
const NEUTRAL_SATISFACTION = 0.7;

const str = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/** Reads an `OFFERS` payload; undefined when it is not an offer trigger (a survey without a valid scale is not a survey). */
export function parseSurveyTrigger(v: unknown): SurveyTrigger | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (!str(o.offer_id) || !str(o.customer_id) || !str(o.created_at) || !str(o.expires_at)) return undefined;
  if (!(OFFER_CHANNELS as readonly unknown[]).includes(o.channel)) return undefined;
  if (Number.isNaN(Date.parse(o.created_at)) || Number.isNaN(Date.parse(o.expires_at))) return undefined;
  const t: SurveyTrigger = {
    offer_id: o.offer_id, customer_id: o.customer_id, campaign_id: str(o.campaign_id) ? o.campaign_id : '', channel: o.channel as OfferChannel,
    created_at: o.created_at, expires_at: o.expires_at, kind: 'offer',
  };
  if (str(o.branch_id)) t.branch_id = o.branch_id;
  const s = o.survey as { scale?: unknown; question?: unknown } | undefined;
  if (o.kind === 'survey') {
    if (!s || (s.scale !== 'csat5' && s.scale !== 'nps10')) return undefined;
    t.kind = 'survey';
    t.survey = { scale: s.scale, question: typeof s.question === 'string' ? s.question : '' };
  }
  return t;
}

/** The id of the answer to a trigger: the same trigger (a redelivery, a replay) always gives the same answer id. */
export function answerId(offerId: string): string {
  return `S${createHash('sha256').update(offerId).digest('hex').slice(0, 24)}`;
}

interface Draws {
  /** Decides whether the customer answers (against rate × propensity). */
  u: number;
  /** When the answer would be given, epoch ms. */
  at: number;
  /** Latest acceptable time: min(expires_at, created_at + window). */
  deadline: number;
  /** Standard normal draw for the score. */
  z: number;
}

function draws(t: SurveyTrigger, seed: number): Draws {
  const r = new Rng(hashInts(seed, hashString(t.offer_id), 0x73757276));
  const created = Date.parse(t.created_at);
  const d = SURVEY_DELAY[t.channel];
  const u = r.next();
  const delay = Math.max(60_000, Math.floor(d.medianMinutes * 60_000 * Math.exp(d.sigma * r.normal())));
  return { u, at: created + delay, deadline: Math.min(Date.parse(t.expires_at), created + SURVEY_ANSWER_WINDOW_MS), z: r.normal() };
}

/** What a customer does with a survey trigger. */
export interface SurveyDecision {
  answers: boolean;
  /** When the answer is (or would be) given, epoch ms. */
  at: number;
  /** The answer, when there is one. */
  event?: FeedbackEvent;
}

function answer(t: SurveyTrigger, d: Draws, at: number, satisfaction: number): FeedbackEvent {
  const scale = t.survey?.scale;
  if (scale === undefined) throw new InvariantError(`responder: trigger ${t.offer_id} is answered as a survey but has none`);
  return {
    kind: 'feedback',
    body: {
      feedback_id: answerId(t.offer_id), customer_id: t.customer_id, occurred_at: new Date(at).toISOString(), kind: 'survey',
      score: surveyScore(scale, satisfaction, d.z), scale,
      ...(t.campaign_id ? { campaign_id: t.campaign_id } : {}), offer_id: t.offer_id, ...(t.branch_id ? { branch_id: t.branch_id } : {}),
    },
  };
}

/**
 * Whether and when the customer answers survey trigger `t`, and the answer, given their satisfaction
 * (0–1) at that time. Deterministic in (`seed`, the offer id, `satisfaction`); offers (kind `offer`) are
 * never answered, nor is an answer that would come after the deadline.
 */
export function decideSurveyAnswer(t: SurveyTrigger, seed: number, satisfaction: number): SurveyDecision {
  if (t.kind !== 'survey' || !t.survey) return { answers: false, at: NaN };
  const d = draws(t, seed);
  if (d.at > d.deadline || d.u >= SURVEY_RESPONSE_RATE[t.channel] * responsePropensity(satisfaction)) return { answers: false, at: d.at };
  return { answers: true, at: d.at, event: answer(t, d, d.at, satisfaction) };
}

/** What became of the triggers the feeder read. */
export interface SurveyAnswerStats {
  /** Offer triggers read from `OFFERS` (each offer id once). */
  triggers: number;
  /** Of those, surveys. */
  surveys: number;
  /** Answers given (posted to `/v1/feedback`; they count in the feeder's totals too). */
  answered: number;
  /** Surveys the customer did not answer, or would have answered only after the deadline. */
  unanswered: number;
  /** Answers whose time the feed had already passed when the trigger arrived: given at the feed's time instead (still before the deadline). */
  late: number;
  /** Answers whose time and deadline the feed had already passed when the trigger arrived: dropped. */
  missed: number;
  /** Answers not yet due when the feed stopped: dropped. */
  pending: number;
  /** Messages on `OFFERS` that are not offer triggers. */
  malformed: number;
}

interface Queued {
  t: SurveyTrigger;
  d: Draws;
}

/** Survey triggers waiting for their answer time, earliest first; answered as the feed reaches them. */
export class SurveyAnswerQueue {
  readonly stats: SurveyAnswerStats = { triggers: 0, surveys: 0, answered: 0, unanswered: 0, late: 0, missed: 0, pending: 0, malformed: 0 };
  private readonly heap: Queued[] = [];
  private readonly seen = new Set<string>();

  constructor(private readonly seed: number) {}

  get size(): number {
    return this.heap.length;
  }

  /** Time of the earliest queued answer (Infinity when none). */
  nextAt(): number {
    return this.heap[0]?.d.at ?? Infinity;
  }

  /** Takes an `OFFERS` payload. */
  add(payload: unknown): void {
    const t = parseSurveyTrigger(payload);
    if (!t) {
      this.stats.malformed++;
      return;
    }
    if (this.seen.has(t.offer_id)) return;
    if (this.seen.size >= 1_000_000) this.seen.clear();
    this.seen.add(t.offer_id);
    this.stats.triggers++;
    if (t.kind !== 'survey') return;
    this.stats.surveys++;
    const d = draws(t, this.seed);
    if (d.at > d.deadline || d.u >= SURVEY_RESPONSE_RATE[t.channel] * MAX_PROPENSITY) {
      this.stats.unanswered++;
      return;
    }
    this.push({ t, d });
  }

  /**
   * The next answer due at or before `limit` (epoch ms), the feed having reached `feedTime`: one whose
   * time the feed has passed is given at `feedTime` (or dropped past its deadline). The score is drawn
   * from `satisfaction` at the answer's time.
   */
  take(limit: number, feedTime: number, satisfaction: (customerId: string, at: number) => number | undefined): FeedbackEvent | undefined {
    for (let top = this.heap[0]; top !== undefined && top.d.at <= limit; top = this.heap[0]) {
      this.pop();
      const { t, d } = top;
      let at = d.at;
      if (at < feedTime) {
        if (feedTime > d.deadline) {
          this.stats.missed++;
          continue;
        }
        at = feedTime;
        this.stats.late++;
      }
      const s = satisfaction(t.customer_id, at) ?? NEUTRAL_SATISFACTION;
      if (d.u >= SURVEY_RESPONSE_RATE[t.channel] * responsePropensity(s)) {
        this.stats.unanswered++;
        continue;
      }
      this.stats.answered++;
      return answer(t, d, at, s);
    }
    return undefined;
  }

  /** Drops what is still queued (counted as pending). */
  close(): void {
    this.stats.pending += this.heap.length;
    this.heap.length = 0;
  }

  private push(q: Queued): void {
    heapPush(this.heap, q, sooner);
  }

  private pop(): Queued | undefined {
    return heapPop(this.heap, sooner);
  }
}

const sooner = (x: Queued, y: Queued): boolean => x.d.at < y.d.at;

/**
 * Reads every trigger published on `OFFERS` from now on (an ordered consumer: no durable state on the
 * server, resumes in order after a reconnect) and hands each payload to `onPayload`. Resolves once the
 * consumer is in place; the returned function stops it and closes the connection.
 */
export async function readOfferTriggers(natsUrl: string, onPayload: (payload: unknown) => void): Promise<() => Promise<void>> {
  const { connect } = await import('@nats-io/transport-node');
  const { jetstream, DeliverPolicy } = await import('@nats-io/jetstream');
  let nc;
  try {
    nc = await connect({ servers: natsUrl.split(','), name: 'vafa-simulator', maxReconnectAttempts: -1, reconnectTimeWait: 500, timeout: 5000, noAsyncTraces: true });
  } catch (err) {
    throw new Error(`cannot reach NATS at ${natsUrl} to read survey triggers: ${(err as Error).message}`, { cause: err });
  }
  try {
    // filter_subjects as a string: a single filter also works with nats-server 2.9.
    const consumer = await jetstream(nc).consumers.get(STREAM_OFFERS, { filter_subjects: 'offers.>', deliver_policy: DeliverPolicy.New });
    const messages = await consumer.consume();
    const loop = (async () => {
      for await (const m of messages) {
        let payload: unknown;
        try {
          payload = m.json();
        } catch {
          payload = undefined;
        }
        onPayload(payload);
      }
    })();
    return async () => {
      await messages.close();
      await loop.catch(() => undefined);
      await nc.close();
    };
  } catch (err) {
    await nc.close();
    const msg = (err as Error).message;
    throw new Error(/stream not found/i.test(msg) ? `no stream ${STREAM_OFFERS} on ${natsUrl}: is vafa running there?` : `reading ${STREAM_OFFERS} on ${natsUrl}: ${msg}`, { cause: err });
  }
}
