/**
 * Stream and subject names (../shared/CONTRACT.md, "NATS JetStream"), and the partitioning of `tx.>` by customer.
 * Subjects are `tx.<partition>.<kind>`; a scorer that owns partition p consumes `tx.<p>.>`.
 */
import type { StreamKind } from './events.js';

export const STREAM_TX = 'TX';
export const STREAM_OFFERS = 'OFFERS';
export const STREAM_DLQ = 'DLQ';
/** The card directory's KV bucket (card token → customer id); JetStream keeps it in stream `KV_<bucket>`. */
export const CARD_DIRECTORY_BUCKET = 'vafa_cards';
export const OFFER_CHANNELS = ['sms', 'app', 'email', 'branch'] as const;
export type OfferChannel = (typeof OFFER_CHANNELS)[number];

/** FNV-1a 32-bit: stable across processes, platforms and versions (partitioning depends on it). */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Murmur3's 32-bit finalizer: every input bit moves every output bit. FNV-1a alone barely moves the high
 * bits for the last characters of its input, so scores that must differ by a trailing number are mixed.
 */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export function partitionOf(customerId: string, partitions: number): number {
  return fnv1a32(customerId) % partitions;
}

export function txSubject(partition: number, kind: StreamKind | 'control'): string {
  return `tx.${partition}.${kind}`;
}

export function partitionFilter(partition: number): string {
  return `tx.${partition}.>`;
}

/** Parses `tx.<p>.<kind>`; undefined when the subject is not of that shape. */
export function parseTxSubject(subject: string): Readonly<{ partition: number; kind: StreamKind | 'control' }> | undefined {
  const known = parsedSubjects.get(subject);
  if (known !== undefined) return known;
  const m = /^tx\.(\d+)\.(transaction|profile|feedback|redemption|control)$/.exec(subject);
  if (!m) return undefined;
  const parsed = Object.freeze({ partition: Number(m[1]), kind: m[2] as StreamKind | 'control' });
  if (parsedSubjects.size >= MAX_PARSED_SUBJECTS) parsedSubjects.clear();
  parsedSubjects.set(subject, parsed);
  return parsed;
}

/** Subjects parsed so far (a deployment has partitions × kinds of them), each read once rather than at every message. */
const parsedSubjects = new Map<string, Readonly<{ partition: number; kind: StreamKind | 'control' }>>();
const MAX_PARSED_SUBJECTS = 4096;

/** The `Nats-Msg-Id` of a message on `TX`: the event's own idempotency key, namespaced by kind. */
export function txMsgId(kind: StreamKind, id: string): string {
  return kind === 'transaction' ? id : `${kind}:${id}`;
}

export function dlqSubject(source: string, reason: string): string {
  return `dlq.${source}.${reason.replace(/[^a-z0-9_-]/gi, '_')}`;
}
