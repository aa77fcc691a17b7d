/**
 * Checkpoint store: per-partition state snapshots with the stream sequence they cover. The scorer's
 * default is now the LMDB state store (`store/`), which implements `commit` and is committed after every
 * batch; the whole snapshots below serve `VAFA_CHECKPOINTS=file`, and are imported by the LMDB store
 * from an older vafa's data directory or object store. `FileCheckpointStore` keeps them in the data
 * directory (written atomically: temp file, fsync, rename); `NatsCheckpointStore` in the NATS object
 * store (bucket `vafa_checkpoints`).
 *
 * Format (`vafa.checkpoint/v2`): NDJSON, a header line (the partition state without its customers, with
 * the number of customers that follow) then one line per customer. It is written and read as a stream of
 * chunks of about a megabyte, yielding to the event loop between chunks, so a large partition neither
 * stalls the other partitions' batches for the whole snapshot nor meets V8's limit on string length
 * (about 512 MiB: a single `JSON.stringify` of the state failed there). Version-1 snapshots (one JSON
 * document, `partition-<n>.json`) are still read.
 *
 * The worker awaits `save` between batches: the state does not change while it is serialised.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { openLoyalty, type CustomerState, type PartitionState } from '../core/mod.js';
import type { ChangeTracker, CustomerChanges } from './store/changes.js';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Objm, setSha256Backend, type ObjectStore } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import { scanStream } from './retained-erasure.js';

// Node's own SHA-256 for object-store chunks: the pure-JS default costs several % of a scorer's CPU.
setSha256Backend('native');

export interface CheckpointStore {
  /** The partition's state as last saved or committed; undefined when the store has none. */
  load(partition: number): Promise<PartitionState | undefined>;
  /** Saves the whole state (periodic snapshots). */
  save(state: PartitionState): Promise<void>;
  /**
   * Incremental stores: commits the customers changed since the previous commit with the position
   * (`state.seq`) in one transaction. When present, the worker commits after every acked batch instead
   * of saving the whole state periodically.
   */
  commit?(state: PartitionState, changes: CustomerChanges): Promise<void>;
  /**
   * The worker hands the partition over gracefully after its last commit: stores whose state other
   * machines restore from make that commit available to them before this resolves.
   */
  release?(partition: number): Promise<void>;
  /**
   * Stores that read customers lazily: starts bringing the committed records of `ids` into memory so the
   * core's synchronous reads of them do not wait on the disk; resolves (never rejects) when done or given up.
   */
  prefetch?(state: PartitionState, ids: Iterable<string>): Promise<number>;
  /**
   * Stores that read customers lazily: the committed customers of `partition` for whom `match` holds,
   * every record decoded (an erasure's search for who names the erased customer, runtime/mentions.ts).
   */
  customersWhere?(partition: number, match: (customer: CustomerState) => boolean): Promise<string[]>;
  /** Incremental stores: the tracker of `state`'s changes (a bounded cache over the store when it has one). */
  track?(state: PartitionState): ChangeTracker;
  /**
   * Migration (stores an older vafa wrote, read once as fallbacks): removes this store's copy of the
   * partition once the state store holds the partition. The copy is stale from then on, and would keep a
   * customer erased since (docs/security.md "Erasure"); its bytes are overwritten before it is removed.
   * Resolves with whether there was one.
   */
  discard?(partition: number): Promise<boolean>;
  /** Where the state lives (a path, a bucket), for messages. */
  readonly location?: string;
}

export const CHECKPOINT_FORMAT = 'vafa.checkpoint/v2';
/** The object store of an older vafa's whole snapshots (`NatsCheckpointStore`). */
export const CHECKPOINT_BUCKET = 'vafa_checkpoints';
/** Bytes (UTF-16 code units) gathered before a chunk is handed on and the event loop gets a turn. */
const CHUNK = 1 << 20;

export class CheckpointError extends Error {
  override readonly name = 'CheckpointError';
  constructor(readonly where: string, readonly partition: number, detail: string) {
    super(`checkpoint ${where} of partition ${partition}: ${detail}`);
  }
}

/**
 * A web `ReadableStream` pulling from `chunks` (what the NATS object store's `put` reads); cancelling it
 * ends the generator. (`ReadableStream.from` is missing before Node 20.6.)
 */
export function readableOf(chunks: AsyncGenerator<Uint8Array>): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await chunks.next();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
    async cancel() {
      await chunks.return(undefined);
    },
  });
}

/** The snapshot as NDJSON chunks (see the module comment); yields to the event loop between chunks. */
export async function* encodeSnapshot(state: PartitionState): AsyncGenerator<Uint8Array> {
  const { customers, ...rest } = state;
  const ids = Object.keys(customers);
  let buf = `${JSON.stringify({ format: CHECKPOINT_FORMAT, ...rest, customers: ids.length })}\n`;
  for (const id of ids) {
    const customer = customers[id];
    // A customer the state store restored may hold its lots and earning records sealed: written whole.
    if (customer !== undefined) openLoyalty(customer.loyalty);
    buf += `${JSON.stringify(customer)}\n`;
    if (buf.length >= CHUNK) {
      yield Buffer.from(buf, 'utf8');
      buf = '';
      await yieldToLoop();
    }
  }
  if (buf) yield Buffer.from(buf, 'utf8');
}

/**
 * Reads a snapshot from its chunks: format 2, or a version-1 document. Throws `CheckpointError` for a
 * snapshot of another partition, an unknown version or a truncated one (fewer customers than announced).
 */
export async function decodeSnapshot(chunks: AsyncIterable<Uint8Array>, partition: number, where: string): Promise<PartitionState> {
  const decoder = new TextDecoder();
  let rest = '';
  let header: (Omit<PartitionState, 'customers'> & { format?: string; customers: number }) | undefined;
  let legacy: string[] | undefined;
  const customers: Record<string, CustomerState> = {};
  let count = 0;
  const line = (text: string): void => {
    if (legacy) {
      legacy.push(text);
      return;
    }
    if (!header) {
      const first = JSON.parse(text) as Record<string, unknown>;
      if (first.format === CHECKPOINT_FORMAT) header = first as unknown as typeof header;
      else legacy = [text];
      return;
    }
    if (text === '') return;
    const c = JSON.parse(text) as CustomerState;
    customers[c.id] = c;
    count++;
  };
  for await (const chunk of chunks) {
    const text = rest + decoder.decode(chunk, { stream: true });
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      line(text.slice(start, nl));
      start = nl + 1;
    }
    rest = text.slice(start);
  }
  rest += decoder.decode();
  if (rest !== '') line(rest);

  let state: PartitionState;
  if (legacy) {
    state = JSON.parse(legacy.join('\n')) as PartitionState;
  } else if (header) {
    const { format: _format, customers: announced, ...partitionState } = header;
    if (count !== announced) throw new CheckpointError(where, partition, `truncated: ${count} of ${announced} customers`);
    state = { ...partitionState, customers } as PartitionState;
  } else {
    throw new CheckpointError(where, partition, 'empty');
  }
  if (state.version !== 1 || state.partition !== partition) {
    throw new CheckpointError(where, partition, `not a version-1 snapshot of this partition (version ${String(state.version)}, partition ${String(state.partition)})`);
  }
  return state;
}

export class FileCheckpointStore implements CheckpointStore {
  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  get location(): string {
    return this.dir;
  }

  private file(partition: number): string {
    return path.join(this.dir, `partition-${partition}.ndjson`);
  }

  /** Where vafa before format 2 kept the partition's snapshot. */
  private legacyFile(partition: number): string {
    return path.join(this.dir, `partition-${partition}.json`);
  }

  async load(partition: number): Promise<PartitionState | undefined> {
    for (const f of [this.file(partition), this.legacyFile(partition)]) {
      if (existsSync(f)) return decodeSnapshot(createReadStream(f), partition, f);
    }
    return undefined;
  }

  async save(state: PartitionState): Promise<void> {
    const f = this.file(state.partition);
    // Unique: a fenced worker finishing while its successor in this process starts must not share it.
    const tmp = `${f}.${process.pid}.${randomUUID()}.tmp`;
    try {
      const fh = await open(tmp, 'w');
      try {
        for await (const chunk of encodeSnapshot(state)) await fh.write(chunk);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, f);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    await rm(this.legacyFile(state.partition), { force: true });
  }

  async discard(partition: number): Promise<boolean> {
    let found = false;
    for (const f of [this.file(partition), this.legacyFile(partition)]) {
      if (!existsSync(f)) continue;
      found = true;
      await overwrite(f);
      await rm(f, { force: true });
    }
    return found;
  }
}

/** Overwrites a file's bytes with zeros (on disk: fsync) before it is removed. */
async function overwrite(file: string): Promise<void> {
  const { size } = await stat(file);
  const fh = await open(file, 'r+');
  try {
    const zeros = Buffer.alloc(Math.min(size, CHUNK));
    for (let at = 0; at < size; at += zeros.length) await fh.write(zeros, 0, Math.min(zeros.length, size - at), at);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Checkpoints in the NATS object store (bucket `vafa_checkpoints`): readable by any scorer instance,
 * so a partition that moves to another machine resumes from its last snapshot. Chunks are streamed in
 * and out; the store checks each object's digest on reading.
 */
export class NatsCheckpointStore implements CheckpointStore {
  private constructor(private readonly os: ObjectStore, private readonly nc: NatsConnection) {}

  static async open(nc: NatsConnection, replicas = 1): Promise<NatsCheckpointStore> {
    const os = await new Objm(nc).create(CHECKPOINT_BUCKET, { replicas, description: 'scorer partition snapshots' });
    return new NatsCheckpointStore(os, nc);
  }

  get location(): string {
    return `NATS object store ${CHECKPOINT_BUCKET}`;
  }

  /** Deletes the partition's object with each of its chunks securely erased first (a delete alone purges them, leaving their bytes in the stream's files). */
  async discard(partition: number): Promise<boolean> {
    const name = `partition-${partition}`;
    const info = await this.os.info(name);
    if (!info || info.deleted) return false;
    const stream = `OBJ_${CHECKPOINT_BUCKET}`;
    const jsm = await jetstreamManager(this.nc);
    const seqs: number[] = [];
    await scanStream(jetstream(this.nc), jsm, stream, `$O.${CHECKPOINT_BUCKET}.C.${info.nuid}`, undefined, (m) => seqs.push(m.seq));
    for (const seq of seqs) await jsm.streams.deleteMessage(stream, seq, true).catch(() => false);
    await this.os.delete(name);
    return true;
  }

  async load(partition: number): Promise<PartitionState | undefined> {
    const name = `partition-${partition}`;
    const r = await this.os.get(name);
    if (!r) return undefined;
    const state = await decodeSnapshot(r.data as unknown as AsyncIterable<Uint8Array>, partition, `object ${name}`);
    const err = await r.error;
    if (err) throw new CheckpointError(`object ${name}`, partition, err.message);
    return state;
  }

  async save(state: PartitionState): Promise<void> {
    const chunks = encodeSnapshot(state);
    await this.os.put({ name: `partition-${state.partition}` }, readableOf(chunks));
  }
}
