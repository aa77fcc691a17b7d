/**
 * The state store's errors and the names it keeps on disk, apart from lmdb-store.ts so that the worker,
 * the erasure of snapshots and the backfill's threads can name them without loading LMDB.
 */

/** The environment could not be opened (a damaged file, a path that is not a directory, no space). */
export class StoreOpenError extends Error {
  override readonly name = 'StoreOpenError';
  constructor(readonly path: string, detail: string) {
    super(`state store ${path}: cannot open: ${detail}`);
  }
}

/** A partition's records do not decode or do not agree with its meta record. */
export class StoreCorruptError extends Error {
  override readonly name = 'StoreCorruptError';
  constructor(readonly path: string, readonly partition: number, detail: string) {
    super(`state store ${path}, partition ${partition}: ${detail}`);
  }
}

/** A commit refused: older than one already made, or by a writer that lost the partition (fenced). */
export class StaleCommitError extends Error {
  override readonly name = 'StaleCommitError';
  constructor(readonly partition: number, readonly seq: number, detail: string) {
    super(`partition ${partition}: commit at seq ${seq} refused: ${detail}`);
  }
}

/**
 * Marker file in the environment's directory: a customer record was removed (only an erasure removes one)
 * since the environment was last compacted. LMDB writes copy-on-write: a removed record's bytes (and every
 * older version of it) stay in the file's free pages until reused, so the next open compacts first.
 */
export const COMPACT_MARKER = 'compact-pending';

/** Record keys of a partition's database: the meta record, `c/<customer id>`, `t/<page>` (also the keys of snapshot frames). */
export const META = 'meta';
export const CUSTOMER_PREFIX = 'c/';
export const TIMER_PREFIX = 't/';
