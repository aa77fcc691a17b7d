/**
 * Partition ownership across scorer instances, NATS-native: leases in a KV bucket whose entries expire
 * unless their owner refreshes them (compare-and-set on the revision). Instances announce themselves
 * with expiring heartbeats; each partition goes to the live instance with the highest rendezvous hash,
 * so instances that join or leave move only the partitions they must. A partition is released (worker
 * stopped, checkpoint written, lease deleted) before another instance can acquire it; an owner that
 * fails to refresh in time loses the lease and its worker is fenced off (it stops before acking).
 *
 * Every wait is bounded: each request to the bucket and each `acquire`/`release` call has a deadline, so
 * a balancing round always ends and `stop()` returns in bounded time. Membership is one bounded read
 * (the bucket stream's subject list, then the last heartbeat of each instance), never a key iterator:
 * `kv.keys()` of @nats-io/kv 3.4 can stay open for as long as heartbeats keep landing.
 */
import { Kvm, type KV, type KvEntry } from '@nats-io/kv';
import { JetStreamApiCodes, JetStreamApiError, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { fmix32, fnv1a32 } from '../../contracts/subjects.js';
import { DeadlineError, withDeadline, FailureEpisode, type Logger } from '../../platform/mod.js';

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
  /** Deadline of each request to the lease bucket (put, update, create, delete, get, stream info), ms. Default max(500, leaseMs / 4). */
  requestMs?: number;
  /** Deadline of each `acquire` and `release` call, ms. Default leaseMs. */
  callbackMs?: number;
  replicas?: number;
  logger: Logger;
  acquire(partition: number, fence: Fence): Promise<void>;
  release(partition: number): Promise<void>;
}

const BUCKET = 'vafa_leases';
const STREAM = `KV_${BUCKET}`;
const KEY_SUBJECT_PREFIX = `$KV.${BUCKET}.`;
const INSTANCE_PREFIX = 'instance.';
/** How long (in lease lifetimes) a lost partition waits for its fenced worker to stop before it is taken again. */
const RELEASE_WAIT_LEASES = 2;

/**
 * A lease's fence. It falls when revoked, and by itself once the lease may have expired on the server
 * (a refresh sent at `t` was written after `t`, so the lease lives at least until `t + lease`); once
 * down it stays down, because by then another instance may own the partition.
 */
class LeaseFence implements Fence {
  private revoked = false;
  constructor(private validUntil: number) {}

  get valid(): boolean {
    if (!this.revoked && Date.now() >= this.validUntil) this.revoked = true;
    return !this.revoked;
  }

  extend(until: number): void {
    if (this.valid) this.validUntil = Math.max(this.validUntil, until);
  }

  revoke(): void {
    this.revoked = true;
  }
}

interface Held {
  revision: number;
  fence: LeaseFence;
  state: 'starting' | 'running' | 'stopping';
  /** `restart()` was asked while the worker started (it ended at once): released as soon as it has started. */
  restartWhenStarted?: boolean;
}

/** A lost or abandoned partition whose worker is still stopping (or starting): not taken again meanwhile. */
interface Releasing {
  done: Promise<void>;
  since: number;
  /**
   * A start that passed its deadline: its worker registers itself when the start completes, so taking the
   * partition again before that would leave two workers. It is waited for without limit (it is released
   * as soon as it completes); a stopping worker is waited for RELEASE_WAIT_LEASES lease lifetimes at most.
   */
  waitsForStart: boolean;
}

/** Rendezvous (highest-random-weight) choice of owner: stable, and minimal movement on membership change. */
export function chooseOwner(partition: number, instances: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = -1;
  for (const i of instances) {
    const score = fmix32(fnv1a32(`${i}/${partition}`));
    if (score > bestScore || (score === bestScore && best !== undefined && i < best)) {
      best = i;
      bestScore = score;
    }
  }
  return best;
}

/** The compare-and-set of a lease failed: the key is not at the expected revision. */
function isWrongLastSequence(err: unknown): boolean {
  return err instanceof JetStreamApiError
    && (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);
}

function leaseKey(p: number): string {
  return `partition.${p}`;
}

export class PartitionOwnership {
  private kv: KV | undefined;
  private jsm: JetStreamManager | undefined;
  private readonly held = new Map<number, Held>();
  private readonly releasing = new Map<number, Releasing>();
  private roundTimer: NodeJS.Timeout | undefined;
  private keepAliveTimer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;
  private refreshing: Promise<void> | undefined;
  private beating: Promise<void> | undefined;
  private stopped = false;
  private readonly leaseMs: number;
  private readonly requestMs: number;
  private readonly callbackMs: number;
  private readonly episodes: Record<'round' | 'heartbeat' | 'refresh' | 'start' | 'stop', FailureEpisode>;

  constructor(private readonly opts: OwnershipOptions) {
    this.leaseMs = opts.leaseMs ?? 10_000;
    this.requestMs = opts.requestMs ?? Math.max(500, Math.floor(this.leaseMs / 4));
    this.callbackMs = opts.callbackMs ?? this.leaseMs;
    const episode = (what: string): FailureEpisode => new FailureEpisode(opts.logger, what);
    this.episodes = {
      round: episode('partition ownership round'),
      heartbeat: episode('instance heartbeat'),
      refresh: episode('partition lease refresh'),
      start: episode('starting partition workers'),
      stop: episode('stopping partition workers'),
    };
  }

  get owned(): number[] {
    return [...this.held.keys()].sort((a, b) => a - b);
  }

  async start(): Promise<void> {
    this.jsm = await this.request(jetstreamManager(this.opts.nc), 'connecting to JetStream');
    this.kv = await this.request(new Kvm(this.opts.nc).create(BUCKET, {
      history: 1, ttl: this.leaseMs, replicas: this.opts.replicas ?? 1, description: 'scorer partition leases and instance heartbeats',
    }), 'opening the lease bucket');
    await this.runHeartbeat();
    await this.runRound();
    if (this.stopped) return; // stopped while starting: no timers to outlive it
    // Heartbeat and lease refresh run on their own clock: a slow acquisition (consumer re-creation,
    // checkpoint load) in a balancing round must never delay the refresh of leases already held.
    this.keepAliveTimer = setInterval(() => {
      void this.runHeartbeat();
      void this.runRefresh();
    }, Math.max(100, Math.floor(this.leaseMs / 4)));
    this.roundTimer = setInterval(() => void this.runRound(), Math.max(200, Math.floor(this.leaseMs / 3)));
  }

  /** Releases a partition now (e.g. its worker failed); the next round acquires it again if it is still ours. */
  async restart(p: number): Promise<void> {
    const h = this.held.get(p);
    if (h?.state === 'starting') h.restartWhenStarted = true;
    else await this.releaseOne(p);
  }

  /**
   * Releases every partition (workers drained and checkpointed first) and the heartbeat. Bounded: at most
   * about two callback deadlines and a request deadline, whatever hangs.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.roundTimer);
    const busy = [this.round, this.refreshing, this.beating, ...[...this.releasing.values()].map((r) => r.done)];
    await withDeadline(Promise.allSettled(busy), this.callbackMs, 'finishing the ownership round').catch(() => undefined);
    for (const [p, h] of [...this.held]) {
      // Its round releases it when the start completes (it sees the fence down).
      if (h.state === 'starting') this.forget(p, h);
    }
    // Leases stay refreshed while the workers drain, so their last batches may still commit.
    await Promise.all(this.owned.map((p) => this.releaseOne(p)));
    clearInterval(this.keepAliveTimer);
    await this.request(this.kv?.delete(this.heartbeatKey) ?? Promise.resolve(), 'deleting the instance heartbeat').catch(() => undefined);
  }

  private get heartbeatKey(): string {
    return `${INSTANCE_PREFIX}${this.opts.instance}`;
  }

  private request<T>(work: Promise<T>, what: string): Promise<T> {
    return withDeadline(work, this.requestMs, what);
  }

  private bucket(): KV {
    if (!this.kv) throw new Error('partition ownership is not started');
    return this.kv;
  }

  private runRound(): Promise<void> {
    this.round ??= this.balance().finally(() => { this.round = undefined; });
    return this.round;
  }

  private runHeartbeat(): Promise<void> {
    this.beating ??= this.beat().finally(() => { this.beating = undefined; });
    return this.beating;
  }

  private runRefresh(): Promise<void> {
    this.refreshing ??= this.refreshLeases().finally(() => { this.refreshing = undefined; });
    return this.refreshing;
  }

  private async beat(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.request(this.bucket().put(this.heartbeatKey, JSON.stringify({ at: Date.now() })), 'writing the instance heartbeat');
      this.episodes.heartbeat.ok();
    } catch (err) {
      this.episodes.heartbeat.fail(err);
    }
  }

  private async refreshLeases(): Promise<void> {
    if (this.held.size === 0) return; // nothing refreshed: no sign of recovery either
    const errors = await Promise.all([...this.held].map(([p, h]) => this.refreshLease(p, h)));
    const failed = errors.filter((e) => e !== undefined);
    if (failed.length === 0) this.episodes.refresh.ok();
    else this.episodes.refresh.fail(failed[0], { partitions: failed.length });
  }

  /** Refreshes one lease; returns the error of a refresh that failed without losing the lease (yet). */
  private async refreshLease(p: number, h: Held): Promise<unknown> {
    if (!h.fence.valid) {
      this.loseLease(p, h, 'not refreshed within the lease');
      return undefined;
    }
    const sentAt = Date.now();
    try {
      const revision = await this.request(this.bucket().update(leaseKey(p), this.opts.instance, h.revision), `refreshing the lease of partition ${p}`);
      if (this.held.get(p) === h) {
        h.revision = revision;
        h.fence.extend(sentAt + this.leaseMs);
      }
      return undefined;
    } catch (err) {
      if (this.held.get(p) !== h) return undefined;
      return isWrongLastSequence(err) ? await this.recheckLease(p, h) : err;
    }
  }

  /**
   * The lease is not at the revision held: an earlier refresh may have landed after its deadline (then the
   * entry is still ours, at a newer revision), or the lease expired, was deleted or was taken.
   */
  private async recheckLease(p: number, h: Held): Promise<unknown> {
    let entry: KvEntry | null;
    try {
      entry = await this.request(this.bucket().get(leaseKey(p)), `reading the lease of partition ${p}`);
    } catch (err) {
      return err;
    }
    if (this.held.get(p) !== h) return undefined;
    if (entry?.operation === 'PUT' && entry.string() === this.opts.instance && entry.revision > h.revision) {
      h.revision = entry.revision;
      return undefined;
    }
    this.loseLease(p, h, entry?.operation === 'PUT' ? 'taken by another instance' : 'expired or deleted');
    return undefined;
  }

  private loseLease(p: number, h: Held, reason: string): void {
    this.forget(p, h);
    this.opts.logger.warn({ partition: p, reason }, 'partition lease lost; worker fenced');
    // A starting or stopping worker is released by the round or the stop that handles it. Stopping the
    // fenced worker must not hold up the refresh of the other leases: awaited here, one lost lease made
    // the next ones expire too.
    if (h.state === 'running') this.trackRelease(p, this.opts.release(p), false);
  }

  private forget(p: number, h: Held): void {
    h.fence.revoke();
    if (this.held.get(p) === h) this.held.delete(p);
  }

  private trackRelease(p: number, work: Promise<void>, waitsForStart: boolean): void {
    const entry: Releasing = { since: Date.now(), waitsForStart, done: Promise.resolve() };
    entry.done = work
      .then(() => this.episodes.stop.ok(), (err: unknown) => this.episodes.stop.fail(err, { partition: p }))
      .finally(() => {
        if (this.releasing.get(p) === entry) this.releasing.delete(p);
        const ms = Date.now() - entry.since;
        if (!waitsForStart && ms > this.leaseMs) this.opts.logger.warn({ partition: p, ms }, 'the fenced worker took longer than a lease to stop');
      });
    this.releasing.set(p, entry);
  }

  /** True while a lost partition's fenced worker is still stopping (within the bounded wait) or starting. */
  private stillReleasing(p: number): boolean {
    const r = this.releasing.get(p);
    if (!r) return false;
    if (r.waitsForStart || Date.now() - r.since < RELEASE_WAIT_LEASES * this.leaseMs) return true;
    this.releasing.delete(p);
    this.opts.logger.warn({ partition: p }, 'the fenced worker has not stopped; taking the partition again (it cannot commit)');
    return false;
  }

  private async balance(): Promise<void> {
    if (this.stopped) return;
    try {
      const want = await this.wantedPartitions();
      for (const p of this.owned) {
        if (this.stopped) return;
        if (!want.has(p)) await this.releaseOne(p);
      }
      for (const p of want) {
        if (this.stopped) return;
        if (!this.held.has(p) && !this.stillReleasing(p)) await this.acquireOne(p);
      }
      this.episodes.round.ok();
    } catch (err) {
      this.episodes.round.fail(err);
    }
  }

  private async wantedPartitions(): Promise<Set<number>> {
    if (this.opts.allowed) return new Set(this.opts.allowed);
    const instances = await this.liveInstances();
    return new Set([...Array(this.opts.partitions).keys()].filter((p) => chooseOwner(p, instances) === this.opts.instance));
  }

  /**
   * The instances with a live heartbeat, from one bounded read: the stream's subjects under `instance.`,
   * then the last message of each. Delete markers are not heartbeats; a heartbeat older than a lease
   * (against the newest one, all server timestamps, so clocks of the instances do not matter) is dead
   * even if the bucket's max age has not removed it yet.
   */
  private async liveInstances(): Promise<string[]> {
    const jsm = this.jsm;
    if (!jsm) throw new Error('partition ownership is not started');
    const info = await this.request(jsm.streams.info(STREAM, { subjects_filter: `${KEY_SUBJECT_PREFIX}${INSTANCE_PREFIX}>` }), 'listing instance heartbeats');
    const keys = Object.keys(info.state.subjects ?? {}).map((s) => s.slice(KEY_SUBJECT_PREFIX.length));
    const entries = await Promise.all(keys.map((k) => this.request(this.bucket().get(k), `reading heartbeat ${k}`)));
    const beats = entries.filter((e): e is KvEntry => e !== null && e.operation === 'PUT');
    const newest = Math.max(0, ...beats.map((e) => e.created.getTime()));
    const live = beats.filter((e) => newest - e.created.getTime() < this.leaseMs).map((e) => e.key.slice(INSTANCE_PREFIX.length));
    if (!live.includes(this.opts.instance)) live.push(this.opts.instance);
    return live.sort();
  }

  private async acquireOne(p: number): Promise<void> {
    const sentAt = Date.now();
    let revision: number;
    try {
      revision = await this.request(this.bucket().create(leaseKey(p), this.opts.instance), `creating the lease of partition ${p}`);
    } catch (err) {
      if (isWrongLastSequence(err)) return; // held by another instance until it releases or its lease expires
      throw err;
    }
    const h: Held = { revision, fence: new LeaseFence(sentAt + this.leaseMs), state: 'starting' };
    this.held.set(p, h);
    const starting = this.opts.acquire(p, h.fence);
    try {
      await withDeadline(starting, this.callbackMs, `starting partition ${p}`);
    } catch (err) {
      this.episodes.start.fail(err, { partition: p });
      this.forget(p, h);
      // A start past its deadline may still complete: its worker is fenced now and released once it has.
      if (err instanceof DeadlineError) this.trackRelease(p, starting.then(() => this.releaseLate(p), () => undefined), true);
      await this.deleteLease(p, h);
      return;
    }
    if (this.held.get(p) !== h || !h.fence.valid) {
      // Lost, or stopping, while it started.
      this.forget(p, h);
      await this.releaseLate(p);
      await this.deleteLease(p, h);
      return;
    }
    h.state = 'running';
    this.episodes.start.ok();
    this.opts.logger.info({ partition: p, instance: this.opts.instance }, 'partition acquired');
    if (h.restartWhenStarted) await this.releaseOne(p);
  }

  /** Releases a worker that started after its lease was given up. */
  private async releaseLate(p: number): Promise<void> {
    this.opts.logger.warn({ partition: p }, 'a partition worker started after its lease was given up; releasing it');
    await this.callRelease(p);
  }

  private async releaseOne(p: number): Promise<void> {
    const h = this.held.get(p);
    if (!h || h.state !== 'running') return;
    h.state = 'stopping';
    await this.callRelease(p);
    this.forget(p, h);
    await this.deleteLease(p, h);
    this.opts.logger.info({ partition: p, instance: this.opts.instance }, 'partition released');
  }

  /** Calls `release` with a deadline; a stop past it goes on in the background, its worker fenced and waited for. */
  private async callRelease(p: number): Promise<void> {
    const stopping = this.opts.release(p);
    try {
      await withDeadline(stopping, this.callbackMs, `stopping partition ${p}`);
      this.episodes.stop.ok();
    } catch (err) {
      this.episodes.stop.fail(err, { partition: p });
      if (err instanceof DeadlineError) this.trackRelease(p, stopping, false);
    }
  }

  /** Deletes a lease at the revision held, so it is free at once; when that fails, it expires by itself. */
  private async deleteLease(p: number, h: Held): Promise<void> {
    await this.request(this.bucket().delete(leaseKey(p), { previousSeq: h.revision }), `deleting the lease of partition ${p}`).catch(() => undefined);
  }
}
