/**
 * A customer's erasure in the scorer (control message `erase_customer` on the customer's partition): the
 * core forgets the customer (state, remembered transaction ids, timers) at the message's position and
 * leaves every other customer as it was; a later event of the same id starts a new customer; the LMDB
 * store deletes the record with the commit; the control message is validated like any other.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ControlV1, TxMessage } from '../../contracts/events.js';
import { txSubject } from '../../contracts/subjects.js';
import { Engine, type Pending } from '../../scorer/core/engine.js';
import { heapPop, heapPush, heapRemoveWhere } from '../../scorer/core/heap.js';
import { newPartitionState, type PartitionState } from '../../scorer/core/state.js';
import { OutputEmit, outputCount } from '../../sinks/mapping.js';
import { decodeTx } from '../../scorer/runtime/decode.js';
import { LmdbStateStore, rawCustomers } from '../../scorer/runtime/store/mod.js';
import { createBank } from '../../simulator/mod.js';
import { defaultEngineConfig } from '../../config/policy.js';

const PARTITION = 0;
const engine = new Engine(defaultEngineConfig());
const ERASURE_ID = `erased-${'ab'.repeat(12)}`;

function traffic(): TxMessage[] {
  const bank = createBank({ seed: 5, customers: 6, start: new Date('2025-01-01T00:00:00Z'), days: 40 });
  const out: TxMessage[] = [];
  for (const { cards: _cards, ...profile } of bank.profiles()) out.push({ kind: 'profile', body: profile });
  for (const ev of bank.events()) if (ev.kind === 'transaction') out.push(ev);
  return out;
}

function run(state: PartitionState, msgs: readonly (TxMessage | { kind: 'control'; body: ControlV1 })[]): OutputEmit {
  const emit = new OutputEmit();
  const pendings: Pending[] = [];
  for (const msg of msgs) {
    const pending = engine.apply(state, { seq: state.seq + 1, partition: PARTITION, msg }, emit);
    if (pending) pendings.push(pending);
  }
  for (const pending of pendings) engine.complete(state, pending, { probability: 0.2, modelVersion: 't' }, emit);
  return emit;
}

const erase = (customerId: string): { kind: 'control'; body: ControlV1 } => ({
  kind: 'control', body: { control_id: `erase:${ERASURE_ID}`, type: 'erase_customer', customer_id: customerId, erasure_id: ERASURE_ID },
});

describe('erasing a customer in the scorer', () => {
  it('forgets the customer, its remembered ids and its timers, and leaves the others as they were', () => {
    const msgs = traffic();
    const state = newPartitionState(PARTITION);
    run(state, msgs);
    const ids = Object.keys(state.customers).sort();
    expect(ids.length).toBeGreaterThanOrEqual(2);
    const [gone, kept] = ids as [string, string];
    expect(state.timers.some((t) => t.customerId === gone)).toBe(true);
    const before = structuredClone(state);
    const emit = run(state, [erase(gone)]);
    expect(outputCount(emit), 'an erasure emits nothing').toBe(0);
    expect(Object.hasOwn(state.customers, gone)).toBe(false);
    expect(state.timers.some((t) => t.customerId === gone)).toBe(false);
    expect(state.customers[kept]).toEqual(before.customers[kept]);
    expect(state.timers.length).toBe(before.timers.filter((t) => t.customerId !== gone).length);
    expect(state.stats).toEqual({ ...before.stats, events: before.stats.events + 1 });

    // The same transaction again is not a duplicate any more: it starts a new customer with only itself.
    const again = msgs.find((m) => m.kind === 'transaction' && m.body.customer_id === gone)!;
    const duplicates = state.stats.duplicates;
    run(state, [again]);
    expect(state.stats.duplicates).toBe(duplicates);
    expect(state.customers[gone]!.profile).toBeUndefined();
    expect(state.customers[gone]!.features.firstAt).toBe(state.customers[gone]!.features.lastAt);
  });

  it('an unknown customer is a no-op, and the timers of the others keep firing in due order', () => {
    const state = newPartitionState(PARTITION);
    run(state, traffic());
    const before = structuredClone(state);
    run(state, [erase('NOBODY')]);
    expect(state.customers).toEqual(before.customers);
    expect(state.timers).toEqual(before.timers);

    const heap: number[] = [];
    const less = (x: number, y: number): boolean => x < y;
    for (const x of [9, 3, 7, 1, 8, 2, 6, 4, 5, 3, 7]) heapPush(heap, x, less);
    expect(heapRemoveWhere(heap, (x) => x === 3 || x === 7, less)).toBe(4);
    const order: number[] = [];
    for (let x = heapPop(heap, less); x !== undefined; x = heapPop(heap, less)) order.push(x);
    expect(order).toEqual([1, 2, 4, 5, 6, 8, 9]);
  });

  it('the LMDB store deletes the record with the commit that holds the erasure', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vafa-erase-'));
    try {
      let store = LmdbStateStore.open({ path: dir, cacheCustomers: 2, timerPageSize: 64 });
      let state = newPartitionState(PARTITION);
      let tracker = store.track(state);
      run(state, traffic());
      await store.commit(state, tracker.take());
      await store.close();

      store = LmdbStateStore.open({ path: dir, cacheCustomers: 2, timerPageSize: 64 });
      state = (await store.load(PARTITION))!;
      tracker = store.track(state);
      const gone = traffic()[0]!.body.customer_id;
      expect(tracker.stats().cached).toBe(0);
      run(state, [erase(gone)]);
      await store.commit(state, tracker.take());
      await store.close();

      const whole = LmdbStateStore.open({ path: dir, timerPageSize: 64 });
      const reloaded = (await whole.load(PARTITION))!;
      await whole.close();
      expect(Object.keys(rawCustomers(reloaded))).not.toContain(gone);
      expect(Object.keys(rawCustomers(reloaded)).length).toBe(5);
      expect(reloaded.timers.some((t) => t.customerId === gone)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is validated as a control message: a malformed erasure id or a missing customer is refused, naming the field', () => {
    const subject = txSubject(PARTITION, 'control');
    const ok = decodeTx(subject, Buffer.from(JSON.stringify(erase('C1').body)));
    expect(ok.ok).toBe(true);
    const bad = decodeTx(subject, Buffer.from(JSON.stringify({ ...erase('C1').body, erasure_id: 'C000001' })));
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.detail).toMatch(/erasure_id/);
    const missing = decodeTx(subject, Buffer.from(JSON.stringify({ control_id: 'x', type: 'erase_customer', erasure_id: ERASURE_ID })));
    expect(missing.ok).toBe(false);
  });
});
