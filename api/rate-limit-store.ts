/**
 * Per-key rate limits shared by several ingest processes (`VAFA_INGEST_WORKERS`): a
 * `@fastify/rate-limit` store that counts in one place, the primary process, reached over IPC by
 * `count`. A key's requests are counted together whichever process serves them, so its limit holds
 * across the processes. `FixedWindowCounters` is that one place: the plugin's own fixed window.
 */
import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit';

export interface WindowCount {
  current: number;
  /** ms until the window ends. */
  ttl: number;
}

/** Counts one request of `key` in the window of `namespace` (a route) and answers the count so far. */
export type CountRequest = (namespace: string, key: string, timeWindowMs: number) => Promise<WindowCount>;

/** A store class for `@fastify/rate-limit`'s `store` option that counts through `count`. */
export function sharedRateLimitStore(count: CountRequest): FastifyRateLimitStoreCtor {
  class SharedStore implements FastifyRateLimitStore {
    constructor(private readonly namespace = 'global') {}

    incr(key: string, callback: (error: Error | null, result?: WindowCount) => void, timeWindow: number): void {
      count(this.namespace, key, timeWindow).then((r) => callback(null, r), (err: Error) => callback(err));
    }

    // The plugin passes the route's merged options, the route under `routeInfo`: one window per route, as its own store keeps.
    child(routeOptions: object): FastifyRateLimitStore {
      const route = (routeOptions as { routeInfo?: { method?: unknown; url?: unknown } }).routeInfo;
      return new SharedStore(`${String(route?.method ?? '')} ${String(route?.url ?? '')}`);
    }
  }
  return SharedStore as unknown as FastifyRateLimitStoreCtor;
}

/** Fixed windows per (namespace, key), as the plugin's LocalStore keeps them; at most `maxKeys` (oldest dropped). */
export class FixedWindowCounters {
  private readonly windows = new Map<string, { count: number; startMs: number }>();

  constructor(private readonly maxKeys = 100_000, private readonly now: () => number = Date.now) {}

  count(namespace: string, key: string, timeWindowMs: number): WindowCount {
    const id = `${namespace}\u0000${key}`;
    const now = this.now();
    let w = this.windows.get(id);
    if (!w || w.startMs + timeWindowMs <= now) {
      this.windows.delete(id);
      w = { count: 0, startMs: now };
      for (const oldest of this.windows.keys()) {
        if (this.windows.size < this.maxKeys) break;
        this.windows.delete(oldest);
      }
      this.windows.set(id, w);
    }
    w.count++;
    return { current: w.count, ttl: timeWindowMs - (now - w.startMs) };
  }
}
