/**
 * Partition ownership across scorer instances, NATS-native: leases in a KV bucket whose entries expire
 * unless their owner refreshes them (compare-and-set on the revision). Instances announce themselves
 * with expiring heartbeats; each partition goes to the live instance with the highest rendezvous hash,
 * so instances that join or leave move only the partitions they must. A partition is released (worker
 * stopped, checkpoint written, lease deleted) before another instance can acquire it; an owner that
 * fails to refresh in time loses the lease and its worker is fenced off (it stops before acking).
 */
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { fnv1a32 } from '../../contracts/subjects.js';
import type { Logger } from '../../runtime/log.js';

/** What a worker checks before it commits (acks) a batch. */
export interface Fence {
  readonly valid: boolean;
}

export interface OwnershipOptions {
  nc: NatsConnection;
  instance: string;
  partitions: number;
  /** Only these partitions may be taken (static assignment); default all, balanced dynamically. */
  allowed?: readonly number[];
  /** Lease lifetime, ms: an owner that does not refresh within it loses the partition. Default 10,000. */
  leaseMs?: number;
  replicas?: number;
  logger: Logger;
  acquire(partition: number, fence: Fence): Promise<void>;
  release(partition: number): Promise<void>;
}

interface Held {
  revision: number;
  fence: { valid: boolean };
}

const BUCKET = 'vafa_leases';
/** How long (in lease lifetimes) a lost partition waits for its fenced worker to stop before it is taken again. */
const RELEASE_WAIT_LEASES = 2;

/** Rendezvous (highest-random-weight) choice of owner: stable, and minimal movement on membership change. */
export function chooseOwner(partition: number, instances: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = -1;
  for (const i of instances) {
    const score = fnv1a32(`${i}/${partition}`);
    if (score > bestScore || (score === bestScore && best !== undefined && i < best)) {
      best = i;
      bestScore = score;
    }
  }
  return best;
}

export class PartitionOwnership {
  private kv: KV | undefined;
  private readonly held = new Map<number, Held>();
  private timer: NodeJS.Timeout | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private refreshing: Promise<void> | undefined;
  private stopped = false;
  private readonly leaseMs: number;
  /**
   * Partitions whose lease was lost, while their fenced worker stops: not acquired again before it has,
   * or before RELEASE_WAIT_LEASES lease lifetimes have passed (a fenced worker cannot commit, so a stop
   * that hangs must not keep the partition from its owner for good).
   */
  private readonly releasing = new Map<number, { done: Promise<void>; since: number }>();

  constructor(private readonly opts: OwnershipOptions) {
    this.leaseMs = opts.leaseMs ?? 10_000;
  }

  get owned(): number[] {
    return [...this.held.keys()].sort((a, b) => a - b);
  }

  async start(): Promise<void> {
    this.kv = await new Kvm(this.opts.nc).create(BUCKET, {
      history: 1, ttl: this.leaseMs, replicas: this.opts.replicas ?? 1, description: 'scorer partition leases and instance heartbeats',
    });
    await this.tick();
    // Refreshing runs on its own clock: a slow acquisition (consumer re-creation, checkpoint load)
    // in the balancing round must never delay the refresh of leases already held.
    this.refreshTimer = setInterval(() => void this.runRefresh(), Math.max(100, Math.floor(this.leaseMs / 4)));
    this.timer = setInterval(() => {
      if (!this.ticking) this.ticking = this.tick().finally(() => { this.ticking = undefined; });
    }, Math.max(200, Math.floor(this.leaseMs / 3)));
  }

  private runRefresh(): Promise<void> {
    this.refreshing ??= this.refresh().finally(() => { this.refreshing = undefined; });
    return this.refreshing;
  }

  private async refresh(): Promise<void> {
    if (this.stopped || !this.kv) return;
    const kv = this.kv;
    await kv.put(`instance.${this.opts.instance}`, JSON.stringify({ at: Date.now() })).catch(() => undefined);
    for (const [p, h] of [...this.held]) {
      try {
        h.revision = await kv.update(this.leaseKey(p), this.opts.instance, h.revision);
      } catch (err) {
        if (this.held.get(p) !== h) continue;
        h.fence.valid = false;
        this.held.delete(p);
        this.opts.logger.warn({ partition: p, err: (err as Error).message }, 'partition lease lost; worker fenced');
        // Stopping the fenced worker (finishing its batch) must not hold up the refresh of the other
        // leases: awaited here, one lost lease made the next ones expire too.
        this.releaseInBackground(p);
      }
    }
  }

  private releaseInBackground(p: number): void {
    const since = Date.now();
    const entry = { since, done: Promise.resolve() };
    entry.done = this.opts.release(p)
      .catch((err: Error) => this.opts.logger.warn({ partition: p, err: err.message }, 'stopping the fenced worker failed'))
      .finally(() => {
        if (this.releasing.get(p) === entry) this.releasing.delete(p);
        const ms = Date.now() - since;
        if (ms > this.leaseMs) this.opts.logger.warn({ partition: p, ms }, 'the fenced worker took longer than a lease to stop');
      });
    this.releasing.set(p, entry);
  }

  /** True while a lost partition's fenced worker is still stopping, within the bounded wait. */
  private stillReleasing(p: number): boolean {
    const r = this.releasing.get(p);
    if (!r) return false;
    if (Date.now() - r.since < RELEASE_WAIT_LEASES * this.leaseMs) return true;
    this.releasing.delete(p);
    this.opts.logger.warn({ partition: p }, 'the fenced worker has not stopped; taking the partition again (it cannot commit)');
    return false;
  }

  private leaseKey(p: number): string {
    return `partition.${p}`;
  }

  private async liveInstances(): Promise<string[]> {
    const kv = this.kv!;
    const out: string[] = [];
    for await (const k of await kv.keys('instance.*')) out.push(k.slice('instance.'.length));
    if (!out.includes(this.opts.instance)) out.push(this.opts.instance);
    return out.sort();
  }

  private async tick(): Promise<void> {
    if (this.stopped || !this.kv) return;
    const kv = this.kv;
    try {
      await this.runRefresh();
      const instances = await this.liveInstances();
      const allowed = this.opts.allowed ?? [...Array(this.opts.partitions).keys()];
      const want = new Set(allowed.filter((p) => (this.opts.allowed ? true : chooseOwner(p, instances) === this.opts.instance)));
      for (const p of [...this.held.keys()]) {
        if (want.has(p)) continue;
        await this.releaseOne(p);
      }
      for (const p of want) {
        if (this.held.has(p) || this.stillReleasing(p)) continue;
        let revision: number;
        try {
          revision = await kv.create(this.leaseKey(p), this.opts.instance);
        } catch {
          continue; // held by another instance until it releases or its lease expires
        }
        const h: Held = { revision, fence: { valid: true } };
        this.held.set(p, h);
        try {
          await this.opts.acquire(p, h.fence);
          this.opts.logger.info({ partition: p, instance: this.opts.instance }, 'partition acquired');
        } catch (err) {
          this.opts.logger.error({ partition: p, err: (err as Error).message }, 'could not start partition; releasing it');
          this.held.delete(p);
          await kv.delete(this.leaseKey(p), { previousSeq: h.revision }).catch(() => undefined);
        }
      }
    } catch (err) {
      this.opts.logger.warn({ err: (err as Error).message }, 'ownership round failed; retrying');
    }
  }

  private async releaseOne(p: number): Promise<void> {
    const h = this.held.get(p);
    if (!h) return;
    await this.opts.release(p);
    h.fence.valid = false;
    this.held.delete(p);
    await this.kv?.delete(this.leaseKey(p), { previousSeq: h.revision }).catch(() => undefined);
    this.opts.logger.info({ partition: p, instance: this.opts.instance }, 'partition released');
  }

  /** Releases a partition now (e.g. its worker failed); the next round acquires it again if it is still ours. */
  async restart(p: number): Promise<void> {
    await this.releaseOne(p).catch((err: Error) => this.opts.logger.warn({ partition: p, err: err.message }, 'release failed'));
  }

  /** Releases every partition (workers drained and checkpointed first) and the heartbeat. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    await this.ticking;
    await this.refreshing;
    const waited = Promise.all([...this.releasing.values()].map((r) => r.done));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([waited, new Promise<void>((r) => (timer = setTimeout(r, RELEASE_WAIT_LEASES * this.leaseMs)))]);
    clearTimeout(timer);
    for (const p of [...this.held.keys()]) await this.releaseOne(p).catch(() => undefined);
    await this.kv?.delete(`instance.${this.opts.instance}`).catch(() => undefined);
  }
}
