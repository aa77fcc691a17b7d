/**
 * Snapshots of the LMDB state store in the NATS object store, for partitions that move between machines.
 * At most every `intervalMs`, and at the latest `intervalMs` after a commit (a trailing timer, so the last
 * commits of a partition that goes quiet are shipped too), a partition ships an increment: its meta record, its timer pages and
 * the customers committed since the previous snapshot (bucket `vafa_state`, object
 * `p<n>-<seq>`); every `maxIncrements` increments, a base with all its records instead. The chain of a
 * partition (base, increments, in order) is a manifest in KV bucket `vafa_state_chains`, updated by
 * compare-and-set: an increment links to the position the chain ends at, so a late writer (a fenced
 * owner still shipping) cannot append to a chain another owner has moved on; it ships a base next.
 * A new owner restores base + increments into its own store and replays the stream from there. A partition
 * released gracefully ships what it has not shipped yet before it is handed over (`flush`), so its next
 * owner replays nothing it acked.
 *
 * Object format: frames `[u32 key length][key][u32 value length + 1, 0 for a removal][value]`, the
 * store's own records (codec-versioned) as they are: nothing is decoded or encoded to ship them.
 */
import { Kvm, type KV } from '@nats-io/kv';
import { Objm, type ObjectStore } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../../../platform/mod.js';
import type { CustomerChanges } from './changes.js';
import { decodeRecord } from './codec.js';
import { readableOf } from '../checkpoints.js';
import type { LmdbStateStore, RemoteSnapshots, StoreFrame } from './lmdb-store.js';

/** Options of `NatsSnapshots.open`. */
export interface SnapshotOptions {
  /** Stream replicas of the bucket and the chains. Default 1. */
  replicas?: number;
  /** Shortest interval between two snapshots of a partition, ms. Default 5000 (`VAFA_CHECKPOINT_MS`). */
  intervalMs?: number;
  /** Increments after which the next snapshot is a base. Default 16. */
  maxIncrements?: number;
  logger?: Logger;
}

/** A partition's chain: the base and the increments after it, each with the position it covers. */
export interface Chain {
  objects: { name: string; seq: number }[];
  seq: number;
}

/** The chain moved on under this writer (another owner shipped); the next snapshot is a base. */
export class ChainMovedError extends Error {
  override readonly name = 'ChainMovedError';
}

/** A snapshot object that does not parse (truncated, or not a snapshot). */
export class SnapshotFormatError extends Error {
  override readonly name = 'SnapshotFormatError';
}

/** What a partition ships next. */
interface Pending {
  changed: Set<string>;
  /** The chain position the store's state continues from (undefined: the next snapshot is a base). */
  chainSeq: number | undefined;
  lastShipped: number;
  /** The shipment under way, if any. */
  inFlight: Promise<number> | undefined;
  /** The trailing shipment, scheduled when a commit came before the interval had passed. */
  timer: NodeJS.Timeout | undefined;
}

const FRAME_CHUNK = 1 << 20;
/** The object store bucket of the snapshots and the KV bucket of the chains. */
export const SNAPSHOT_BUCKET = 'vafa_state';
export const CHAIN_BUCKET = 'vafa_state_chains';
/** The key of a partition's chain in `CHAIN_BUCKET`. */
export const chainKey = (partition: number): string => `p${partition}`;

/** The partition's chain manifest and its KV revision (0 and no chain when it has none). */
export async function readChain(chains: KV, partition: number): Promise<{ chain: Chain | undefined; revision: number }> {
  const entry = await chains.get(chainKey(partition));
  if (!entry || entry.operation !== 'PUT' || entry.length === 0) return { chain: undefined, revision: entry?.revision ?? 0 };
  return { chain: entry.json<Chain>(), revision: entry.revision };
}

/** The frames of one snapshot object; `SnapshotFormatError` (saying `missing` when there is no such object) when it cannot be read. */
export async function* objectFrames(objects: ObjectStore, name: string, missing: string): AsyncGenerator<StoreFrame> {
  const result = await objects.get(name);
  if (!result) throw new SnapshotFormatError(missing);
  yield* parseFrames(result.data as unknown as AsyncIterable<Uint8Array>, name);
  const error = await result.error;
  if (error) throw new SnapshotFormatError(`snapshot ${name}: ${error.message}`);
}

export class NatsSnapshots implements RemoteSnapshots {
  private readonly pending = new Map<number, Pending>();
  private source: LmdbStateStore | undefined;
  private readonly intervalMs: number;
  private readonly maxIncrements: number;

  private constructor(private readonly objects: ObjectStore, private readonly chains: KV, private readonly options: SnapshotOptions) {
    this.intervalMs = options.intervalMs ?? 5000;
    this.maxIncrements = options.maxIncrements ?? 16;
  }

  static async open(nc: NatsConnection, options: SnapshotOptions = {}): Promise<NatsSnapshots> {
    const replicas = options.replicas ?? 1;
    const objects = await new Objm(nc).create(SNAPSHOT_BUCKET, { replicas, description: 'scorer state snapshots: bases and increments' });
    const chains = await new Kvm(nc).create(CHAIN_BUCKET, { replicas, history: 1 });
    return new NatsSnapshots(objects, chains, options);
  }

  /** The store whose records are shipped (its `onCommitted` calls `committed`). */
  attach(source: LmdbStateStore): void {
    this.source = source;
  }

  private partitionState(partition: number): Pending {
    let p = this.pending.get(partition);
    if (!p) {
      p = { changed: new Set(), chainSeq: undefined, lastShipped: Date.now(), inFlight: undefined, timer: undefined };
      this.pending.set(partition, p);
    }
    return p;
  }

  private chain(partition: number): Promise<{ chain: Chain | undefined; revision: number }> {
    return readChain(this.chains, partition);
  }

  async position(partition: number): Promise<number | undefined> {
    return (await this.chain(partition)).chain?.seq;
  }

  async *frames(partition: number): AsyncGenerator<StoreFrame> {
    const { chain } = await this.chain(partition);
    for (const object of chain?.objects ?? []) yield* objectFrames(this.objects, object.name, `snapshot ${object.name} of partition ${partition} is missing`);
  }

  restored(partition: number, seq: number): void {
    const p = this.partitionState(partition);
    p.changed.clear();
    p.chainSeq = seq;
  }

  /**
   * Notes a durable commit; ships a snapshot in the background when the interval has passed, else
   * schedules one for when it will have.
   */
  committed(partition: number, changes: CustomerChanges): void {
    const p = this.partitionState(partition);
    for (const id of changes.changed) p.changed.add(id);
    for (const id of changes.removed) p.changed.add(id);
    this.shipWhenDue(partition, p);
  }

  private shipWhenDue(partition: number, p: Pending): void {
    if (p.timer || p.changed.size === 0 && p.chainSeq !== undefined) return;
    const wait = p.inFlight ? this.intervalMs : this.intervalMs - (Date.now() - p.lastShipped);
    if (wait > 0) {
      p.timer = setTimeout(() => {
        p.timer = undefined;
        this.shipWhenDue(partition, p);
      }, wait);
      p.timer.unref();
      return;
    }
    void this.ship(partition).catch((err: Error) => this.options.logger?.warn({ partition, err: err.message }, 'state snapshot not shipped; the next one will be a base'));
  }

  /**
   * Ships what the partition committed since its last snapshot, now (a graceful release: the next owner
   * starts from the last commit). Waits for a shipment under way first. Resolves with the position the
   * partition's chain covers; undefined when it has never been shipped or restored.
   */
  async flush(partition: number): Promise<number | undefined> {
    const p = this.pending.get(partition);
    if (!p) return undefined;
    clearTimeout(p.timer);
    p.timer = undefined;
    await p.inFlight?.catch(() => undefined);
    if (p.changed.size === 0 && p.chainSeq !== undefined) return p.chainSeq;
    return this.ship(partition);
  }

  /** Stops the trailing timers (what they would have shipped stays in the local store). */
  close(): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.timer = undefined;
    }
  }

  /** Ships an increment (or a base) of the partition now; resolves with the position it covers. */
  async ship(partition: number): Promise<number> {
    const source = this.source;
    if (!source) throw new Error('NatsSnapshots: no store attached');
    const p = this.partitionState(partition);
    if (p.inFlight) throw new Error(`partition ${partition}: a snapshot is already being shipped`);
    const shipment = this.shipNow(partition, p, source);
    p.inFlight = shipment;
    try {
      return await shipment;
    } finally {
      p.inFlight = undefined;
    }
  }

  private async shipNow(partition: number, p: Pending, source: LmdbStateStore): Promise<number> {
    const ids = p.changed;
    p.changed = new Set();
    try {
      const { chain, revision } = await this.chain(partition);
      const increment = chain !== undefined && p.chainSeq === chain.seq && chain.objects.length <= this.maxIncrements;
      const { seq, name } = await this.put(partition, source.frames(partition, increment ? ids : undefined));
      if (chain && seq < chain.seq) {
        await this.objects.delete(name).catch(() => undefined);
        throw new ChainMovedError(`partition ${partition}: snapshot at seq ${seq} is older than the chain's ${chain.seq}`);
      }
      const objects = increment ? [...chain.objects, { name, seq }] : [{ name, seq }];
      await this.link(partition, { objects, seq }, revision, name);
      if (!increment) for (const old of chain?.objects ?? []) await this.objects.delete(old.name).catch(() => undefined);
      p.chainSeq = seq;
      p.lastShipped = Date.now();
      return seq;
    } catch (err) {
      p.chainSeq = undefined;
      for (const id of ids) p.changed.add(id);
      throw err;
    }
  }

  private async link(partition: number, chain: Chain, revision: number, name: string): Promise<void> {
    const data = JSON.stringify(chain);
    try {
      if (revision === 0) await this.chains.create(chainKey(partition), data);
      else await this.chains.update(chainKey(partition), data, revision);
    } catch (err) {
      await this.objects.delete(name).catch(() => undefined);
      throw new ChainMovedError(`partition ${partition}: the snapshot chain moved on (${(err as Error).message})`);
    }
  }

  /** Streams `frames` into a new object named after the position of its meta record. */
  private async put(partition: number, frames: AsyncGenerator<StoreFrame>): Promise<{ seq: number; name: string }> {
    const first = await frames.next();
    if (first.done || first.value.key !== 'meta' || !first.value.value) throw new Error(`partition ${partition}: the store holds no state to ship`);
    const seq = decodeRecord<{ seq: number }>('meta', first.value.value, 'meta').seq;
    const name = `p${partition}-${seq}-${Date.now().toString(36)}`;
    const chunks = encodeFrames(first.value, frames);
    await this.objects.put({ name }, readableOf(chunks));
    return { seq, name };
  }
}

/** Frames as chunks of about a megabyte. */
export async function* encodeFrames(first: StoreFrame, rest: AsyncIterable<StoreFrame>): AsyncGenerator<Uint8Array> {
  let parts: Buffer[] = [];
  let size = 0;
  const add = (frame: StoreFrame): void => {
    const key = Buffer.from(frame.key, 'utf8');
    const head = Buffer.allocUnsafe(8);
    head.writeUInt32BE(key.length, 0);
    head.writeUInt32BE(frame.value ? frame.value.length + 1 : 0, 4);
    parts.push(head.subarray(0, 4), key, head.subarray(4));
    if (frame.value) parts.push(Buffer.from(frame.value));
    size += 8 + key.length + (frame.value?.length ?? 0);
  };
  add(first);
  for await (const frame of rest) {
    add(frame);
    if (size >= FRAME_CHUNK) {
      yield Buffer.concat(parts);
      parts = [];
      size = 0;
    }
  }
  if (size > 0) yield Buffer.concat(parts);
}

/** Parses frames from chunks cut anywhere. */
export async function* parseFrames(chunks: AsyncIterable<Uint8Array>, where: string): AsyncGenerator<StoreFrame> {
  let buffer: Buffer = Buffer.alloc(0);
  for await (const chunk of chunks) {
    buffer = buffer.length ? Buffer.concat([buffer, chunk]) : Buffer.from(chunk);
    let offset = 0;
    for (;;) {
      if (buffer.length - offset < 4) break;
      const keyLength = buffer.readUInt32BE(offset);
      if (buffer.length - offset < 8 + keyLength) break;
      const valueField = buffer.readUInt32BE(offset + 4 + keyLength);
      const valueLength = valueField === 0 ? 0 : valueField - 1;
      const end = offset + 8 + keyLength + valueLength;
      if (buffer.length < end) break;
      const key = buffer.toString('utf8', offset + 4, offset + 4 + keyLength);
      yield { key, value: valueField === 0 ? undefined : buffer.subarray(end - valueLength, end) };
      offset = end;
    }
    buffer = buffer.subarray(offset);
  }
  if (buffer.length > 0) throw new SnapshotFormatError(`snapshot ${where}: truncated (${buffer.length} bytes left over)`);
}
