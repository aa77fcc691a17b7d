/**
 * A snapshot chain (a base, then increments) restored into a new store, when the timer heap shrank between
 * them by whole pages: an increment carries the pages the heap has, not the ones it dropped, so the
 * restore must drop the pages the final meta record does not count. Otherwise a store that loads
 * partitions lazily counts the stale page as a customer record and refuses the partition as damaged.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { getCustomer, newPartitionState, pushTimer } from '../../scorer/core/state.js';
import { LmdbStateStore, type StoreFrame } from '../../scorer/runtime/store/mod.js';

const PARTITION = 3;
const dir = mkdtempSync(path.join(os.tmpdir(), 'vafa-timer-pages-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function collect(frames: AsyncIterable<StoreFrame>): Promise<StoreFrame[]> {
  const out: StoreFrame[] = [];
  for await (const frame of frames) out.push({ key: frame.key, value: frame.value ? Uint8Array.from(frame.value) : undefined });
  return out;
}

async function* chain(...parts: StoreFrame[][]): AsyncGenerator<StoreFrame> {
  for (const part of parts) yield* part;
}

describe('a snapshot chain over a timer heap that shrank', () => {
  it('restores into a lazily loading store with the heap as last committed', async () => {
    const source = LmdbStateStore.open({ path: path.join(dir, 'source'), timerPageSize: 4, cacheCustomers: 10 });
    const state = newPartitionState(PARTITION);
    const tracker = source.track(state);
    for (const id of ['A', 'B', 'C']) getCustomer(state, id);
    for (let i = 0; i < 10; i++) pushTimer(state, { due: 1_000 + i, customerId: ['A', 'B', 'C'][i % 3]!, kind: 'lifecycle' });
    state.seq = 10;
    await source.commit(state, tracker.take());
    const base = await collect(source.frames(PARTITION));
    expect(base.filter((f) => f.key.startsWith('t/')).length).toBe(3);

    // Seven timers fire: one page is left, two are deleted by the commit.
    state.timers.splice(0, state.timers.length, ...state.timers.slice(0, 3));
    state.customers.A!.lastSeq = 11;
    state.seq = 11;
    const changed = tracker.take();
    await source.commit(state, changed);
    const increment = await collect(source.frames(PARTITION, changed.changed));
    await source.close();

    const target = LmdbStateStore.open({ path: path.join(dir, 'target'), timerPageSize: 4, cacheCustomers: 10 });
    await target.restore(PARTITION, chain(base, increment));
    const loaded = await target.load(PARTITION);
    expect(loaded, 'the restored partition loads (refused as damaged, then cleared, before the fix)').toBeDefined();
    const restored = loaded!;
    expect(restored.seq).toBe(11);
    expect(restored.timers).toEqual(state.timers);
    expect(Object.hasOwn(restored.customers, 'B')).toBe(true);
    expect(restored.customers.A!.lastSeq).toBe(11);
    await target.close();
  });
});
