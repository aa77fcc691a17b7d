/**
 * Where a completion's own id leads to the id it was booked under (issue 17): a 0220/0221 advice is booked
 * under its authorisation's id, while a reversal naming the completion rebuilds the completion's own id
 * from its field 90. The listener remembers each completion it books here and resolves such a reversal
 * (mapping.ts {@link reversalOfBooked}). Ids only: no card data, no customer.
 */
import { createHash } from 'node:crypto';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { CompletionIds } from './mapping.js';

/** The NATS KV bucket of completion ids. */
export const COMPLETION_IDS_BUCKET = 'vafa_iso8583_completions';

/**
 * How long a completion's id is remembered, ms: 120 days, the default `reversals.window_days` of the
 * loyalty rules (a reversal after it takes nothing back anyway).
 */
export const COMPLETION_IDS_TTL_MS = 120 * 86_400_000;

/** A KV key for an id (ids hold `:` and spaces, which keys may not): 32 hex characters of its SHA-256. */
export function completionKey(ownId: string): string {
  return createHash('sha256').update(ownId).digest('hex').slice(0, 32);
}

/** Completion ids in NATS KV, each kept {@link COMPLETION_IDS_TTL_MS} (the bucket's TTL). */
export class NatsCompletionIds implements CompletionIds {
  private constructor(private readonly kv: KV) {}

  static async open(nc: NatsConnection, replicas = 1, ttlMs = COMPLETION_IDS_TTL_MS): Promise<NatsCompletionIds> {
    const kv = await new Kvm(nc).create(COMPLETION_IDS_BUCKET, { history: 1, replicas, ttl: ttlMs, description: 'ISO 8583 completion own id → the id it was booked under' });
    return new NatsCompletionIds(kv);
  }

  async remember(ownId: string, bookedId: string): Promise<void> {
    await this.kv.put(completionKey(ownId), bookedId);
  }

  async bookedIdOf(ownId: string): Promise<string | undefined> {
    const e = await this.kv.get(completionKey(ownId));
    return e && e.operation === 'PUT' ? e.string() : undefined;
  }
}

/** Completion ids in memory, the newest `max` (default 100,000): for tests and a listener without NATS. */
export class MemoryCompletionIds implements CompletionIds {
  private readonly ids = new Map<string, string>();

  constructor(private readonly max = 100_000) {}

  async remember(ownId: string, bookedId: string): Promise<void> {
    this.ids.delete(ownId);
    this.ids.set(ownId, bookedId);
    if (this.ids.size > this.max) this.ids.delete(this.ids.keys().next().value as string);
  }

  async bookedIdOf(ownId: string): Promise<string | undefined> {
    return this.ids.get(ownId);
  }
}
