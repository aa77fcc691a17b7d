/**
 * Tells a `TX` whose first messages were erased from one whose first messages were lost (right to
 * erasure, docs/security.md). JetStream keeps a deleted message inside the stream as a gap
 * (`state.num_deleted`), but forgets those below its first sequence: once an erasure deletes the stream's
 * first messages, `first_seq` moves past them exactly as when a limit or a purge drops history. A scorer
 * that lost its state store must then tell the two apart: it may rebuild from the stream after the first,
 * not after the second (worker.ts `checkNothingProcessed`).
 *
 * So each erasure that moves the head records it: KV bucket `vafa_erased_head`, key `TX`, value
 * `{"first_seq": H}`, meaning every message of `TX` below `H` was deleted (by erasures, or deleted by hand
 * while inside the stream), none lost to a limit or a purge. An erasure extends the record only from a head
 * the record (or seq 1) vouches for, and only over messages it deleted itself or that were deleted gaps
 * before it started; anything else leaves the record as it was, and the scorer refuses. The record holds
 * sequence numbers only, nothing of any customer.
 */
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { STREAM_TX } from '../../contracts/subjects.js';

/** The KV bucket of the erased-head record. */
export const ERASED_HEAD_BUCKET = 'vafa_erased_head';
/** Attempts at the compare-and-set of the record when erasures race. */
const RECORD_ATTEMPTS = 5;

/** The stream's head before an erasure's deletes: its first sequence and the deleted gaps inside it. */
export interface HeadBefore {
  firstSeq: number;
  deleted: ReadonlySet<number>;
  replicas: number;
}

interface Record {
  first_seq: number;
}

export async function headBefore(jsm: JetStreamManager, stream = STREAM_TX): Promise<HeadBefore> {
  const info = await jsm.streams.info(stream, { deleted_details: true });
  return { firstSeq: info.state.first_seq, deleted: new Set(info.state.deleted ?? []), replicas: info.config.num_replicas };
}

function decode(value: Uint8Array | undefined): number | undefined {
  if (!value || value.length === 0) return undefined;
  const parsed = JSON.parse(Buffer.from(value).toString('utf8')) as Partial<Record>;
  return typeof parsed.first_seq === 'number' && Number.isInteger(parsed.first_seq) && parsed.first_seq >= 1 ? parsed.first_seq : undefined;
}

/**
 * The head a record vouches for: every message of `stream` below it was deleted, none lost. Undefined
 * when there is no record (or the bucket cannot be read: the caller then treats the head as lost).
 */
export async function erasedHead(js: JetStreamClient, stream = STREAM_TX): Promise<number | undefined> {
  try {
    const kv = await new Kvm(js).open(ERASED_HEAD_BUCKET);
    return decode((await kv.get(stream))?.value);
  } catch {
    return undefined;
  }
}

/**
 * The head the stream has once `erased` (sequences this erasure deleted) are gone, if the record can
 * vouch for it: from `vouched` (the record's head, or 1), every sequence below `after` was a deleted gap
 * before the erasure or one of its own deletes. Undefined when something else moved the head.
 */
export function vouchedHead(vouched: number, before: HeadBefore, erased: ReadonlySet<number>, after: number): number | undefined {
  if (after <= vouched) return undefined;
  if (before.firstSeq !== vouched) return undefined;
  for (let seq = before.firstSeq; seq < after; seq++) {
    if (!before.deleted.has(seq) && !erased.has(seq)) return undefined;
  }
  return after;
}

/**
 * After an erasure's deletes in `stream`: extends the record when the head moved only by deletes (see the
 * file comment). Returns the recorded head, or undefined when the record was left as it was.
 */
export async function recordErasedHead(js: JetStreamClient, jsm: JetStreamManager, before: HeadBefore, erased: readonly number[], stream = STREAM_TX): Promise<number | undefined> {
  const after = (await jsm.streams.info(stream)).state.first_seq;
  if (after <= before.firstSeq) return undefined;
  const kv: KV = await new Kvm(js).create(ERASED_HEAD_BUCKET, { history: 1, replicas: before.replicas, description: 'TX head moved by erasures: sequence numbers only' });
  const mine = new Set(erased);
  for (let attempt = 1; attempt <= RECORD_ATTEMPTS; attempt++) {
    const entry = await kv.get(stream);
    const recorded = decode(entry?.value) ?? 1;
    const head = vouchedHead(recorded, before, mine, after);
    if (head === undefined) return undefined;
    const value = JSON.stringify({ first_seq: head } satisfies Record);
    try {
      if (entry && entry.operation === 'PUT') await kv.update(stream, value, entry.revision);
      else await kv.create(stream, value);
      return head;
    } catch (err) {
      // Another erasure recorded meanwhile: read again.
      if (attempt === RECORD_ATTEMPTS || !/wrong last sequence|key exists/i.test((err as Error).message)) throw err;
    }
  }
  return undefined;
}
