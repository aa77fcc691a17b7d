/**
 * Pipelined JetStream publisher. Messages go out as core-NATS publishes with a reply subject under one
 * wildcard inbox; the server's PubAck for each comes back on its own reply subject and settles that
 * message's promise. Many publishes are in flight at once (bounded by a window), no per-message request
 * object or subscription is created, and a caller still learns of each message only once JetStream has
 * persisted it (or definitively failed: no responders, a JetStream error, or the ack timeout).
 */
import { createInbox, headers, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/transport-node';

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
  /** Most publishes awaiting their PubAck at once (bounds memory under a stalled server). Default 65,536. */
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

const DECODER = new TextDecoder();

interface InFlight {
  resolve: (r: PublishResult) => void;
  deadline: number;
}

export class Publisher {
  private readonly window: number;
  private readonly timeoutMs: number;
  private readonly expectStream: string | undefined;
  private readonly inbox: string;
  private readonly sub: Subscription;
  private readonly inFlight = new Map<number, InFlight>();
  private readonly backlog: { m: OutboundMessage; resolve: (r: PublishResult) => void }[] = [];
  private next = 0;
  private connected = true;
  private sweeper: NodeJS.Timeout | undefined;
  private refill: NodeJS.Immediate | undefined;
  /** Sent, not yet handed to the client: published together at the end of the event loop's turn. */
  private readonly outbox: { id: number; m: OutboundMessage }[] = [];
  private outboxTurn: NodeJS.Immediate | undefined;

  constructor(private readonly nc: NatsConnection, opts: PublisherOptions = {}) {
    this.window = opts.window ?? 65_536;
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.expectStream = opts.expectStream;
    this.inbox = createInbox();
    this.sub = nc.subscribe(`${this.inbox}.*`, { callback: (_err, msg) => this.onAck(msg) });
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') this.connected = false;
        else if (s.type === 'reconnect') this.connected = true;
      }
    })().catch(() => undefined);
  }

  /** True when the connection is up; a closed or reconnecting connection fails fast instead of queueing. */
  get available(): boolean {
    return this.connected && !this.nc.isClosed() && !this.nc.isDraining();
  }

  get pending(): number {
    return this.inFlight.size + this.backlog.length;
  }

  /** Publishes every message, pipelined; results are in input order. Never throws per message. */
  async publishAll(msgs: readonly OutboundMessage[]): Promise<PublishResult[]> {
    if (!this.available) throw new JetStreamUnavailableError('not connected to NATS');
    return await Promise.all(msgs.map((m) => this.publish(m)));
  }

  publish(m: OutboundMessage): Promise<PublishResult> {
    return new Promise<PublishResult>((resolve) => {
      if (this.inFlight.size < this.window) this.send(m, resolve);
      else this.backlog.push({ m, resolve });
    });
  }

  private send(m: OutboundMessage, resolve: (r: PublishResult) => void): void {
    const id = ++this.next;
    this.inFlight.set(id, { resolve, deadline: Date.now() + this.timeoutMs });
    this.sweeper ??= setInterval(() => this.sweep(), Math.min(250, this.timeoutMs));
    this.outbox.push({ id, m });
    this.outboxTurn ??= setImmediate(() => this.publishOutbox());
  }

  /**
   * Publishes what was sent this turn of the event loop, in order. The NATS client writes its buffer to
   * the socket on a microtask, and Node runs microtasks after each socket's callback, so publishing at
   * once made one write a request when requests come one event each (a third of phase 2b's ingest
   * process in writes); at the end of the turn, the requests read in it share one.
   */
  private publishOutbox(): void {
    this.outboxTurn = undefined;
    const outbox = this.outbox;
    for (let i = 0; i < outbox.length; i++) {
      const { id, m } = outbox[i] as { id: number; m: OutboundMessage };
      // Settled meanwhile (the publisher closed): nothing to publish.
      if (!this.inFlight.has(id)) continue;
      const h = this.headersOf(m);
      if (h instanceof Error) {
        this.settle(id, { ok: false, error: `invalid message header: ${h.message}`, retryable: false });
        continue;
      }
      try {
        this.nc.publish(m.subject, m.data, { reply: `${this.inbox}.${id}`, headers: h });
      } catch (err) {
        this.settle(id, { ok: false, error: `${(err as Error).name}: ${(err as Error).message}`, retryable: true });
      }
    }
    outbox.length = 0;
  }

  /** The message's headers, or the error a header that NATS refuses (a line break in a value) gave. */
  private headersOf(m: OutboundMessage): MsgHdrs | Error {
    try {
      const h = headers();
      h.set('Nats-Msg-Id', m.msgId);
      if (this.expectStream) h.set('Nats-Expected-Stream', this.expectStream);
      if (m.headers) for (const [k, v] of Object.entries(m.headers)) h.set(k, v);
      return h;
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
  }

  private settle(id: number, r: PublishResult): void {
    const f = this.inFlight.get(id);
    if (!f) return;
    this.inFlight.delete(id);
    f.resolve(r);
    if (this.backlog.length) {
      // Refill in bulk on the next turn: one write of many messages, not one per ack.
      this.refill ??= setImmediate(() => {
        this.refill = undefined;
        while (this.inFlight.size < this.window) {
          const q = this.backlog.shift();
          if (!q) break;
          this.send(q.m, q.resolve);
        }
      });
    } else if (this.inFlight.size === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  private onAck(msg: Msg): void {
    const id = Number(msg.subject.slice(this.inbox.length + 1));
    if (msg.headers?.hasError) {
      const code = msg.headers.code;
      this.settle(id, { ok: false, error: code === 503 ? 'no responders: JetStream is not listening on this subject' : `NATS status ${code} ${msg.headers.description}`, retryable: true });
      return;
    }
    try {
      const ack = JSON.parse(DECODER.decode(msg.data)) as { stream?: string; seq?: number; duplicate?: boolean; error?: { code: number; err_code?: number; description: string } };
      if (ack.error) {
        // 503 (unavailable / no quorum) is worth retrying; a wrong expected stream or similar is not.
        this.settle(id, { ok: false, error: `JetStream error ${ack.error.err_code ?? ack.error.code}: ${ack.error.description}`, retryable: ack.error.code === 503 || ack.error.code >= 500 });
      } else {
        this.settle(id, { ok: true, seq: ack.seq ?? 0, duplicate: ack.duplicate === true, stream: ack.stream ?? '' });
      }
    } catch (err) {
      this.settle(id, { ok: false, error: `unreadable PubAck: ${(err as Error).message}`, retryable: true });
    }
  }

  private sweep(): void {
    const now = Date.now();
    for (const [id, f] of this.inFlight) {
      if (f.deadline <= now) this.settle(id, { ok: false, error: `no PubAck within ${this.timeoutMs} ms`, retryable: true });
    }
  }

  /** Stops listening for acks; anything still in flight fails as retryable. */
  close(): void {
    for (const q of this.backlog.splice(0)) q.resolve({ ok: false, error: 'publisher closed', retryable: true });
    for (const id of [...this.inFlight.keys()]) this.settle(id, { ok: false, error: 'publisher closed', retryable: true });
    if (this.outboxTurn) clearImmediate(this.outboxTurn);
    this.outboxTurn = undefined;
    this.outbox.length = 0;
    this.sub.unsubscribe();
  }
}
