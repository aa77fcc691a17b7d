/**
 * Card directory in NATS KV: card token → customer id. Customer profiles register their cards; the ISO
 * 8583 adapter looks a card up to key its transactions by customer. Tokens only: never a card number.
 */
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { CARD_DIRECTORY_BUCKET } from '../contracts/subjects.js';
import type { CardDirectory } from './service.js';

/**
 * How long a look-up is remembered, ms: an erased customer's entries (docs/security.md "Erasure") stop
 * resolving within it in every running process.
 */
export const CARD_CACHE_TTL_MS = 60_000;

export class NatsCardDirectory implements CardDirectory {
  private readonly cache = new Map<string, { id: string; until: number }>();

  private constructor(private readonly kv: KV) {}

  static async open(nc: NatsConnection, replicas = 1): Promise<NatsCardDirectory> {
    const kv = await new Kvm(nc).create(CARD_DIRECTORY_BUCKET, { history: 1, replicas, description: 'card token → customer id' });
    return new NatsCardDirectory(kv);
  }

  async register(token: string, customerId: string): Promise<void> {
    const current = await this.lookup(token);
    if (current === customerId) return;
    // First registration wins: a later profile listing the same card does not re-key its history.
    if (current !== undefined) return;
    try {
      await this.kv.create(token, customerId);
    } catch {
      // lost a race with another registration: the first one stands
    }
    this.cache.delete(token);
  }

  async lookup(token: string): Promise<string | undefined> {
    const hit = this.cache.get(token);
    if (hit && hit.until > Date.now()) return hit.id;
    this.cache.delete(token);
    const e = await this.kv.get(token);
    if (!e || e.operation !== 'PUT') return undefined;
    const id = e.string();
    this.cache.set(token, { id, until: Date.now() + CARD_CACHE_TTL_MS });
    if (this.cache.size > 100_000) this.cache.delete(this.cache.keys().next().value as string);
    return id;
  }
}
