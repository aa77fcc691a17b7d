/**
 * The ISO 8583 TCP listener: many switch connections, each a stream of length-framed messages handled
 * concurrently. Every request or advice whose MTI can be read is answered: a financial message,
 * completion or reversal `00` once its event is persisted in JetStream; an inquiry `00` (nothing
 * booked); undecodable ones `30` after the DLQ (card data masked). Refunds and credit adjustments are
 * refund events like any other financial message, and their reversals reversals like any other.
 * A frame whose MTI cannot be read is dead-lettered and closes its connection (it cannot be answered),
 * as does a bad length header; both are logged and counted.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { Counter, type Registry } from 'prom-client';
import type { TransactionV1 } from '../../contracts/events.js';
import type { Logger } from '../../platform/mod.js';
import type { CardDirectory, IngestService } from '../service.js';
import type { FieldError } from '../validation.js';
import { decode, encode, Iso8583DecodeError, responseHeader, type DecodedMessage, type FieldValue, type Iso8583Message, type PartialMessage } from './codec.js';
import { FrameReader, frameMessage, framingOf, type FramingOptions } from './framing.js';
import {
  buildResponse, DEFAULT_TABLES, mapToTransaction, responseMti, reversalOfBooked, type CompletionIds, type MappedEvent, type MappingRefusal, type MappingTables, type ResponseCodes,
} from './mapping.js';
import { maskForDlq, messageSummary } from './redact.js';
import { ISO8583_1987, resolveOptions, type Iso8583Options, type Iso8583Spec } from './spec.js';

/** Response codes (field 39) this adapter sends by default; a dialect or the tables can set others (`responseCodes`). */
export const RESPONSE_CODES: Readonly<ResponseCodes> = Object.freeze({
  approved: '00',
  invalidTransaction: '12',
  formatError: '30',
  systemMalfunction: '96',
});

/** Receives what cannot be decoded or processed: a short reason token, details (no card data) and the frame with card data masked. */
export type DlqSink = (reason: string, detail: Record<string, unknown>, raw: Buffer) => Promise<void>;

export interface Iso8583ListenerOptions {
  port: number;
  /** Default all interfaces. */
  host?: string;
  /** Where events go; only `ingest('transaction', items)` is used. */
  ingest: Pick<IngestService, 'ingest'>;
  /** Card token → customer; without it (or for an unlisted card) the token is the customer id. */
  cards?: CardDirectory;
  /**
   * Completion own id → the id it was booked under (completions.ts); without it a reversal naming a
   * completion names the completion's own id, which nothing was booked under.
   */
  completions?: CompletionIds;
  /** Key of the card tokenization (the same as the ingest service's). */
  tokenKey: string;
  /** Field definitions; default ISO 8583:1987. */
  spec?: Iso8583Spec;
  /** Wire options; default the contract's (ASCII MTI, hex-ASCII bitmaps, 2-byte binary length header). */
  options?: Partial<Iso8583Options>;
  /** Mapping tables; default {@link DEFAULT_TABLES}. */
  tables?: MappingTables;
  /** Where the listener's Prometheus counters register (`vafa_iso8583_*`); none without it. */
  registry?: Registry;
  logger: Logger;
  dlq: DlqSink;
  /** Largest message accepted; a longer length header closes the connection. Default 8192. */
  maxFrameBytes?: number;
  /** A connection silent this long is closed. Default 300 000 (switches send 0800 echo tests more often). */
  idleTimeoutMs?: number;
  /** Reference clock for the year of MMDD dates. Default the system clock. */
  now?: () => Date;
  /** Requests in process per connection before reading pauses. Default 512. */
  maxInFlightPerConnection?: number;
  /** Most events per ingest call; requests arriving together are batched. Default 500. */
  maxBatch?: number;
  /** How long `close()` waits for in-flight requests before cutting connections. Default 10 000. */
  closeTimeoutMs?: number;
}

/** Counters of one connection or of the whole listener. */
export interface Iso8583Counters {
  frames: number;
  /** Responses sent, by field 39. */
  responses: Record<string, number>;
  persisted: number;
  duplicates: number;
  network: number;
  dlq: number;
  /** Responses or other messages that need no answer. */
  unsolicited: number;
  /** Inquiries (no money moved): answered, not booked. */
  inquiries: number;
  /** Frames whose MTI could not be read: dead-lettered, the connection closed. */
  unreadable: number;
  /** Requests whose response could not be encoded even with field 39 alone. */
  unanswered: number;
}

export interface Iso8583Stats {
  connectionsOpen: number;
  connectionsTotal: number;
  framingErrors: number;
  totals: Iso8583Counters;
  connections: { id: number; remote: string; counters: Iso8583Counters }[];
}

export interface Iso8583Listener {
  /** The bound port (useful with port 0). */
  port: number;
  stats(): Iso8583Stats;
  /** Stops accepting, lets in-flight requests finish and be answered, then closes every connection. */
  close(): Promise<void>;
}

const newCounters = (): Iso8583Counters => ({ frames: 0, responses: {}, persisted: 0, duplicates: 0, network: 0, dlq: 0, unsolicited: 0, inquiries: 0, unreadable: 0, unanswered: 0 });

/** Prometheus counters of the listener. */
interface ListenerMetrics {
  /** Frames by outcome (`persisted`, `duplicate`, `network`, `inquiry`, `unsupported`, `dlq`, `failed`, `unsolicited`, `unreadable`). */
  messages: Counter<'outcome'>;
  /** Connections closed by the listener, by reason (`unreadable_mti`, `bad_length_header`, `idle`). */
  closed: Counter<'reason'>;
}

function listenerMetrics(registry: Registry | undefined): ListenerMetrics | undefined {
  if (!registry) return undefined;
  const get = <T>(name: string, make: () => T): T => (registry.getSingleMetric(name) as T | undefined) ?? make();
  return {
    messages: get('vafa_iso8583_messages_total', () => new Counter({ name: 'vafa_iso8583_messages_total', help: 'ISO 8583 frames by outcome', labelNames: ['outcome'], registers: [registry] })),
    closed: get('vafa_iso8583_connections_closed_total', () => new Counter({ name: 'vafa_iso8583_connections_closed_total', help: 'ISO 8583 connections the listener closed, by reason', labelNames: ['reason'], registers: [registry] })),
  };
}

type IngestOutcomeOne =
  | { status: 'persisted' | 'duplicate' }
  | { status: 'invalid'; errors: FieldError[] }
  | { status: 'failed'; error: string };

/** Collects the events of requests arriving together into one pipelined ingest call. */
class IngestBatcher {
  private queue: { tx: TransactionV1; resolve: (o: IngestOutcomeOne) => void }[] = [];
  private scheduled = false;

  constructor(private readonly ingest: Pick<IngestService, 'ingest'>, private readonly max: number, private readonly now: () => Date) {}

  submit(tx: TransactionV1): Promise<IngestOutcomeOne> {
    return new Promise((resolve) => {
      this.queue.push({ tx, resolve });
      if (this.queue.length >= this.max) void this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          void this.flush();
        });
      }
    });
  }

  private async flush(): Promise<void> {
    while (this.queue.length) {
      const batch = this.queue.splice(0, this.max);
      try {
        const outcome = await this.ingest.ingest('transaction', batch.map((b) => b.tx), this.now());
        batch.forEach((b, i) => {
          const r = outcome.results[i];
          if (!r) b.resolve({ status: 'failed', error: 'no result for this item' });
          else if (r.status === 'invalid') b.resolve({ status: 'invalid', errors: r.errors });
          else if (r.status === 'failed') b.resolve({ status: 'failed', error: r.error });
          else b.resolve({ status: r.status === 'accepted' ? 'persisted' : 'duplicate' });
        });
      } catch (err) {
        for (const b of batch) b.resolve({ status: 'failed', error: (err as Error).message });
      }
    }
  }
}

interface Shared {
  spec: Iso8583Spec;
  options: Iso8583Options;
  tables: MappingTables;
  opts: Iso8583ListenerOptions;
  now: () => Date;
  batcher: IngestBatcher;
  framing: Omit<FramingOptions, 'maxFrameBytes'>;
  codes: ResponseCodes;
  totals: Iso8583Counters;
  framingErrors: number;
  metrics: ListenerMetrics | undefined;
}

/** Counts on the connection's counters and the listener's totals. */
function bump(counters: Iso8583Counters, totals: Iso8583Counters, key: Exclude<keyof Iso8583Counters, 'responses'>): void {
  counters[key]++;
  totals[key]++;
}

class Connection {
  readonly counters = newCounters();
  private readonly reader: FrameReader;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly log: Logger;
  private closing = false;
  private paused = false;
  /** Whether the socket is corked until the end of this tick (responses of one batch go out in one write). */
  private corked = false;
  private endTimer: NodeJS.Timeout | undefined;
  readonly closed: Promise<void>;

  constructor(readonly id: number, readonly socket: Socket, readonly remote: string, private readonly s: Shared) {
    this.log = s.opts.logger.child({ conn: id, remote });
    this.reader = new FrameReader({ ...s.framing, maxFrameBytes: s.opts.maxFrameBytes ?? 8192 });
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.setNoDelay(true);
    socket.setTimeout(s.opts.idleTimeoutMs ?? 300_000, () => {
      this.log.info({ buffered: this.reader.buffered }, 'iso8583 connection idle: closing');
      s.metrics?.closed.inc({ reason: 'idle' });
      this.shutdown();
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => this.log.info({ code: err.code }, 'iso8583 connection error'));
    socket.once('close', () => {
      if (this.endTimer) clearTimeout(this.endTimer);
      this.log.info({ counters: this.counters, buffered: this.reader.buffered }, 'iso8583 connection closed');
    });
  }

  private get max(): number {
    return this.s.opts.maxInFlightPerConnection ?? 512;
  }

  private onData(chunk: Buffer): void {
    if (this.closing) return;
    const { frames, error } = this.reader.push(chunk);
    for (const frame of frames) this.track(this.handle(frame));
    if (error) {
      this.s.framingErrors++;
      this.s.metrics?.closed.inc({ reason: 'bad_length_header' });
      this.log.warn({ reason: error.reason, header: error.headerHex }, 'iso8583 bad length header: closing this connection');
      this.shutdown();
      return;
    }
    if (this.inFlight.size >= this.max && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }

  private track(p: Promise<void>): void {
    this.inFlight.add(p);
    void p.finally(() => {
      this.inFlight.delete(p);
      if (this.paused && !this.closing && this.inFlight.size < this.max / 2) {
        this.paused = false;
        this.socket.resume();
      }
      if (this.closing && this.inFlight.size === 0) this.end();
    });
  }

  /** Stops reading; ends the socket once every in-flight request is answered. */
  shutdown(): void {
    if (this.closing) return;
    this.closing = true;
    this.socket.pause();
    if (this.inFlight.size === 0) this.end();
  }

  private end(): void {
    if (this.endTimer) return;
    this.socket.resume();
    this.socket.end();
    this.endTimer = setTimeout(() => this.socket.destroy(), 2000);
    this.endTimer.unref();
  }

  private outcome(outcome: string): void {
    this.s.metrics?.messages.inc({ outcome });
  }

  /**
   * Answers a request with field 39 `code` (a key of the response codes) and the echoed fields. When an
   * echoed field cannot be written under the spec, the response goes with field 39 alone.
   */
  private respond(req: { mti: string; fields: Record<number, FieldValue>; header?: Buffer }, answer: keyof ResponseCodes): void {
    const code = this.s.codes[answer];
    const header = responseHeader(req.header, this.s.options);
    const msg = buildResponse(req, code, header, this.s.tables.responseEchoFields);
    if (!msg) return;
    let out: Buffer | undefined;
    for (let attempt = 0; attempt < 2 && !out; attempt++) {
      const framed = this.encoded(attempt === 0 ? msg : { ...msg, fields: { 39: code } });
      if (typeof framed === 'string') this.log.warn({ err: framed, ...messageSummary(req, false) }, 'iso8583 response could not be encoded with its echoed fields');
      else out = framed;
    }
    if (!out) {
      bump(this.counters, this.s.totals, 'unanswered');
      this.log.error({ ...messageSummary(req, false), code }, 'iso8583 response could not be encoded: not answered');
      return;
    }
    if (this.socket.destroyed || !this.socket.writable) {
      this.log.warn({ ...messageSummary(req, false), code }, 'iso8583 connection gone before the response');
      return;
    }
    this.send(out);
    this.counters.responses[code] = (this.counters.responses[code] ?? 0) + 1;
    this.s.totals.responses[code] = (this.s.totals.responses[code] ?? 0) + 1;
  }

  /** The framed response, or why the spec cannot carry it. */
  private encoded(msg: Iso8583Message): Buffer | string {
    try {
      return frameMessage(encode(msg, this.s.spec, this.s.options), this.s.framing);
    } catch (err) {
      return (err as Error).message;
    }
  }

  /**
   * Writes a response; the responses written in the same tick (a batch's outcomes settle together) leave
   * in one write rather than one system call each.
   */
  private send(out: Buffer): void {
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(out);
  }

  /**
   * Remembers the own id of a completion booked under its authorisation's, and makes a reversal naming a
   * completion one of the id it was booked under. Undefined (answered 96, the switch retries) when the
   * completion ids cannot be reached.
   */
  private async withCompletionIds(mapped: MappedEvent, summary: Record<string, unknown>, msg: DecodedMessage): Promise<TransactionV1 | undefined> {
    const ids = this.s.opts.completions;
    const tx = mapped.tx;
    if (!ids || (mapped.completionOwnId === undefined && !mapped.reversesCompletion)) return tx;
    try {
      if (mapped.completionOwnId !== undefined) {
        await ids.remember(mapped.completionOwnId, tx.tx_id);
        return tx;
      }
      const original = tx.reverses_tx_id;
      if (original === undefined) throw new Error('a reversal of a completion names no reverses_tx_id');
      const booked = await ids.bookedIdOf(original);
      return booked === undefined ? tx : reversalOfBooked(tx, booked);
    } catch (err) {
      this.log.error({ ...summary, err: (err as Error).message }, 'iso8583 completion ids unavailable');
      this.outcome('failed');
      this.respond(msg, 'systemMalfunction');
      return undefined;
    }
  }

  /** Sends to the DLQ; false when that failed (then nothing may be acknowledged). */
  private async deadLetter(reason: string, detail: Record<string, unknown>, raw: Buffer, outcome: DecodedMessage | Iso8583DecodeError): Promise<boolean> {
    try {
      await this.s.opts.dlq(reason, { source: 'iso8583', conn: this.id, remote: this.remote, ...detail }, maskForDlq(raw, this.s.spec, outcome, this.s.options));
      bump(this.counters, this.s.totals, 'dlq');
      return true;
    } catch (err) {
      this.log.error({ err: (err as Error).message, reason }, 'iso8583 DLQ publish failed');
      return false;
    }
  }

  private async handle(frame: Buffer): Promise<void> {
    bump(this.counters, this.s.totals, 'frames');
    try {
      await this.process(frame);
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'iso8583 message handling failed');
    }
  }

  // The helpers below are called last, or before nothing that must keep its turn: an async helper runs
  // to its first await at once, so what it publishes or answers happens in the same turn as when it was inline.
  private async process(frame: Buffer): Promise<void> {
    const { spec, options } = this.s;
    const now = this.s.now();
    let msg: DecodedMessage;
    try {
      msg = decode(frame, spec, options);
    } catch (err) {
      await this.undecodable(frame, err);
      return;
    }
    const summary = messageSummary(msg);
    const cls = this.s.tables.messageClasses[msg.mti];
    if (!cls) {
      this.unsupportedMti(msg, summary);
      return;
    }
    if (cls === 'network') {
      bump(this.counters, this.s.totals, 'network');
      this.outcome('network');
      this.respond(msg, 'approved');
      return;
    }
    const mapped = mapToTransaction(msg, { now, tokenKey: this.s.opts.tokenKey, tables: this.s.tables });
    if (!mapped.ok) {
      await this.unmappable(mapped, summary, frame, msg);
      return;
    }
    if (mapped.kind === 'no_event') {
      bump(this.counters, this.s.totals, 'inquiries');
      this.outcome('inquiry');
      this.log.debug({ ...summary, reason: mapped.reason }, 'iso8583 inquiry: nothing to book');
      this.respond(msg, 'approved');
      return;
    }
    const tx = await this.withCompletionIds(mapped, summary, msg);
    if (!tx) return;
    await this.book(tx, summary, msg, frame);
  }

  /** A frame that does not decode: to the DLQ, answered when its MTI was read, else the connection is closed. */
  private async undecodable(frame: Buffer, err: unknown): Promise<void> {
    const e = err instanceof Iso8583DecodeError ? err : new Iso8583DecodeError('end', 0, 'unexpected decoder failure');
    const partial: PartialMessage = e.partial;
    const summary = messageSummary(partial, false);
    this.log.warn({ field: e.field, offset: e.offset, reason: e.reason, ...summary }, 'iso8583 undecodable message');
    const ok = await this.deadLetter('decode_error', { field: e.field, offset: e.offset, reason: e.reason, ...summary }, frame, e);
    if (partial.mti) {
      this.outcome(ok ? 'dlq' : 'failed');
      this.respond({ mti: partial.mti, fields: partial.fields, ...(partial.header ? { header: partial.header } : {}) }, ok ? 'formatError' : 'systemMalfunction');
      return;
    }
    // Without an MTI there is no response MTI: the switch would wait for an answer that cannot come.
    bump(this.counters, this.s.totals, 'unreadable');
    this.outcome('unreadable');
    this.s.metrics?.closed.inc({ reason: 'unreadable_mti' });
    this.log.warn({ field: e.field, offset: e.offset, reason: e.reason }, 'iso8583 frame without a readable MTI: cannot be answered, closing this connection');
    this.shutdown();
  }

  /** An MTI the tables have no class for: a response needs no answer, a request is answered "invalid transaction". */
  private unsupportedMti(msg: DecodedMessage, summary: Record<string, unknown>): void {
    if (responseMti(msg.mti) === undefined) {
      bump(this.counters, this.s.totals, 'unsolicited');
      this.outcome('unsolicited');
      this.log.debug(summary, 'iso8583 message needs no answer');
      return;
    }
    this.log.info(summary, 'iso8583 MTI not supported');
    this.outcome('unsupported');
    this.respond(msg, 'invalidTransaction');
  }

  /** A message the mapping refused: a transaction we do not take is answered so; a malformed one goes to the DLQ. */
  private async unmappable(mapped: MappingRefusal, summary: Record<string, unknown>, frame: Buffer, msg: DecodedMessage): Promise<void> {
    if (mapped.kind === 'invalidTransaction') {
      this.log.info({ ...summary, field: mapped.field, reason: mapped.reason }, 'iso8583 transaction not supported');
      this.outcome('unsupported');
      this.respond(msg, 'invalidTransaction');
      return;
    }
    this.log.warn({ ...summary, field: mapped.field, reason: mapped.reason }, 'iso8583 message cannot be mapped');
    const ok = await this.deadLetter('format_error', { field: mapped.field, reason: mapped.reason, ...summary }, frame, msg);
    this.outcome(ok ? 'dlq' : 'failed');
    this.respond(msg, ok ? 'formatError' : 'systemMalfunction');
  }

  /** Finds the card's customer (when there is a card directory), hands the event to the batcher and answers by its outcome. */
  private async book(tx: TransactionV1, summary: Record<string, unknown>, msg: DecodedMessage, frame: Buffer): Promise<void> {
    if (this.s.opts.cards && tx.card_token) {
      try {
        const customer = await this.s.opts.cards.lookup(tx.card_token);
        if (customer) tx.customer_id = customer;
      } catch (err) {
        this.log.error({ ...summary, err: (err as Error).message }, 'iso8583 card directory unavailable');
        this.outcome('failed');
        this.respond(msg, 'systemMalfunction');
        return;
      }
    }
    const result = await this.s.batcher.submit(tx);
    switch (result.status) {
      case 'persisted':
      case 'duplicate':
        bump(this.counters, this.s.totals, result.status === 'persisted' ? 'persisted' : 'duplicates');
        this.outcome(result.status);
        if (this.log.isLevelEnabled('debug')) this.log.debug({ ...summary, tx_id: tx.tx_id, status: result.status }, 'iso8583 event persisted');
        this.respond(msg, 'approved');
        return;
      case 'invalid': {
        this.log.warn({ ...summary, tx_id: tx.tx_id, errors: result.errors }, 'iso8583 event refused by validation');
        const ok = await this.deadLetter('invalid_event', { errors: result.errors, tx_id: tx.tx_id, ...summary }, frame, msg);
        this.outcome(ok ? 'dlq' : 'failed');
        this.respond(msg, ok ? 'formatError' : 'systemMalfunction');
        return;
      }
      case 'failed':
        this.log.warn({ ...summary, tx_id: tx.tx_id, error: result.error }, 'iso8583 event not persisted');
        this.outcome('failed');
        this.respond(msg, 'systemMalfunction');
        return;
    }
  }
}

/**
 * Starts the listener. Resolves once it is bound.
 * @throws Iso8583SpecError for bad options; an Error when the length header is `none` (TCP needs framing).
 */
export async function startIso8583Listener(opts: Iso8583ListenerOptions): Promise<Iso8583Listener> {
  const options = resolveOptions(opts.options ?? {});
  if (options.lengthHeader === 'none') throw new Error('the ISO 8583 listener needs a length header (binary2 or ascii4)');
  const now = opts.now ?? (() => new Date());
  const tables = opts.tables ?? DEFAULT_TABLES;
  const shared: Shared = {
    spec: opts.spec ?? ISO8583_1987,
    options,
    tables,
    opts,
    now,
    batcher: new IngestBatcher(opts.ingest, opts.maxBatch ?? 500, now),
    framing: framingOf(options),
    codes: tables.responseCodes ?? RESPONSE_CODES,
    totals: newCounters(),
    framingErrors: 0,
    metrics: listenerMetrics(opts.registry),
  };
  const connections = new Map<number, Connection>();
  let nextId = 1;
  let total = 0;
  let closing = false;
  const server: Server = createServer((socket) => {
    if (closing) {
      socket.destroy();
      return;
    }
    const id = nextId++;
    total++;
    const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    const conn = new Connection(id, socket, remote, shared);
    connections.set(id, conn);
    socket.once('close', () => connections.delete(id));
    opts.logger.info({ conn: id, remote }, 'iso8583 connection opened');
  });
  server.on('error', (err) => opts.logger.error({ err: err.message }, 'iso8583 listener error'));
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(opts.port, opts.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  opts.logger.info({ port, lengthHeader: options.lengthHeader, bitmap: options.bitmapEncoding }, 'iso8583 listener started');

  return {
    port,
    stats: () => ({
      connectionsOpen: connections.size,
      connectionsTotal: total,
      framingErrors: shared.framingErrors,
      totals: structuredClone(shared.totals),
      connections: [...connections.values()].map((c) => ({ id: c.id, remote: c.remote, counters: structuredClone(c.counters) })),
    }),
    async close() {
      if (closing) return;
      closing = true;
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      const conns = [...connections.values()];
      for (const c of conns) c.shutdown();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, opts.closeTimeoutMs ?? 10_000);
      });
      await Promise.race([Promise.all(conns.map((c) => c.closed)), timeout]);
      if (timer) clearTimeout(timer);
      for (const c of connections.values()) c.socket.destroy();
      await stopped;
      opts.logger.info({ totals: shared.totals }, 'iso8583 listener closed');
    },
  };
}
