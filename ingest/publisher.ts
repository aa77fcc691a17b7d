/**
 * Pipelined JetStream publisher. Many publishes are in flight at once (bounded by a window), each
 * correlated with its own PubAck, so throughput is not bound by one round trip per message; a caller's
 * promise still resolves only when JetStream has persisted that message (or definitively failed).
 */
import { jetstream, type JetStreamClient, type PubAck } from '@nats-io/jetstream';
import { headers, type NatsConnection } from '@nats-io/transport-node';

export interface OutboundMessage {
  subject: string;
  /** `Nats-Msg-Id`: JetStream drops a re-sent id within the duplicate window and says so. */
  msgId: string;
  data: Uint8Array;
  headers?: Record<string, string>;
}

export type PublishResult =
  | { ok: true; seq: number; duplicate: boolean; stream: string }
  | { ok: false; error: string; retryable: boolean };

export interface PublisherOptions {
  /** Most publishes awaiting their PubAck at once. Default 4096. */
  window?: number;
  /** PubAck timeout per message, ms. Default 5000. */
  timeoutMs?: number;
  /** Only accept PubAcks from this stream (guards against a subject captured by another stream). */
  expectStream?: string;
}

export class JetStreamUnavailableError extends Error {
  override readonly name = 'JetStreamUnavailableError';
  constructor(readonly reason: string) {
    super(`JetStream unavailable: ${reason}`);
  }
}

export class Publisher {
  private readonly js: JetStreamClient;
  private readonly window: number;
  private readonly timeoutMs: number;
  private inFlight = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(private readonly nc: NatsConnection, opts: PublisherOptions = {}) {
    this.js = jetstream(nc, { timeout: opts.timeoutMs ?? 5000 });
    this.window = opts.window ?? 4096;
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.expectStream = opts.expectStream;
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') this.connected = false;
        else if (s.type === 'reconnect') this.connected = true;
      }
    })().catch(() => undefined);
  }

  private readonly expectStream: string | undefined;
  private connected = true;

  /** True when the connection is up; a closed or reconnecting connection fails fast instead of queueing. */
  get available(): boolean {
    return this.connected && !this.nc.isClosed() && !this.nc.isDraining();
  }

  get pending(): number {
    return this.inFlight;
  }

  /** Publishes every message, pipelined; results are in input order. Never throws per message. */
  async publishAll(msgs: readonly OutboundMessage[]): Promise<PublishResult[]> {
    if (!this.available) throw new JetStreamUnavailableError('not connected to NATS');
    return await Promise.all(msgs.map((m) => this.publish(m)));
  }

  async publish(m: OutboundMessage): Promise<PublishResult> {
    if (this.inFlight >= this.window) await new Promise<void>((r) => this.waiters.push(r));
    this.inFlight++;
    try {
      const h = headers();
      if (m.headers) for (const [k, v] of Object.entries(m.headers)) h.set(k, v);
      const ack: PubAck = await this.js.publish(m.subject, m.data, {
        msgID: m.msgId,
        headers: h,
        timeout: this.timeoutMs,
        ...(this.expectStream ? { expect: { streamName: this.expectStream } } : {}),
      });
      return { ok: true, seq: ack.seq, duplicate: ack.duplicate, stream: ack.stream };
    } catch (err) {
      const e = err as Error;
      const retryable = !/stream name|wrong last|expected/i.test(e.message);
      return { ok: false, error: `${e.name}: ${e.message}`, retryable };
    } finally {
      this.inFlight--;
      this.waiters.shift()?.();
    }
  }
}
