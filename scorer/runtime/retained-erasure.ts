/**
 * Erasure of a customer from what NATS retains (right to erasure, docs/security.md), once the scorer has
 * applied the `erase_customer` control message:
 *
 * - the card directory (KV `vafa_cards`): every revision whose value is the customer, by its token;
 * - `TX`: the messages of the customer's partition (`tx.<p>.>`) up to the control message, and the control
 *   message itself once applied;
 * - `OFFERS` and `DLQ`: every message naming the customer or one of their card tokens.
 *
 * Messages are found by reading the stream with an ordered consumer and decoding each body, and deleted
 * with JetStream's secure erase (`deleteMessage(stream, seq, true)`: the stored message is overwritten,
 * not only marked deleted). A JSON body names the customer when any string in it is the customer id, starts
 * with `<id>:` (stage and tier change ids), or is one of their card tokens; any other body (and the
 * headers, e.g. a DLQ reason's detail) when it holds one of those as a whole word. Deletes that move the
 * head of `TX` are recorded (erased-head.ts), so a scorer that lost its store still rebuilds from it.
 */
import { DeliverPolicy, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import type { Logger } from '../../platform/mod.js';
import { CARD_DIRECTORY_BUCKET, partitionFilter, STREAM_DLQ, STREAM_OFFERS, STREAM_TX } from '../../contracts/subjects.js';
import type { StreamErasure } from '../../contracts/erasure.js';
import { headBefore, recordErasedHead } from './erased-head.js';

/** The JetStream stream behind the card directory's KV bucket. */
export const CARD_DIRECTORY_STREAM = `KV_${CARD_DIRECTORY_BUCKET}`;
const CARD_SUBJECT_PREFIX = `$KV.${CARD_DIRECTORY_BUCKET}.`;

export interface RetainedErasureOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  customerId: string;
  /** The customer's partition of `TX`. */
  partition: number;
  /** Stream position of the `erase_customer` control message. */
  controlSeq: number;
  /** Whether the scorer has applied it (acked past it): only then is the control message deleted too. */
  controlApplied: boolean;
  /** Longest the reading of one stream may take, ms. Default 600,000. */
  deadlineMs?: number;
  /** Between two progress log lines, ms. Default 5,000. */
  progressMs?: number;
  logger?: Logger;
}

/** What one stream held of the customer. */
export interface RetainedErasure {
  streams: Record<string, StreamErasure>;
  /** Card-directory revisions mapping one of the customer's tokens to them, erased. */
  card_directory: number;
  /** Card tokens found for the customer (not returned to callers: used to search the other streams). */
  cardTokens: string[];
  ms: number;
}

/** Reading a stream took longer than the deadline; nothing of that stream was deleted (a retry resumes). */
export class StreamScanTimeoutError extends Error {
  override readonly name = 'StreamScanTimeoutError';
}

const READ_BATCH = 1_000;

/** Reads `stream` (optionally one filter) from its first message up to `untilSeq`, calling `visit` on each. */
export async function scanStream(js: JetStreamClient, jsm: JetStreamManager, stream: string, filter: string | undefined, untilSeq: number | undefined,
  visit: (m: JsMsg) => void, opts: { deadlineMs?: number; progressMs?: number; logger?: Logger } = {}): Promise<number> {
  const info = await jsm.streams.info(stream, filter ? { subjects_filter: filter } : undefined).catch((err: Error) => {
    if (/stream not found/i.test(err.message)) return undefined;
    throw err;
  });
  if (!info || info.state.messages === 0) return 0;
  if (filter && Object.keys(info.state.subjects ?? {}).length === 0) return 0;
  const last = Math.min(untilSeq ?? info.state.last_seq, info.state.last_seq);
  if (last < info.state.first_seq) return 0;
  const deadlineMs = opts.deadlineMs ?? 600_000;
  const progressMs = opts.progressMs ?? 5_000;
  const consumer = await js.consumers.get(stream, { deliver_policy: DeliverPolicy.All, ...(filter ? { filter_subjects: filter } : {}) });
  const messages = await consumer.consume({ max_messages: READ_BATCH });
  const started = Date.now();
  let nextLog = started + progressMs;
  let scanned = 0;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void messages.close();
  }, deadlineMs);
  try {
    for await (const m of messages) {
      if (m.seq > last) break;
      visit(m);
      scanned++;
      if (Date.now() >= nextLog) {
        nextLog = Date.now() + progressMs;
        opts.logger?.info({ stream, filter, seq: m.seq, last, scanned, ms: Date.now() - started }, 'erasure: reading the stream');
      }
      if (m.seq >= last || m.info.pending === 0) break;
    }
  } finally {
    clearTimeout(timer);
    await messages.close().catch(() => undefined);
  }
  if (timedOut) throw new StreamScanTimeoutError(`reading stream ${stream}${filter ? ` (${filter})` : ''} took longer than ${deadlineMs} ms (${scanned} messages read, up to position ${last}); nothing of it was deleted: retry`);
  return scanned;
}

/** Whether `text` holds `needle` as a whole word (not inside a longer id). */
function holdsWord(text: string, needle: string): boolean {
  const word = /[\w-]/;
  for (let at = text.indexOf(needle); at >= 0; at = text.indexOf(needle, at + 1)) {
    const before = text.charAt(at - 1); // '' at the start of the text
    const after = text[at + needle.length] ?? '';
    if (!word.test(before) && !word.test(after)) return true;
  }
  return false;
}

/** Decides whether a message names the customer (see the file comment). */
export class CustomerMatcher {
  private readonly tokens = new Set<string>();
  constructor(private readonly customerId: string) {}

  addTokens(tokens: Iterable<string>): void {
    for (const t of tokens) if (t) this.tokens.add(t);
  }

  get cardTokens(): string[] {
    return [...this.tokens];
  }

  private matchesString(s: string): boolean {
    return s === this.customerId || s.startsWith(`${this.customerId}:`) || this.tokens.has(s);
  }

  private matchesValue(v: unknown): boolean {
    if (typeof v === 'string') return this.matchesString(v);
    if (Array.isArray(v)) return v.some((x) => this.matchesValue(x));
    if (v && typeof v === 'object') return Object.values(v).some((x) => this.matchesValue(x));
    return false;
  }

  private matchesText(text: string): boolean {
    if (holdsWord(text, this.customerId)) return true;
    for (const t of this.tokens) if (holdsWord(text, t)) return true;
    return false;
  }

  matches(m: Pick<JsMsg, 'data' | 'headers'>): boolean {
    const text = Buffer.from(m.data).toString('utf8');
    let parsed: unknown;
    let json = false;
    try {
      parsed = JSON.parse(text);
      json = true;
    } catch {
      // not JSON: searched as text
    }
    if (json ? this.matchesValue(parsed) : this.matchesText(text)) return true;
    for (const [, values] of m.headers ?? []) if (values.some((v) => this.matchesText(v))) return true;
    return false;
  }
}

/**
 * A `TX` message is the customer's when its `customer_id` is theirs: another customer's event naming one
 * of their card tokens (a card registered to two profiles) stays. Bodies without the field (undecodable
 * ones) are matched like any other message.
 */
function ofCustomer(m: JsMsg, body: TxBody | undefined, customerId: string, matcher: CustomerMatcher): boolean {
  if (body && 'customer_id' in body) return body.customer_id === customerId;
  return matcher.matches(m);
}

/** A `TX` message's body as JSON, read once for both questions asked of it; undefined when it is not an object. */
type TxBody = { customer_id?: unknown; card_token?: unknown; card_tokens?: unknown };
function txBody(data: Uint8Array): TxBody | undefined {
  try {
    const body: unknown = JSON.parse(Buffer.from(data).toString('utf8'));
    return body && typeof body === 'object' ? (body as TxBody) : undefined;
  } catch {
    return undefined;
  }
}

/** Card tokens a TX message of the customer carries (a transaction's card, a profile's cards). */
function tokensOf(body: TxBody | undefined): string[] {
  const out: string[] = [];
  if (typeof body?.card_token === 'string') out.push(body.card_token);
  if (Array.isArray(body?.card_tokens)) for (const t of body.card_tokens) if (typeof t === 'string') out.push(t);
  return out;
}

async function eraseAll(jsm: JetStreamManager, stream: string, seqs: readonly number[]): Promise<number> {
  let deleted = 0;
  for (const seq of seqs) {
    try {
      if (await jsm.streams.deleteMessage(stream, seq, true)) deleted++;
    } catch (err) {
      // Gone already (a retry, or the stream's age limit): nothing left to erase.
      if (!/no message found|not found/i.test((err as Error).message)) throw err;
    }
  }
  return deleted;
}

/** Finds and securely erases the customer's retained messages and card-directory entries (see the file comment). */
export async function eraseRetained(opts: RetainedErasureOptions): Promise<RetainedErasure> {
  const t0 = performance.now();
  const scan = { ...(opts.deadlineMs !== undefined ? { deadlineMs: opts.deadlineMs } : {}), ...(opts.progressMs !== undefined ? { progressMs: opts.progressMs } : {}), ...(opts.logger ? { logger: opts.logger } : {}) };
  const matcher = new CustomerMatcher(opts.customerId);
  const streams: Record<string, StreamErasure> = {};

  // The directory first: its tokens are what OFFERS and DLQ may name instead of the customer id.
  const directorySeqs: number[] = [];
  const directoryTokens: string[] = [];
  const readDirectory = await scanStream(opts.js, opts.jsm, CARD_DIRECTORY_STREAM, undefined, undefined, (m) => {
    if (Buffer.from(m.data).toString('utf8') !== opts.customerId || !m.subject.startsWith(CARD_SUBJECT_PREFIX)) return;
    directorySeqs.push(m.seq);
    directoryTokens.push(m.subject.slice(CARD_SUBJECT_PREFIX.length));
  }, scan);
  matcher.addTokens(directoryTokens);

  const txSeqs: number[] = [];
  const txScanned = await scanStream(opts.js, opts.jsm, STREAM_TX, partitionFilter(opts.partition), opts.controlSeq, (m) => {
    const body = txBody(m.data);
    if (!ofCustomer(m, body, opts.customerId, matcher)) return;
    if (m.seq === opts.controlSeq && !opts.controlApplied) return;
    txSeqs.push(m.seq);
    matcher.addTokens(tokensOf(body));
  }, scan);

  const found: Record<string, number[]> = { [STREAM_TX]: txSeqs };
  const scanned: Record<string, number> = { [STREAM_TX]: txScanned };
  for (const stream of [STREAM_OFFERS, STREAM_DLQ]) {
    const seqs: number[] = [];
    scanned[stream] = await scanStream(opts.js, opts.jsm, stream, undefined, undefined, (m) => {
      if (matcher.matches(m)) seqs.push(m.seq);
    }, scan);
    found[stream] = seqs;
  }
  // Deletes only once every stream was read: a scan that timed out deleted nothing.
  const txHead = txSeqs.length > 0 ? await headBefore(opts.jsm, STREAM_TX) : undefined;
  for (const stream of [STREAM_TX, STREAM_OFFERS, STREAM_DLQ]) {
    streams[stream] = { scanned: scanned[stream] ?? 0, deleted: await eraseAll(opts.jsm, stream, found[stream] ?? []) };
  }
  // Deleting the stream's first messages moves its head as a loss would: recorded, so a scorer that lost its store still rebuilds.
  const erasedHead = txHead ? await recordErasedHead(opts.js, opts.jsm, txHead, txSeqs, STREAM_TX) : undefined;
  const cardDirectory = await eraseAll(opts.jsm, CARD_DIRECTORY_STREAM, directorySeqs);
  opts.logger?.info({ directoryRead: readDirectory, streams, cardDirectory, ...(erasedHead ? { erasedHead } : {}) }, 'erasure: retained messages erased');
  return { streams, card_directory: cardDirectory, cardTokens: matcher.cardTokens, ms: Math.round(performance.now() - t0) };
}
