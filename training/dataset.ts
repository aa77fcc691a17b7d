/**
 * History → labelled churn data set, through the scorer's own pure core.
 *
 * The events are replayed exactly as the runtime applies them: merged with the profiles into one
 * event-time-ordered stream of `TX` messages ({@link historyMessages}), split by customer into
 * partitions (`partitionOf`, as ingest does), and applied per partition with `Engine.apply` then
 * `Engine.complete` — so the features a row holds are, by construction, the features the running
 * scorer computes from the same history.
 *
 * Observation points: at every UTC month boundary B after a warm-up, every customer who is open and
 * not gone yields one row, `featureVector(c, B)`; its label is 1 when the customer churns in
 * (B, B + horizon] according to the ground truth, 0 otherwise. Customers already gone at B (churned
 * and not back) are left out, as are customers not open yet.
 */
import type { CustomerProfileV1, StoredProfileV1, TxMessage } from '../contracts/events.js';
import { parseTxSubject, partitionOf } from '../contracts/subjects.js';
import { Engine, featureVector, MODEL_FEATURE_NAMES, newPartitionState, type PartitionState, DAY_MS, Emit, item } from '../scorer/core/mod.js';
import type { EngineConfig } from '../config/schema/mod.js';
import { messagesOf } from '../sinks/mod.js';
import type { ChurnDataset } from './data.js';
import type { ChurnHazard } from './oracle.js';
import { defaultEngineConfig } from '../config/mod.js';

/** An event of a history (the simulator's `SimEvent`, or any API-shaped event). */
export type HistoryEvent =
  | { kind: 'transaction'; body: Extract<TxMessage, { kind: 'transaction' }>['body'] }
  | { kind: 'redemption'; body: { redemption_id: string; customer_id: string; points: number; occurred_at?: string } }
  | { kind: 'feedback'; body: Extract<TxMessage, { kind: 'feedback' }>['body'] };

/** Ground truth of one customer (the simulator's `truth()`, or `labels.ndjson`). */
export interface ChurnTruth {
  opened_at: string;
  churn_at?: string | null;
  reactivated_at?: string | null;
  /** The simulator's churn law (for the oracle, `training/oracle.ts`). */
  hazard?: ChurnHazard;
}

type AnyIterable<T> = Iterable<T> | AsyncIterable<T>;

/** A profile as it travels on `TX`: card numbers never reach the scorer (the API tokenizes them; features do not use them). */
export function storedProfile(p: CustomerProfileV1): StoredProfileV1 {
  const { cards: _cards, ...rest } = p;
  return rest;
}

function eventTimeOf(ev: HistoryEvent): number {
  const t = ev.body.occurred_at;
  if (!t) throw new Error(`history event ${JSON.stringify(ev.body).slice(0, 120)} has no occurred_at`);
  return Date.parse(t);
}

function toMessage(ev: HistoryEvent): TxMessage {
  if (ev.kind === 'redemption') {
    const occurredAt = ev.body.occurred_at;
    if (!occurredAt) throw new Error(`history redemption ${JSON.stringify(ev.body).slice(0, 120)} has no occurred_at`);
    return { kind: 'redemption', body: { ...ev.body, occurred_at: occurredAt } };
  }
  return ev as TxMessage;
}

/**
 * The stream of `TX` messages a history stands for, in the order the parity test also posts it through
 * the API. Events keep their order. A customer who opens during the history gets their profile just
 * before the first event at or after `opened_at`; a customer already on the book when the history
 * starts gets theirs just before their own first event (or at the end): the bank's data starts with the
 * history, so nothing may look idle "since an opening years ago" before the data even begins.
 * (A profile's event time is its `opened_at`: the scorer treats such profiles as late, and arms its idle
 * timers from the moment it learns of the customer.)
 */
export async function* historyMessages(profiles: AnyIterable<CustomerProfileV1>, events: AnyIterable<HistoryEvent>): AsyncGenerator<TxMessage> {
  const ps: { at: number; p: StoredProfileV1 }[] = [];
  for await (const p of profiles) ps.push({ at: Date.parse(p.opened_at), p: storedProfile(p) });
  ps.sort((a, b) => a.at - b.at || (a.p.customer_id < b.p.customer_id ? -1 : a.p.customer_id > b.p.customer_id ? 1 : 0));
  const waiting = new Map<string, StoredProfileV1>(ps.map((x) => [x.p.customer_id, x.p]));
  let first = NaN;
  let i = 0;
  for await (const ev of events) {
    const t = eventTimeOf(ev);
    if (Number.isNaN(first)) first = t;
    for (let x = ps[i]; x !== undefined && x.at <= t; x = ps[++i]) {
      if (x.at < first || !waiting.has(x.p.customer_id)) continue; // on the book before the history: with their first event
      waiting.delete(x.p.customer_id);
      yield { kind: 'profile', body: x.p };
    }
    const own = waiting.get(ev.body.customer_id);
    if (own) {
      waiting.delete(ev.body.customer_id);
      yield { kind: 'profile', body: own };
    }
    yield toMessage(ev);
  }
  for (const x of ps) if (waiting.has(x.p.customer_id)) yield { kind: 'profile', body: x.p };
}

export interface BuildProgress {
  events: number;
  /** Event time reached, epoch ms. */
  at: number;
  rows: number;
}

export interface BuildOptions {
  /** Partitions of the replay (as the runtime's `VAFA_PARTITIONS`). Default 8. */
  partitions?: number;
  /** Engine configuration (lateness, loyalty rules, lifecycle). Default: the runtime's default. */
  engine?: EngineConfig;
  /** Features of each row, in order. Default: every model feature of the catalogue. */
  features?: readonly string[];
  /** Label horizon: churn within this many days of the observation. Default 90. */
  horizonDays?: number;
  /** No observation before the first event + this many days (the windows fill up). Default 90. */
  warmupDays?: number;
  /** No observation after this time (e.g. the end of the data minus nothing; labels come from the truth). */
  lastObservation?: number;
  /** Called every 50,000 events and at the end. */
  onProgress?: (p: BuildProgress) => void;
  /** Sees every event's outputs (e.g. to collect `customer_state` rows as the scorer would write them). */
  onEmit?: (emit: Emit, msg: TxMessage, partition: number) => void;
}

export interface BuiltDataset {
  dataset: ChurnDataset;
  /** Customer of each row. */
  customers: string[];
  /** Observation points used. */
  observations: number[];
  /** Replay totals: the history's messages, and the referral credits the core sent between partitions on top of them. */
  events: number;
  credits: number;
  late: number;
  /** Partition states at the end of the replay. */
  states: PartitionState[];
}

/** The referral credits among what the core published (`tx.<p>.redemption`), as messages for the referrer's partition of this replay. */
function referralCredits(emit: Emit, partitions: number): { msg: TxMessage; partition: number }[] {
  const out: { msg: TxMessage; partition: number }[] = [];
  for (const p of messagesOf(emit)) {
    if (parseTxSubject(p.subject)?.kind !== 'redemption') continue;
    const body = p.payload as Extract<TxMessage, { kind: 'redemption' }>['body'];
    out.push({ msg: { kind: 'redemption', body }, partition: partitionOf(body.customer_id, partitions) });
  }
  return out;
}

/** First UTC month boundary strictly after `t`. */
export function nextMonthStart(t: number): number {
  const d = new Date(t);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}

/**
 * Replays `messages` through the core and snapshots the features at month boundaries, labelled by
 * `truth`. `messages` must be in stream order (see {@link historyMessages}).
 */
export async function buildChurnDataset(messages: AnyIterable<TxMessage>, truth: ReadonlyMap<string, ChurnTruth>, opts: BuildOptions = {}): Promise<BuiltDataset> {
  const partitions = opts.partitions ?? 8;
  const engine = new Engine(opts.engine ?? defaultEngineConfig());
  const names = [...(opts.features ?? MODEL_FEATURE_NAMES)];
  const horizon = (opts.horizonDays ?? 90) * DAY_MS;
  const warmup = (opts.warmupDays ?? 90) * DAY_MS;
  const states = Array.from({ length: partitions }, (_, p) => newPartitionState(p));
  const times = new Map<string, { opened: number; churn: number; back: number }>();
  for (const [id, t] of truth) {
    times.set(id, {
      opened: Date.parse(t.opened_at),
      churn: t.churn_at ? Date.parse(t.churn_at) : Infinity,
      back: t.reactivated_at ? Date.parse(t.reactivated_at) : Infinity,
    });
  }

  const xs: number[] = [];
  const ys: number[] = [];
  const ts: number[] = [];
  const customers: string[] = [];
  const observations: number[] = [];
  let next = 0;
  let seq = 0;
  let events = 0;

  const observe = (b: number): void => {
    observations.push(b);
    for (const state of states) {
      for (const c of Object.values(state.customers)) {
        const t = times.get(c.id);
        if (!t || !c.profile || t.opened > b) continue;
        if (t.churn <= b && !(t.back <= b)) continue; // already gone
        const v = featureVector(c, b, engine.config.features);
        for (const n of names) xs.push(v[n] ?? NaN);
        ys.push(t.churn > b && t.churn <= b + horizon ? 1 : 0);
        ts.push(b);
        customers.push(c.id);
      }
    }
  };

  for await (const msg of messages) {
    const time = msg.kind === 'profile' ? Date.parse(msg.body.opened_at) : Date.parse(msg.body.occurred_at);
    if (msg.kind !== 'profile') {
      if (next === 0) next = nextMonthStart(time + warmup - 1);
      while (time >= next && (opts.lastObservation === undefined || next <= opts.lastObservation)) {
        observe(next);
        next = nextMonthStart(next);
      }
    }
    events++;
    // A referral credit the core publishes for the referrer's partition is applied right after, as the
    // running scorer and the backfill deliver it (through TX).
    const queue: { msg: TxMessage; partition: number }[] = [{ msg, partition: partitionOf(msg.body.customer_id, partitions) }];
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      const state = item(states, next.partition);
      const emit = new Emit();
      seq++;
      const pending = engine.apply(state, { seq, partition: next.partition, msg: next.msg }, emit);
      if (pending) engine.complete(state, pending, undefined, emit);
      opts.onEmit?.(emit, next.msg, next.partition);
      queue.push(...referralCredits(emit, partitions));
      if (seq % 50_000 === 0) opts.onProgress?.({ events, at: time, rows: ys.length });
    }
  }
  opts.onProgress?.({ events, at: states.reduce((m, s) => Math.max(m, s.maxEventTime), 0), rows: ys.length });

  const nf = names.length;
  const dataset: ChurnDataset = { features: names, x: Float32Array.from(xs), y: Uint8Array.from(ys), time: Float64Array.from(ts) };
  if (dataset.x.length !== ys.length * nf) throw new Error('dataset: internal shape mismatch');
  return { dataset, customers, observations, events, credits: seq - events, late: states.reduce((s, st) => s + st.stats.late, 0), states };
}
