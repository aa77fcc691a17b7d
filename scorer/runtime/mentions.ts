/**
 * The runtime's side of `erase_mentions` (right to erasure, docs/security.md; the core's side is
 * scorer/core/erasure.ts):
 *
 * - `mentionsOf`: the customers of a partition whose data names the erased customer, for
 *   `CoreEvent.mentions`. A lazily loaded partition holds only a cache of its customers, so the store's
 *   committed records are read too (`CheckpointStore.customersWhere`: every record of the partition is
 *   decoded once per erasure; no index is kept on the commit path). The customers the batch's earlier
 *   events reach are added (they may name the erased customer only once applied); the core checks each.
 * - `erasuresAhead`: the `erase_mentions` messages of the partition after its state's position, read
 *   before the first event is applied, so a rebuild (or a restart from an older state) applies every
 *   event before them with the erasure id already in place: no row of the replay names the erased customer.
 */
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { ControlV1, CoreMessage } from '../../contracts/events.js';
import { STREAM_TX } from '../../contracts/subjects.js';
import { eraseMentions, namesErased, type PartitionState } from '../core/mod.js';
import type { CheckpointStore } from './checkpoints.js';
import { decodeTx } from './decode.js';
import { scanStream } from './retained-erasure.js';
import { isPartial, rawCustomers } from './store/changes.js';

export type EraseMentions = Extract<ControlV1, { type: 'erase_mentions' }>;

/** The `erase_mentions` body of a decoded message; undefined for any other message. */
export function eraseMentionsOf(msg: CoreMessage): EraseMentions | undefined {
  return msg.kind === 'control' && msg.body.type === 'erase_mentions' ? msg.body : undefined;
}

/**
 * The customers of the partition that name the customer `body` erases (see the file comment), with
 * `reached` (customers of the events before it in the same batch) added.
 */
export async function mentionsOf(state: PartitionState, store: CheckpointStore, body: EraseMentions, reached: Iterable<string>): Promise<string[]> {
  const erased = { [body.customer_sha256]: body.erasure_id };
  const match = (c: Parameters<typeof namesErased>[0]): boolean => namesErased(c, erased);
  const ids = new Set(reached);
  for (const [id, c] of Object.entries(rawCustomers(state))) if (match(c)) ids.add(id);
  if (isPartial(state)) {
    if (!store.customersWhere) throw new Error(`partition ${state.partition}: the state is loaded lazily but its store cannot list customers (erase_mentions)`);
    for (const id of await store.customersWhere(state.partition, match)) ids.add(id);
  }
  return [...ids];
}

/** The `erase_mentions` messages of `TX` after `afterSeq` (of one partition, or of all), in stream order. */
export async function erasuresInStream(js: JetStreamClient, jsm: JetStreamManager, partition: number | '*', afterSeq = 0): Promise<{ partition: number; body: EraseMentions }[]> {
  const found: { partition: number; body: EraseMentions }[] = [];
  await scanStream(js, jsm, STREAM_TX, `tx.${partition}.control`, undefined, (m) => {
    if (m.seq <= afterSeq) return;
    const decoded = decodeTx(m.subject, m.data);
    const body = decoded.ok ? eraseMentionsOf(decoded.msg) : undefined;
    if (body && decoded.ok) found.push({ partition: decoded.partition, body });
  });
  return found;
}

/** Reads the partition's `erase_mentions` messages after `state.seq` and records them in the state (nothing named yet is changed). */
export async function seedErasures(js: JetStreamClient, jsm: JetStreamManager, state: PartitionState): Promise<number> {
  const ahead = await erasuresInStream(js, jsm, state.partition, state.seq);
  for (const { body } of ahead) eraseMentions(state, body, []);
  return ahead.length;
}
