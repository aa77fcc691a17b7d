/**
 * Offer triggers to an HTTP endpoint: a durable JetStream consumer on `OFFERS` that POSTs each trigger
 * (the message body as published: the contract's JSON payload) to a URL.
 *
 * - **Signed**: `Vafa-Timestamp: <unix seconds>` and `Vafa-Signature: v1=<hex HMAC-SHA-256(secret,
 *   "<timestamp>.<body>")>`; receivers check it with `verifyWebhookSignature` (constant-time, with a
 *   tolerance on the timestamp against replays).
 * - **Idempotent**: `Idempotency-Key: <offer_id>` (the trigger's deterministic id, also its
 *   `Nats-Msg-Id`); a message may be POSTed more than once (a crash between the 2xx and the ack, a
 *   timeout whose request did arrive), never acked without a 2xx, so receivers de-duplicate on the key.
 * - **Acked only after a 2xx**; any other answer, a network error or a timeout is retried with
 *   exponential back-off (`nak(delay)`, delay = initial × factor^(attempt − 1), capped, ± 20 % jitter),
 *   durably: a restart resumes where the consumer was. A payload-level refusal (400, 410, 413, 422) is
 *   not retried: the message is terminated and copied to `DLQ` (`dlq.webhook.http_<status>`), as are
 *   messages that reach `maxDeliver` attempts when one is set.
 * - Routing headers for branch screens: `Vafa-Customer`, `Vafa-Offer`, `Vafa-Branch` (branch prompts),
 *   plus `Vafa-Subject` and `Vafa-Delivery-Attempt`.
 *
 * `startWebhookSink({ nc, url, secret, logger })` starts it; `stop()` stops pulling, lets requests in
 * flight finish (un-acked ones are redelivered later), and resolves.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type ConsumerConfig, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import { headers as natsHeaders, nanos, type NatsConnection } from '@nats-io/transport-node';
import { STREAM_DLQ, STREAM_OFFERS } from '../contracts/subjects.js';
import { offerHeaders } from '../scorer/core/mod.js';
import type { Logger } from '../platform/mod.js';

export interface WebhookSinkOptions {
  nc: NatsConnection;
  /** Endpoint that receives a POST per trigger. */
  url: string;
  /** HMAC-SHA-256 key. */
  secret: string;
  logger: Logger;
  /** Durable consumer name; default `offers-webhook`. One name per endpoint. */
  durable?: string;
  /** Subjects to deliver; default every channel (`offers.>`), e.g. `['offers.app']`. */
  subjects?: string[];
  /** Where a new consumer starts: every trigger the stream holds (default) or only new ones. */
  deliver?: 'all' | 'new';
  /** Requests in flight at most; default 8. */
  concurrency?: number;
  /** Per-request timeout, ms; default 10,000. */
  timeoutMs?: number;
  /** Retry back-off; default 1 s doubling up to 5 min. */
  backoff?: { initialMs?: number; maxMs?: number; factor?: number };
  /** Attempts before a message is given up (terminated, copied to DLQ); default unlimited. */
  maxDeliver?: number;
  /** Statuses that mean "this payload will never be accepted"; default 400, 410, 413, 422. */
  permanentStatuses?: number[];
  /** Extra static headers (e.g. an API key for the receiver). Never logged. */
  headers?: Record<string, string>;
  /** Clock for the signature timestamp (tests). */
  now?: () => number;
}

export interface WebhookStats {
  delivered: number;
  retried: number;
  failed: number;
  inFlight: number;
}

export interface WebhookSink {
  readonly stats: WebhookStats;
  stop(): Promise<void>;
}

export const SIGNATURE_HEADER = 'Vafa-Signature';
export const TIMESTAMP_HEADER = 'Vafa-Timestamp';

/** `v1=<hex HMAC-SHA-256(secret, "<timestamp>.<body>")>`. */
export function signWebhook(secret: string, timestamp: number, body: string | Uint8Array): string {
  const h = createHmac('sha256', secret);
  h.update(`${timestamp}.`);
  h.update(body);
  return `v1=${h.digest('hex')}`;
}

/**
 * For receivers: true when `signature` is a valid `v1=` signature of `body` at `timestamp` (unix seconds)
 * and the timestamp is within `toleranceS` of `nowS`.
 */
export function verifyWebhookSignature(opts: {
  secret: string; body: string | Uint8Array; timestamp: string | number | undefined; signature: string | undefined; toleranceS?: number; nowS?: number;
}): boolean {
  const ts = Number(opts.timestamp);
  if (!Number.isInteger(ts) || !opts.signature) return false;
  const now = opts.nowS ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - ts) > (opts.toleranceS ?? 300)) return false;
  const want = Buffer.from(signWebhook(opts.secret, ts, opts.body));
  return opts.signature.split(',').map((s) => Buffer.from(s.trim())).some((got) => got.length === want.length && timingSafeEqual(got, want));
}

/** Delay before attempt `attempt + 1` after `attempt` failed (1-based), without jitter. */
export function backoffMs(attempt: number, b: WebhookSinkOptions['backoff'] = {}): number {
  const initial = b.initialMs ?? 1000;
  const max = b.maxMs ?? 300_000;
  const factor = b.factor ?? 2;
  return Math.min(max, initial * factor ** Math.max(0, attempt - 1));
}

type Outcome = { kind: 'ok'; status: number } | { kind: 'retry'; reason: string } | { kind: 'permanent'; reason: string; status: number };

/** Starts the sink: creates (or updates) the durable consumer and begins delivering. */
export async function startWebhookSink(opts: WebhookSinkOptions): Promise<WebhookSink> {
  const durable = opts.durable ?? 'offers-webhook';
  const concurrency = Math.max(1, opts.concurrency ?? 8);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const log = opts.logger.child({ module: 'webhook', durable });
  const js = jetstream(opts.nc);
  const subjects = opts.subjects ?? ['offers.>'];
  await ensureConsumer(opts, { durable, subjects, concurrency, timeoutMs });
  const consumer = await js.consumers.get(STREAM_OFFERS, durable);
  const stats: WebhookStats = { delivered: 0, retried: 0, failed: 0, inFlight: 0 };
  const delivery: Delivery = {
    opts, js, durable, log, stats, timeoutMs,
    permanent: new Set(opts.permanentStatuses ?? [400, 410, 413, 422]),
    now: opts.now ?? Date.now,
  };
  const consumed = await consumer.consume({ max_messages: concurrency * 2, expires: 5000 });
  let messages: ConsumerMessages | undefined = consumed;
  const gate: DeliveryGate = { stopping: false, inFlight: new Set<Promise<void>>(), slotFree: undefined };
  const loop = deliverAll(delivery, consumed, gate, concurrency).catch((err: Error) => log.error({ err: err.message }, 'webhook consume loop failed'));
  log.info({ url: new URL(opts.url).origin, subjects }, 'webhook sink started');

  return {
    stats,
    async stop(): Promise<void> {
      if (gate.stopping) return;
      gate.stopping = true;
      const msgs = messages;
      messages = undefined;
      await msgs?.close().catch(() => undefined);
      await loop;
      await Promise.allSettled([...gate.inFlight]);
      log.info({ ...stats }, 'webhook sink stopped');
    },
  };
}

/** Creates the durable consumer on `OFFERS`, or brings an existing one to these settings. */
async function ensureConsumer(opts: WebhookSinkOptions, c: { durable: string; subjects: string[]; concurrency: number; timeoutMs: number }): Promise<void> {
  const jsm = await jetstreamManager(opts.nc);
  const [only] = c.subjects;
  const filter = c.subjects.length === 1 && only !== undefined ? { filter_subject: only } : { filter_subjects: c.subjects };
  const settings = {
    ack_wait: nanos(c.timeoutMs + 30_000),
    max_ack_pending: c.concurrency * 4,
    max_deliver: opts.maxDeliver ?? -1,
    description: `webhook delivery to ${new URL(opts.url).origin}`,
  };
  const existing = await jsm.consumers.info(STREAM_OFFERS, c.durable).catch(() => undefined);
  if (existing) {
    await jsm.consumers.update(STREAM_OFFERS, c.durable, { ...settings, ...filter });
  } else {
    const cfg: Partial<ConsumerConfig> = { durable_name: c.durable, ack_policy: AckPolicy.Explicit, ...settings, ...filter };
    await jsm.consumers.add(STREAM_OFFERS, { ...cfg, deliver_policy: opts.deliver === 'new' ? DeliverPolicy.New : DeliverPolicy.All });
  }
}

/** What delivering one trigger needs. */
interface Delivery {
  readonly opts: WebhookSinkOptions;
  readonly js: ReturnType<typeof jetstream>;
  readonly durable: string;
  readonly log: Logger;
  readonly stats: WebhookStats;
  readonly timeoutMs: number;
  /** Statuses that terminate a trigger instead of retrying it. */
  readonly permanent: ReadonlySet<number>;
  readonly now: () => number;
}

/** The deliveries in flight (at most `concurrency`), and whether the sink is stopping. */
interface DeliveryGate {
  stopping: boolean;
  readonly inFlight: Set<Promise<void>>;
  slotFree: (() => void) | undefined;
}

/** Delivers each message consumed, `concurrency` at a time; once stopping, naks the rest. */
async function deliverAll(d: Delivery, messages: ConsumerMessages, gate: DeliveryGate, concurrency: number): Promise<void> {
  for await (const m of messages) {
    if (gate.stopping) {
      m.nak();
      continue;
    }
    while (gate.inFlight.size >= concurrency) await new Promise<void>((r) => (gate.slotFree = r));
    const p: Promise<void> = handle(d, m).catch((err: Error) => {
      d.log.error({ err: err.message, seq: m.seq }, 'webhook handler failed; the trigger will be redelivered');
    }).finally(() => {
      gate.inFlight.delete(p);
      d.stats.inFlight = gate.inFlight.size;
      const f = gate.slotFree;
      gate.slotFree = undefined;
      f?.();
    });
    gate.inFlight.add(p);
    d.stats.inFlight = gate.inFlight.size;
  }
}

/** POSTs one trigger and settles its message: ack on a 2xx, terminate and copy to DLQ when refused for good, else nak with back-off. */
async function handle(d: Delivery, m: JsMsg): Promise<void> {
  const { opts, log, stats } = d;
  const attempt = m.info.deliveryCount;
  const out = await post(d, m);
  if (out.kind === 'ok') {
    await m.ackAck().catch(() => m.ack());
    stats.delivered++;
    return;
  }
  if (out.kind === 'permanent' || (opts.maxDeliver !== undefined && opts.maxDeliver > 0 && attempt >= opts.maxDeliver)) {
    const reason = out.kind === 'permanent' ? out.reason : `gave_up_${out.reason}`;
    log.error({ seq: m.seq, subject: m.subject, attempt, reason }, 'webhook refused a trigger: terminated and copied to DLQ');
    await toDlq(d, m, reason);
    m.term(); // no reason text: nats-server < 2.10.4 ignores a "+TERM <reason>" ack
    stats.failed++;
    return;
  }
  const delay = Math.round(backoffMs(attempt, opts.backoff) * (0.8 + 0.4 * Math.random()));
  log.warn({ seq: m.seq, attempt, reason: out.reason, retry_in_ms: delay }, 'webhook delivery failed; will retry');
  m.nak(delay);
  stats.retried++;
}

async function post(d: Delivery, m: JsMsg): Promise<Outcome> {
  const body = m.data;
  let payload: Record<string, unknown>;
  try {
    payload = JSON.parse(Buffer.from(body).toString('utf8')) as Record<string, unknown>;
  } catch {
    return { kind: 'permanent', reason: 'not_json', status: 0 };
  }
  const headers = requestHeaders(d, m, payload);
  try {
    const res = await fetch(d.opts.url, { method: 'POST', headers, body, signal: AbortSignal.timeout(d.timeoutMs) });
    await res.arrayBuffer().catch(() => undefined);
    if (res.status >= 200 && res.status < 300) return { kind: 'ok', status: res.status };
    if (d.permanent.has(res.status)) return { kind: 'permanent', reason: `http_${res.status}`, status: res.status };
    return { kind: 'retry', reason: `http_${res.status}` };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    return { kind: 'retry', reason: e.name === 'TimeoutError' ? 'timeout' : (e.cause?.code ?? e.name ?? 'error') };
  }
}

/** The headers of a trigger's POST: signature, idempotency key, routing. */
function requestHeaders(d: Delivery, m: JsMsg, payload: Record<string, unknown>): Record<string, string> {
  const key = String(payload.offer_id ?? m.headers?.get('Nats-Msg-Id') ?? `${STREAM_OFFERS}:${m.seq}`);
  const ts = Math.floor(d.now() / 1000);
  return {
    ...d.opts.headers,
    'content-type': 'application/json',
    'user-agent': 'vafa-webhook/1',
    'Idempotency-Key': key,
    [TIMESTAMP_HEADER]: String(ts),
    [SIGNATURE_HEADER]: signWebhook(d.opts.secret, ts, m.data),
    'Vafa-Subject': m.subject,
    'Vafa-Delivery-Attempt': String(m.info.deliveryCount),
    ...offerHeaders(payload),
  };
}

async function toDlq(d: Delivery, m: JsMsg, reason: string): Promise<void> {
  const h = natsHeaders();
  h.set('Vafa-Reason', reason);
  h.set('Vafa-Source-Stream', STREAM_OFFERS);
  h.set('Vafa-Source-Subject', m.subject);
  h.set('Vafa-Source-Seq', String(m.seq));
  await d.js.publish(`dlq.webhook.${reason.replace(/[^a-z0-9_-]/gi, '_')}`, m.data, { msgID: `dlq:${STREAM_OFFERS}:${d.durable}:${m.seq}`, headers: h, expect: { streamName: STREAM_DLQ } }).catch((err: Error) =>
    d.log.error({ err: err.message, seq: m.seq }, 'could not copy a refused trigger to DLQ'));
}
