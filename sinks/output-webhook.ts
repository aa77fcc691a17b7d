/**
 * An HTTP endpoint as an `Output`: a batch is offer triggers (the contract's JSON payload, keyed by
 * `offer_id`), each POSTed signed (`Vafa-Timestamp`, `Vafa-Signature`, as sinks/webhook.ts signs) with
 * `Idempotency-Key: <offer_id>`, so a replayed trigger is recognised by the receiver. A trigger is durable
 * once the receiver answered 2xx. A refusal of the payload itself (400, 410, 413, 422 by default) is
 * returned as a `Refusal` (`http_<status>`); any other answer, a network error or a timeout is retried
 * with capped back-off until it lands or the output is closed.
 */
import { sleep, FailureEpisode, type Logger } from '../platform/mod.js';
import { offerHeaders } from '../scorer/core/mod.js';
import { nextDelay, OutputGate, SinkClosedError, type Output, type OutputStats, type Refusal } from './output.js';
import { SIGNATURE_HEADER, signWebhook, TIMESTAMP_HEADER } from './webhook.js';

/** One trigger to deliver: its idempotency key and the JSON body as published. */
export interface WebhookTrigger {
  /** `offer_id` (the trigger's deterministic id). */
  key: string;
  body: Uint8Array;
  /** Routing header `Vafa-Subject` (the `OFFERS` subject). */
  subject?: string;
}

export type RefusedTrigger = Refusal & { trigger: WebhookTrigger; status: number };

export interface WebhookOutputOptions {
  url: string;
  /** HMAC-SHA-256 key of the signature. */
  secret: string;
  logger?: Logger;
  /** Most triggers accepted and not yet answered 2xx; a writer beyond it waits. Default 1,000. */
  maxPending?: number;
  /** Requests in flight at most. Default 8. */
  concurrency?: number;
  /** Per-request timeout, ms. Default 10,000. */
  timeoutMs?: number;
  /** First back-off after a failed attempt, ms; doubles up to `maxRetryMs`. Default 1,000. */
  retryMs?: number;
  /** Longest back-off, ms. Default 60,000. */
  maxRetryMs?: number;
  /** Statuses that mean "this payload will never be accepted". Default 400, 410, 413, 422. */
  permanentStatuses?: number[];
  /** Extra static headers (never logged). */
  headers?: Record<string, string>;
}

type Attempt = { kind: 'ok' } | { kind: 'retry'; reason: string } | { kind: 'refused'; status: number; reason: string };

export class WebhookOutput implements Output<readonly WebhookTrigger[], RefusedTrigger> {
  readonly name = 'webhook';
  private readonly gate: OutputGate;
  private readonly episode: FailureEpisode | undefined;
  private readonly aborted = new AbortController();
  private readonly permanent: ReadonlySet<number>;
  private readonly concurrency: number;
  private requests = 0;
  private readonly slots: (() => void)[] = [];
  private degraded = false;

  constructor(private readonly options: WebhookOutputOptions) {
    this.gate = new OutputGate(this.name, options.maxPending ?? 1000);
    this.episode = options.logger ? new FailureEpisode(options.logger, `webhook delivery to ${new URL(options.url).origin}`) : undefined;
    this.permanent = new Set(options.permanentStatuses ?? [400, 410, 413, 422]);
    this.concurrency = Math.max(1, options.concurrency ?? 8);
  }

  get stats(): OutputStats {
    return this.gate.stats(this.degraded);
  }

  async write(batch: readonly WebhookTrigger[]): Promise<RefusedTrigger[]> {
    if (batch.length === 0) return [];
    return await this.gate.run(batch.length, async () => {
      const outcomes = await Promise.all(batch.map((t) => this.deliver(t)));
      return outcomes.filter((o): o is RefusedTrigger => o !== undefined);
    });
  }

  /** Delivers one trigger: undefined once answered 2xx, a refusal for a permanent status. */
  private async deliver(trigger: WebhookTrigger): Promise<RefusedTrigger | undefined> {
    let delay: number | undefined;
    for (let attempt = 1; ; attempt++) {
      if (this.aborted.signal.aborted) throw new SinkClosedError(`${this.name}: closed before trigger ${trigger.key} was answered`);
      const out = await this.withSlot(() => this.post(trigger, attempt));
      if (out.kind === 'ok') {
        if (this.degraded) {
          this.degraded = false;
          this.episode?.ok();
        }
        return undefined;
      }
      if (out.kind === 'refused') return { trigger, status: out.status, reason: out.reason, detail: out.status ? `the receiver answered ${out.status} to trigger ${trigger.key}` : `trigger ${trigger.key} is not JSON` };
      this.degraded = true;
      this.episode?.fail(out.reason, { key: trigger.key, attempt });
      delay = nextDelay(delay, this.options.retryMs ?? 1000, this.options.maxRetryMs ?? 60_000);
      await sleep(delay, this.aborted.signal);
    }
  }

  private async withSlot<T>(work: () => Promise<T>): Promise<T> {
    while (this.requests >= this.concurrency) await new Promise<void>((r) => this.slots.push(r));
    this.requests++;
    try {
      return await work();
    } finally {
      this.requests--;
      this.slots.shift()?.();
    }
  }

  private async post(trigger: WebhookTrigger, attempt: number): Promise<Attempt> {
    const ts = Math.floor(Date.now() / 1000);
    let payload: Record<string, unknown>;
    try {
      payload = JSON.parse(Buffer.from(trigger.body).toString('utf8')) as Record<string, unknown>;
    } catch {
      return { kind: 'refused', status: 0, reason: 'not_json' };
    }
    const headers: Record<string, string> = {
      ...this.options.headers,
      'content-type': 'application/json',
      'user-agent': 'vafa-webhook/1',
      'Idempotency-Key': trigger.key,
      [TIMESTAMP_HEADER]: String(ts),
      [SIGNATURE_HEADER]: signWebhook(this.options.secret, ts, trigger.body),
      'Vafa-Delivery-Attempt': String(attempt),
      ...(trigger.subject ? { 'Vafa-Subject': trigger.subject } : {}),
      ...offerHeaders(payload),
    };
    try {
      const signal = AbortSignal.any([AbortSignal.timeout(this.options.timeoutMs ?? 10_000), this.aborted.signal]);
      const res = await fetch(this.options.url, { method: 'POST', headers, body: trigger.body, signal });
      await res.arrayBuffer().catch(() => undefined);
      if (res.status >= 200 && res.status < 300) return { kind: 'ok' };
      if (this.permanent.has(res.status)) return { kind: 'refused', status: res.status, reason: `http_${res.status}` };
      return { kind: 'retry', reason: `http_${res.status}` };
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      return { kind: 'retry', reason: e.name === 'TimeoutError' ? 'timeout' : (e.cause?.code ?? e.name) };
    }
  }

  async close(deadlineMs: number): Promise<void> {
    await this.gate.close(deadlineMs, () => this.aborted.abort());
    this.aborted.abort();
  }
}
