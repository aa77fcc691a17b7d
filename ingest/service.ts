/**
 * The ingest service: validates items of each contract kind, tokenizes card numbers, partitions by
 * customer and publishes to stream `TX` pipelined. Shared by the HTTP API and the ISO 8583 adapter.
 * An item's result is `accepted` or `duplicate` only once JetStream has persisted it.
 */
import {
  CustomerProfileV1, FeedbackV1, RedemptionV1, TransactionV1, isRealDate,
  type StoredProfileV1, type StreamKind,
} from '../contracts/events.js';
import { partitionOf, txMsgId, txSubject } from '../contracts/subjects.js';
import { tokenizePan } from './tokenize.js';
import { consentErrors, Validator, type FieldError } from './validation.js';
import { JetStreamUnavailableError, maskPans, type OutboundMessage, type Publisher, type PublishResult } from '../platform/mod.js';
import { createHash } from 'node:crypto';

export type ItemResult =
  | { index: number; status: 'accepted' | 'duplicate'; id: string; seq: number }
  | { index: number; status: 'invalid'; id?: string; errors: FieldError[] }
  | { index: number; status: 'failed'; id?: string; error: string };

export interface IngestOutcome {
  results: ItemResult[];
  accepted: number;
  duplicates: number;
  invalid: number;
  failed: number;
  /** True when at least one failure was JetStream being unavailable (→ 503, safe to retry the whole batch). */
  unavailable: boolean;
}

/** Where card tokens map to customers (profiles register their cards; the ISO 8583 adapter looks them up). */
export interface CardDirectory {
  register(token: string, customerId: string): Promise<void>;
  lookup(token: string): Promise<string | undefined>;
}

export interface IngestServiceOptions {
  publisher: Publisher;
  partitions: number;
  tokenKey: string;
  cards?: CardDirectory;
}

const validators = {
  transaction: new Validator<TransactionV1>(TransactionV1),
  profile: new Validator<CustomerProfileV1>(CustomerProfileV1),
  feedback: new Validator<FeedbackV1>(FeedbackV1),
  redemption: new Validator<RedemptionV1>(RedemptionV1),
};

function idOf(kind: StreamKind, v: Record<string, unknown>): string {
  switch (kind) {
    case 'transaction': return String(v.tx_id);
    case 'feedback': return String(v.feedback_id);
    case 'redemption': return String(v.redemption_id);
    case 'profile': {
      // A profile upsert's identity is its content: re-sending the same profile is a duplicate, a changed one is new.
      const digest = createHash('sha256').update(JSON.stringify(v)).digest('hex').slice(0, 24);
      return `${String(v.customer_id)}:${digest}`;
    }
  }
}

/** Adds an error when `v[field]` is text that names no real date. */
function realDate(v: Record<string, unknown>, field: string, errors: FieldError[]): void {
  const raw = v[field];
  if (typeof raw === 'string' && !isRealDate(raw)) errors.push({ field, message: 'is not a real date' });
}

/** What the schema cannot say (real dates, a reversal or refund of itself, a refund that is also a reversal, survey fields). */
function semanticErrors(kind: StreamKind, v: Record<string, unknown>): FieldError[] {
  const errors: FieldError[] = [];
  if (kind === 'transaction') {
    realDate(v, 'occurred_at', errors);
    realDate(v, 'due_date', errors);
    if (v.reverses_tx_id !== undefined && v.reverses_tx_id === v.tx_id) errors.push({ field: 'reverses_tx_id', message: 'a transaction cannot reverse itself' });
    if (v.kind === 'refund') {
      if (v.reverses_tx_id !== undefined) errors.push({ field: 'reverses_tx_id', message: 'a refund cannot also be a reversal (a reversal of a refund is its own event naming the refund in reverses_tx_id)' });
      if (v.refund_of_tx_id !== undefined && v.refund_of_tx_id === v.tx_id) errors.push({ field: 'refund_of_tx_id', message: 'a refund cannot refund itself' });
    } else if (v.refund_of_tx_id !== undefined) {
      errors.push({ field: 'refund_of_tx_id', message: 'is only allowed on a refund (kind: refund)' });
    }
  } else if (kind === 'profile') {
    realDate(v, 'opened_at', errors);
    realDate(v, 'birth_date', errors);
    realDate(v, 'closed_at', errors);
    if (v.referred_by !== undefined && v.referred_by === v.customer_id) errors.push({ field: 'referred_by', message: 'a customer cannot refer themselves' });
    errors.push(...consentErrors(v));
  } else if (kind === 'feedback') {
    realDate(v, 'occurred_at', errors);
    if (v.kind === 'survey') {
      if (v.scale === undefined) errors.push({ field: 'scale', message: 'is required for a survey (csat5 or nps10)' });
      if (v.score === undefined) errors.push({ field: 'score', message: 'is required for a survey' });
    }
    if (v.score !== undefined && v.scale === undefined && v.kind !== 'survey') errors.push({ field: 'scale', message: 'is required when a score is given' });
    const score = v.score as number | undefined;
    if (score !== undefined && v.scale === 'csat5' && (score < 1 || score > 5)) errors.push({ field: 'score', message: 'must be 1–5 on the csat5 scale' });
    if (v.kind === 'resolution' && v.resolves_feedback_id === undefined) errors.push({ field: 'resolves_feedback_id', message: 'is required for a resolution' });
  } else if (kind === 'redemption') {
    realDate(v, 'occurred_at', errors);
  }
  return errors;
}

export class IngestService {
  constructor(private readonly opts: IngestServiceOptions) {}

  get available(): boolean {
    return this.opts.publisher.available;
  }

  /**
   * Validates and normalises one item; the value is what travels on `TX`. The item is left as it was,
   * unless `owned` says it is the caller's to give away (a line parsed for this alone): then it may be
   * filled in place and become the value.
   */
  prepare(kind: StreamKind, item: unknown, receivedAt: Date, owned = false): { ok: true; value: Record<string, unknown>; id: string } | { ok: false; errors: FieldError[]; id?: string } {
    const validator = validators[kind];
    const checked = owned ? validator.validateOwned(item) : validator.validate(item);
    const rawId = typeof item === 'object' && item !== null ? (item as Record<string, unknown>)[`${kind === 'transaction' ? 'tx' : kind}_id`] : undefined;
    const id = typeof rawId === 'string' ? rawId : undefined;
    if (!checked.ok) return { ok: false, errors: checked.errors, ...(id ? { id } : {}) };
    const value = checked.value as Record<string, unknown>;
    const errors = semanticErrors(kind, value);
    if (errors.length) return { ok: false, errors, ...(id ? { id } : {}) };
    if (kind === 'profile') {
      const { cards, ...rest } = value as CustomerProfileV1;
      const stored: StoredProfileV1 = { ...rest, ...(cards?.length ? { card_tokens: cards.map((c) => tokenizePan(c, this.opts.tokenKey)) } : {}) };
      return { ok: true, value: stored as Record<string, unknown>, id: idOf(kind, stored as Record<string, unknown>) };
    }
    if (kind === 'redemption' && value.occurred_at === undefined) value.occurred_at = receivedAt.toISOString();
    // A customer may type a card number into free text; it must not travel or be stored.
    if (kind === 'feedback' && typeof value.text === 'string') value.text = maskPans(value.text);
    return { ok: true, value, id: idOf(kind, value) };
  }

  toMessage(kind: StreamKind, value: Record<string, unknown>, id: string): OutboundMessage {
    const partition = partitionOf(String(value.customer_id), this.opts.partitions);
    return { subject: txSubject(partition, kind), msgId: txMsgId(kind, id), data: Buffer.from(JSON.stringify(value)) };
  }

  /** Validates every item, publishes the valid ones pipelined, and reports each by index. */
  async ingest(kind: StreamKind, items: readonly unknown[], receivedAt = new Date()): Promise<IngestOutcome> {
    const results: ItemResult[] = new Array(items.length);
    const toSend: { index: number; id: string; msg: OutboundMessage; value: Record<string, unknown> }[] = [];
    items.forEach((item, index) => {
      const p = this.prepare(kind, item, receivedAt);
      if (!p.ok) results[index] = { index, status: 'invalid', errors: p.errors, ...(p.id ? { id: p.id } : {}) };
      else toSend.push({ index, id: p.id, msg: this.toMessage(kind, p.value, p.id), value: p.value });
    });
    let unavailable = false;
    if (toSend.length) {
      let published: PublishResult[];
      try {
        published = await this.opts.publisher.publishAll(toSend.map((s) => s.msg));
      } catch (err) {
        if (!(err instanceof JetStreamUnavailableError)) throw err;
        published = toSend.map(() => ({ ok: false, error: err.message, retryable: true }));
      }
      toSend.forEach((s, i) => {
        // A message the publisher gave no answer for is not known to be stored: the client retries it (the id de-duplicates).
        const r = published[i] ?? { ok: false as const, error: 'no answer from the publisher', retryable: true };
        if (r.ok) results[s.index] = { index: s.index, status: r.duplicate ? 'duplicate' : 'accepted', id: s.id, seq: r.seq };
        else {
          if (r.retryable) unavailable = true;
          results[s.index] = { index: s.index, status: 'failed', id: s.id, error: r.error };
        }
      });
      if (kind === 'profile' && this.opts.cards) {
        const cards = this.opts.cards;
        await Promise.all(toSend.filter((_, i) => published[i]?.ok).flatMap((s) =>
          ((s.value as StoredProfileV1).card_tokens ?? []).map((t) => cards.register(t, String(s.value.customer_id)))));
      }
    }
    const count = (st: ItemResult['status']): number => results.filter((r) => r.status === st).length;
    return { results, accepted: count('accepted'), duplicates: count('duplicate'), invalid: count('invalid'), failed: count('failed'), unavailable };
  }
}

