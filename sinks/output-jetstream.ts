/**
 * JetStream subjects (`OFFERS` triggers, `DLQ` messages) as an `Output`: a batch is messages with
 * deterministic `Nats-Msg-Id`s, published pipelined (platform/publisher.ts) and durable once JetStream has
 * persisted each one (a PubAck, also one that reports a duplicate). Publishes that fail (NATS restarting,
 * no PubAck in time, no quorum) are retried with capped back-off until they land or the output is closed;
 * a message larger than the server's `max_payload` can never land and is refused (`max_payload`).
 */
import { sleep, FailureEpisode, type Logger } from '../platform/mod.js';
import { nextDelay, OutputGate, SinkClosedError, type Output, type OutputStats, type Refusal } from './output.js';

/** A message with its `Nats-Msg-Id` (the shape of platform/publisher.ts's `OutboundMessage`). */
export interface OutboundMessage {
  subject: string;
  msgId: string;
  data: Uint8Array;
  headers?: Record<string, string>;
}

/** What the output needs of a pipelined JetStream publisher (platform/publisher.ts's `Publisher`). */
export interface MessagePublisher {
  /** False while disconnected: publishing then fails fast. */
  readonly available: boolean;
  /** Results in input order; `ok` once JetStream persisted the message (or reported it a duplicate). */
  publishAll(msgs: readonly OutboundMessage[]): Promise<({ ok: true } | { ok: false; error: string })[]>;
  close(): void;
}

/** A message JetStream can never take. */
export type RefusedMessage = Refusal & { message: OutboundMessage };

export interface JetStreamOutputOptions {
  logger?: Logger;
  /** The server's `max_payload` (bytes) when known (`nc.info?.max_payload`): larger messages are refused. */
  maxPayload?: () => number | undefined;
  /** Most messages accepted and not yet persisted; a writer beyond it waits. Default 100,000. */
  maxPending?: number;
  /** First back-off after a failed attempt, ms; doubles up to `maxRetryMs`. Default 200. */
  retryMs?: number;
  /** Longest back-off, ms. Default 5,000. */
  maxRetryMs?: number;
}

export class JetStreamOutput implements Output<readonly OutboundMessage[], RefusedMessage> {
  readonly name = 'jetstream';
  private readonly gate: OutputGate;
  private readonly episode: FailureEpisode | undefined;
  private readonly aborted = new AbortController();
  private degraded = false;
  private publisherClosed = false;

  /** @param publisher publishes pipelined (platform/publisher.ts); closed with the output. */
  constructor(private readonly publisher: MessagePublisher, private readonly options: JetStreamOutputOptions = {}) {
    this.gate = new OutputGate(this.name, options.maxPending);
    this.episode = options.logger ? new FailureEpisode(options.logger, 'publish to JetStream') : undefined;
  }

  get stats(): OutputStats {
    return this.gate.stats(this.degraded);
  }

  async write(batch: readonly OutboundMessage[]): Promise<RefusedMessage[]> {
    if (batch.length === 0) return [];
    return await this.gate.run(batch.length, () => this.publishDurably(batch));
  }

  private async publishDurably(batch: readonly OutboundMessage[]): Promise<RefusedMessage[]> {
    const refused: RefusedMessage[] = [];
    const limit = this.options.maxPayload?.();
    let todo = batch.filter((m) => {
      const size = m.data.byteLength + m.subject.length + m.msgId.length + Object.entries(m.headers ?? {}).reduce((n, [k, v]) => n + k.length + v.length + 4, 0);
      if (limit === undefined || size <= limit) return true;
      refused.push({ message: m, reason: 'max_payload', detail: `message of about ${size} bytes is larger than the server's max_payload (${limit})` });
      return false;
    });
    let delay: number | undefined;
    while (todo.length > 0) {
      if (this.aborted.signal.aborted) throw new SinkClosedError(`${this.name}: closed with ${todo.length} messages not persisted`);
      const results = this.publisher.available ? await this.publisher.publishAll(todo).catch(() => undefined) : undefined;
      const failed = results ? todo.filter((_, i) => results[i]?.ok !== true) : todo;
      if (failed.length === 0) break;
      const first = results?.find((r) => !r.ok);
      this.degraded = true;
      this.episode?.fail(first && !first.ok ? first.error : 'not connected to NATS', { failed: failed.length });
      todo = failed;
      delay = nextDelay(delay, this.options.retryMs ?? 200, this.options.maxRetryMs ?? 5000);
      await sleep(delay, this.aborted.signal).catch(() => undefined);
    }
    if (this.degraded) {
      this.degraded = false;
      this.episode?.ok();
    }
    return refused;
  }

  async close(deadlineMs: number): Promise<void> {
    await this.gate.close(deadlineMs, () => this.aborted.abort());
    this.aborted.abort();
    if (this.publisherClosed) return;
    this.publisherClosed = true;
    this.publisher.close();
  }
}
