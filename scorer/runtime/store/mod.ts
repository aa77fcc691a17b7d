/**
 * The scorer's state store, chosen by `VAFA_CHECKPOINTS`:
 * - `lmdb` (and `auto` with the embedded NATS): the LMDB store in `<data dir>/state`, committed after
 *   every acked batch; NDJSON checkpoints of an older vafa in `<data dir>/checkpoints` are imported once.
 * - `nats` (and `auto` with an external NATS: scorers on several machines): the same LMDB store, plus
 *   incremental snapshots shipped to the NATS object store every `VAFA_CHECKPOINT_MS` (snapshots.ts);
 *   a partition that arrives from another machine is restored from them. Whole snapshots of an older
 *   vafa (`vafa_checkpoints`) are imported once.
 * - `file`: whole NDJSON snapshots in `<data dir>/checkpoints` every `VAFA_CHECKPOINT_MS` (the former
 *   format, kept for comparison and rollback).
 */
import { renameSync } from 'node:fs';
import path from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { withDeadline, type Logger } from '../../../platform/mod.js';
import { FileCheckpointStore, NatsCheckpointStore, type CheckpointStore } from '../checkpoints.js';
import { LmdbStateStore, StoreOpenError, type LmdbStateStoreOptions } from './lmdb-store.js';
import { NatsSnapshots } from './snapshots.js';

/** Longest wait for a released partition's last snapshot; past it the next owner replays more of the stream. */
const releaseShipMs = 10_000;

export { ChangeTracker, isPartial, PartialStateError, rawCustomers, trackerOf, type CacheStats, type CustomerCache, type CustomerChanges, type CustomerSource, type StoredCustomer } from './changes.js';
export { CODEC_VERSION, CodecError, customerRecordParts, decodeRecord, encodeRecord, type RecordParts } from './codec.js';
export { HEAP_BYTES_PER_RECORD_BYTE, LmdbStateStore, StaleCommitError, StoreCorruptError, StoreOpenError, type LmdbStateStoreOptions, type StoreFrame } from './lmdb-store.js';
export { BASE_HEAP_MIB, HEAP_HEADROOM, liveHeapMiB, oldSpaceLimitMiB, partitionCacheBounds, TIMER_HEAP_BYTES, type HeapBudget } from './memory.js';
export { ChainMovedError, NatsSnapshots, parseFrames, SnapshotFormatError, type SnapshotOptions } from './snapshots.js';

export type StoreKind = 'auto' | 'lmdb' | 'file' | 'nats';

export interface OpenStoreOptions {
  kind: StoreKind;
  dataDir: string;
  nc: NatsConnection;
  /** The embedded nats-server runs (one machine): `auto` means the local LMDB store. */
  localNats: boolean;
  streamReplicas: number;
  /** Most customers of a partition kept in memory, the rest read lazily (`LmdbStateStoreOptions.cacheCustomers`). Default: all loaded. */
  cacheCustomers?: number;
  /** With `cacheCustomers`: most estimated heap of a partition's cached customers, bytes (`LmdbStateStoreOptions.cacheBytes`). */
  cacheBytes?: number;
  /** Map the data file in chunks (`LmdbStateStoreOptions.remapChunks`, `VAFA_STATE_MAP_CHUNKS`). Default true. */
  remapChunks?: boolean;
  /** Interval of the snapshots shipped to NATS (`nats`) or written whole (`file`), ms. Default 5000. */
  checkpointMs?: number;
  logger: Logger;
}

/** A checkpoint store and what closes it. */
export interface OpenedStore {
  store: CheckpointStore;
  close(): Promise<void>;
}

export async function openCheckpointStore(options: OpenStoreOptions): Promise<OpenedStore> {
  const kind = options.kind === 'auto' ? (options.localNats ? 'lmdb' : 'nats') : options.kind;
  const legacyDir = path.join(options.dataDir, 'checkpoints');
  const storeOptions = {
    ...(options.cacheCustomers === undefined ? {} : { cacheCustomers: options.cacheCustomers, ...(options.cacheBytes === undefined ? {} : { cacheBytes: options.cacheBytes }) }),
    ...(options.remapChunks === undefined ? {} : { remapChunks: options.remapChunks }),
  };
  switch (kind) {
    case 'lmdb': {
      const store = openOrSetAside({ path: path.join(options.dataDir, 'state'), fallbacks: [new FileCheckpointStore(legacyDir)], ...storeOptions, logger: options.logger }, options.logger);
      return { store, close: () => store.close() };
    }
    case 'nats': {
      const snapshots = await NatsSnapshots.open(options.nc, { replicas: options.streamReplicas, intervalMs: options.checkpointMs ?? 5000, logger: options.logger });
      const older = await NatsCheckpointStore.open(options.nc, options.streamReplicas);
      const store = openOrSetAside({
        path: path.join(options.dataDir, 'state'), remote: snapshots, fallbacks: [older, new FileCheckpointStore(legacyDir)],
        onCommitted: (partition, changes) => snapshots.committed(partition, changes),
        onReleased: (partition) => withDeadline(snapshots.flush(partition), releaseShipMs, `shipping the last snapshot of partition ${partition}`),
        ...storeOptions, logger: options.logger,
      }, options.logger);
      snapshots.attach(store);
      return { store, close: () => { snapshots.close(); return store.close(); } };
    }
    case 'file':
      return { store: new FileCheckpointStore(legacyDir), close: async () => undefined };
  }
}

/**
 * Opens the LMDB store; a damaged environment is moved aside (kept for inspection, named in the log) and
 * a new one created: each partition is then restored from its fallbacks, or rebuilt from the stream by
 * the worker, which says so (never a silent start from empty).
 */
export function openOrSetAside(options: LmdbStateStoreOptions, logger: Logger): LmdbStateStore {
  try {
    return LmdbStateStore.open(options);
  } catch (err) {
    if (!(err instanceof StoreOpenError)) throw err;
    const aside = `${options.path}.damaged-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    renameSync(options.path, aside);
    logger.error({ path: options.path, movedTo: aside, err: err.message }, 'state store damaged: moved aside; partitions are restored from snapshots or rebuilt from the stream');
    return LmdbStateStore.open(options);
  }
}
