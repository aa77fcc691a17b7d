/**
 * Erasure of a customer from the state snapshots in the NATS object store (right to erasure,
 * docs/security.md). Once the scorer has applied an `erase_customer` control message and its partition's
 * chain covers that position, the chain's latest state holds nothing of the customer, but older objects
 * (the base, earlier increments) still hold the customer's record and timer pages or meta records naming
 * them. This rewrites those objects without the frames that name the customer: the customer's own record
 * (`c/<id>`, the removal included) and any superseded frame (a later object of the chain writes the same
 * key) whose decoded record names the customer. Applied in order, the rewritten chain gives the same
 * state as before. The manifest is replaced by compare-and-set, keeping each object's position, so a
 * scorer shipping meanwhile either links its increment after the rewrite or, having lost the race, ships
 * a base next; a lost race here is retried.
 */
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { Objm, type ObjectStore } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import { sleep, type Logger } from '../../../platform/mod.js';
import { scanStream } from '../retained-erasure.js';
import { readableOf } from '../checkpoints.js';
import { decodeRecord, type RecordKind } from './codec.js';
import { CUSTOMER_PREFIX, META, TIMER_PREFIX } from './layout.js';
import type { StoreFrame } from './lmdb-store.js';
import { CHAIN_BUCKET, chainKey, encodeFrames, objectFrames, readChain, SNAPSHOT_BUCKET, SnapshotFormatError, type Chain } from './snapshots.js';
import type { SnapshotErasure } from '../../../contracts/erasure.js';
import { namesErased, type CustomerState } from '../../core/mod.js';

export interface SnapshotErasureOptions {
  nc: NatsConnection;
  partition: number;
  customerId: string;
  /** The stream position of the applied `erase_customer` (or `erase_mentions`) message: the chain must cover it first. */
  erasedAtSeq: number;
  /**
   * Other customers' records naming the customer count as naming them too (`erase_mentions`, the SHA-256
   * of the id → the erasure id): scorer/core/erasure.ts `namesErased`, each customer frame decoded.
   * Absent: only the customer's own record, meta records and timer pages are looked at.
   */
  mentions?: Readonly<Record<string, string>>;
  /** How long to wait for the scorer to ship a snapshot covering the erasure, ms. Default 60,000. */
  deadlineMs?: number;
  /** Between two looks at the chain, ms. Default 250. */
  pollMs?: number;
  logger?: Logger;
}

/** The scorer has not shipped a snapshot covering the erasure within the deadline (behind, or down). */
export class SnapshotNotCoveredError extends Error {
  override readonly name = 'SnapshotNotCoveredError';
}

/** The chain's latest state still names the customer: the scorer did not forget them (never expected). */
export class SnapshotStillHoldsError extends Error {
  override readonly name = 'SnapshotStillHoldsError';
}

/** A rewrite done: what it did, and the objects it replaced (to delete). */
interface Rewritten {
  result: SnapshotErasure;
  replaced: string[];
}

const NO_CHAIN: SnapshotErasure = { chain: false, objects: 0, rewritten: 0, frames: 0, chunks: 0 };

/** Rewrites lost the compare-and-set race this many times: give up (a retry resumes). */
const MAX_ATTEMPTS = 5;

async function openBuckets(nc: NatsConnection): Promise<{ objects: ObjectStore; chains: KV } | undefined> {
  try {
    const objects = await new Objm(nc).open(SNAPSHOT_BUCKET);
    const chains = await new Kvm(nc).open(CHAIN_BUCKET);
    return { objects, chains };
  } catch (err) {
    if (/not found/i.test((err as Error).message)) return undefined;
    throw err;
  }
}

function kindOf(key: string): RecordKind | undefined {
  if (key === META) return 'meta';
  if (key.startsWith(TIMER_PREFIX)) return 'timers';
  return undefined;
}

/** Whether a meta record or timer page names the customer (its id as a whole JSON string). */
function names(frame: StoreFrame, quoted: string): boolean {
  const kind = kindOf(frame.key);
  if (!kind || !frame.value) return false;
  return JSON.stringify(decodeRecord<unknown>(kind, frame.value, frame.key)).includes(quoted);
}

/** Whether another customer's record names the erased customer (`SnapshotErasureOptions.mentions`). */
function namesInRecord(frame: StoreFrame, mentions: Readonly<Record<string, string>> | undefined): boolean {
  if (!mentions || !frame.value || !frame.key.startsWith(CUSTOMER_PREFIX)) return false;
  return namesErased(decodeRecord<CustomerState>('customer', frame.value, frame.key), mentions);
}

/**
 * Timer pages the state has (the latest meta record's count). An increment ships the pages the store holds,
 * not the removal of a page the heap no longer fills, so a chain may end with pages past the count: they
 * are not part of the state (the store reads only the counted pages) and are left out when they name the
 * customer.
 */
function timerPages(meta: Uint8Array): number {
  const m = decodeRecord<{ timerCount?: number; timerPageSize?: number }>('meta', meta, 'meta');
  if (typeof m.timerCount !== 'number' || typeof m.timerPageSize !== 'number' || m.timerPageSize <= 0) return Infinity;
  return Math.ceil(m.timerCount / m.timerPageSize);
}

/**
 * Rewrites the objects of the partition's chain that name the customer. While the chain's latest state
 * still holds them (the scorer has not shipped a snapshot since it forgot them), waits for the chain to
 * cover `erasedAtSeq`, at most `deadlineMs`. A customer the scorer never held (a second erasure) needs no
 * new snapshot.
 */
export async function eraseFromSnapshots(opts: SnapshotErasureOptions): Promise<SnapshotErasure> {
  const buckets = await openBuckets(opts.nc);
  if (!buckets) return NO_CHAIN;
  const { objects, chains } = buckets;
  const deadlineMs = opts.deadlineMs ?? 60_000;
  const until = Date.now() + deadlineMs;
  let moved = 0;
  let lastError: Error | undefined;
  for (;;) {
    let outcome: Rewritten | 'moved' | { holds: number };
    try {
      outcome = await rewriteOnce(objects, chains, opts);
    } catch (err) {
      if (!(err instanceof SnapshotFormatError)) throw err;
      lastError = err;
      outcome = 'moved';
    }
    if (outcome === 'moved') {
      if (++moved >= MAX_ATTEMPTS) throw new SnapshotNotCoveredError(`the snapshot chain of partition ${opts.partition} kept moving during the rewrite (${MAX_ATTEMPTS} attempts${lastError ? `: ${lastError.message}` : ''})`);
      opts.logger?.info({ partition: opts.partition, attempt: moved }, 'erasure: the snapshot chain moved on during the rewrite; again');
      continue;
    }
    if (!('holds' in outcome)) {
      if (outcome.replaced.length === 0) return outcome.result;
      const chunks = await secureDelete(objects, jetstream(opts.nc), await jetstreamManager(opts.nc), outcome.replaced);
      opts.logger?.info({ partition: opts.partition, rewritten: outcome.result.rewritten, frames: outcome.result.frames, chunks }, 'erasure: snapshot objects rewritten without the customer');
      return { ...outcome.result, chunks };
    }
    if (Date.now() >= until) {
      throw new SnapshotNotCoveredError(`the snapshots of partition ${opts.partition} cover stream position ${outcome.holds}, not yet the erasure at ${opts.erasedAtSeq}, after ${deadlineMs} ms (is the scorer running with VAFA_CHECKPOINTS=nats?)`);
    }
    await sleep(opts.pollMs ?? 250);
  }
}

/**
 * One rewrite of the chain as it is now: `moved` when the manifest moved on under it (again), `holds`
 * (with the chain's position) when its latest state still holds the customer before the erasure.
 */
async function rewriteOnce(objects: ObjectStore, chains: KV, opts: SnapshotErasureOptions): Promise<Rewritten | 'moved' | { holds: number }> {
  const { chain, revision } = await readChain(chains, opts.partition);
  if (!chain) return { result: NO_CHAIN, replaced: [] };
  const ownKey = `${CUSTOMER_PREFIX}${opts.customerId}`;
  const quoted = JSON.stringify(opts.customerId);
  // Pass 1: the last object writing each key, and the frames naming the customer.
  const lastWriter = new Map<string, number>();
  const naming: { index: number; key: string }[] = [];
  let meta: Uint8Array | undefined;
  let ownRecord = false;
  for (const [index, object] of chain.objects.entries()) {
    for await (const frame of objectFrames(objects, object.name, `snapshot ${object.name} is missing (the chain moved on)`)) {
      lastWriter.set(frame.key, index);
      if (frame.key === META && frame.value) meta = frame.value;
      if (frame.key === ownKey) ownRecord = frame.value !== undefined;
      if (frame.key === ownKey || names(frame, quoted) || namesInRecord(frame, opts.mentions)) naming.push({ index, key: frame.key });
    }
  }
  const pages = meta ? timerPages(meta) : Infinity;
  const isLatest = (index: number, key: string): boolean =>
    key !== ownKey && lastWriter.get(key) === index && !(key.startsWith(TIMER_PREFIX) && Number(key.slice(TIMER_PREFIX.length)) >= pages);
  const latest = naming.find(({ index, key }) => isLatest(index, key));
  if (ownRecord || latest) {
    if (chain.seq < opts.erasedAtSeq) return { holds: chain.seq };
    const where = ownRecord || !latest ? 'their record' : latest.key.startsWith(TIMER_PREFIX) ? 'a timer page' : `record ${latest.key}`;
    throw new SnapshotStillHoldsError(`the latest snapshot of partition ${opts.partition} still names the customer in ${where}`);
  }
  const drop = new Map<number, Set<string>>();
  for (const { index, key } of naming) {
    let keys = drop.get(index);
    if (!keys) drop.set(index, (keys = new Set()));
    keys.add(key);
  }
  if (drop.size === 0) return { result: { chain: true, objects: chain.objects.length, rewritten: 0, frames: 0, chunks: 0 }, replaced: [] };
  // Pass 2: a copy of each object concerned, without those frames.
  const created: string[] = [];
  const replaced: Chain['objects'] = [];
  let frames = 0;
  try {
    for (const [index, object] of chain.objects.entries()) {
      const keys = drop.get(index);
      if (!keys) {
        replaced.push(object);
        continue;
      }
      const kept = (async function* filtered(): AsyncGenerator<StoreFrame> {
        for await (const frame of objectFrames(objects, object.name, `snapshot ${object.name} is missing (the chain moved on)`)) {
          if (keys.has(frame.key)) frames++;
          else yield frame;
        }
      })();
      const first = await kept.next();
      if (first.done) continue;
      const name = `${object.name}-e${Date.now().toString(36)}`;
      await objects.put({ name }, readableOf(encodeFrames(first.value, kept)));
      created.push(name);
      replaced.push({ name, seq: object.seq });
    }
    await chains.update(chainKey(opts.partition), JSON.stringify({ objects: replaced, seq: chain.seq } satisfies Chain), revision);
  } catch (err) {
    for (const name of created) await objects.delete(name).catch(() => undefined);
    if (err instanceof SnapshotFormatError || /wrong last sequence|revision/i.test((err as Error).message)) return 'moved';
    throw err;
  }
  const old = chain.objects.filter((_, index) => drop.has(index)).map((o) => o.name);
  return { result: { chain: true, objects: chain.objects.length, rewritten: drop.size, frames, chunks: 0 }, replaced: old };
}

/**
 * Deletes objects with their chunks securely erased: an object store delete purges the chunks (removed,
 * their bytes left in the stream's files until compaction); each chunk is overwritten first.
 */
async function secureDelete(objects: ObjectStore, js: JetStreamClient, jsm: JetStreamManager, names: readonly string[]): Promise<number> {
  let chunks = 0;
  for (const name of names) {
    const info = await objects.info(name).catch(() => null);
    if (info && !info.deleted) {
      const seqs: number[] = [];
      await scanStream(js, jsm, `OBJ_${SNAPSHOT_BUCKET}`, `$O.${SNAPSHOT_BUCKET}.C.${info.nuid}`, undefined, (m) => seqs.push(m.seq));
      for (const seq of seqs) if (await jsm.streams.deleteMessage(`OBJ_${SNAPSHOT_BUCKET}`, seq, true).catch(() => false)) chunks++;
    }
    await objects.delete(name).catch(() => undefined);
  }
  return chunks;
}
