/**
 * The LMDB store's customer cache bounded by bytes (`cacheBytes`, changes.ts `limitBytes`): customers of
 * very different sizes, the count bound far away. After every durable commit the cache holds at most
 * `cacheBytes` of estimated heap, the estimate is `HEAP_BYTES_PER_RECORD_BYTE` × each cached customer's
 * record as committed, and what is read back after eviction and after a restart is what was written.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getCustomer, newPartitionState, type CustomerState, type PartitionState } from '../../scorer/core/state.js';
import { ChangeTracker, encodeRecord, HEAP_BYTES_PER_RECORD_BYTE, LmdbStateStore, rawCustomers } from '../../scorer/runtime/store/mod.js';

const PARTITION = 2;
const CUSTOMERS = 120;
const COUNT_LIMIT = 1000;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'vafa-cache-bytes-'));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A deterministic walk over the customers, with reasons texts of very different lengths (a few bytes to 40 KB). */
function* touches(batches: number, perBatch: number): Generator<{ batch: number; id: string; length: number }> {
  let x = 12345;
  for (let batch = 0; batch < batches; batch++) {
    for (let k = 0; k < perBatch; k++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      yield { batch, id: `b${x % CUSTOMERS}`, length: x % 7 === 0 ? 40_000 : (x >>> 8) % 600 };
    }
  }
}

const estimate = (customer: CustomerState): number => encodeRecord('customer', customer).length * HEAP_BYTES_PER_RECORD_BYTE;

function cachedEstimate(state: PartitionState): number {
  return Object.values(rawCustomers(state)).reduce((sum, customer) => sum + estimate(customer), 0);
}

describe('a customer cache bounded by bytes', () => {
  it('keeps at most cacheBytes after every commit, weighs customers as committed, and reads back what it wrote', async () => {
    const where = path.join(dir, 'store');
    const probe = newPartitionState(PARTITION);
    const small = estimate(getCustomer(probe, 'b0'));
    const limit = 30 * small;
    let store = LmdbStateStore.open({ path: where, cacheCustomers: COUNT_LIMIT, cacheBytes: limit });
    let state = newPartitionState(PARTITION);
    let tracker = store.track(state);
    const expected = new Map<string, CustomerState>();
    let batchNow = 0;
    const commit = async (): Promise<void> => {
      state.seq++;
      await store.commit(state, tracker.take());
      const { cached, cachedBytes } = tracker.stats();
      expect(cachedBytes, `estimated heap after the commit of batch ${batchNow}`).toBeLessThanOrEqual(limit);
      expect(cachedBytes).toBe(cachedEstimate(state));
      expect(cached).toBeLessThan(COUNT_LIMIT);
    };
    for (const { batch, id, length } of touches(40, 12)) {
      if (batch !== batchNow) {
        await commit();
        batchNow = batch;
        if (batch === 20) { // a restart: the partition is loaded lazily
          await store.close();
          store = LmdbStateStore.open({ path: where, cacheCustomers: COUNT_LIMIT, cacheBytes: limit });
          state = (await store.load(PARTITION))!;
          tracker = store.track(state);
          expect(tracker.stats()).toMatchObject({ cached: 0, cachedBytes: 0 });
        }
      }
      const customer = getCustomer(state, id);
      if (expected.has(id)) expect(customer).toEqual(expected.get(id));
      customer.churn = { p: length / 40_000, version: 'bytes', at: batch, reasons: 'r'.repeat(length) };
      customer.lastSeq = state.seq + 1;
      expected.set(id, structuredClone(customer));
    }
    await commit();
    expect(tracker.stats().evicted).toBeGreaterThan(CUSTOMERS);
    await store.close();
    const whole = LmdbStateStore.open({ path: where });
    const loaded = (await whole.load(PARTITION))!;
    expect(loaded.customers).toEqual(Object.fromEntries(expected));
    await whole.close();
  }, 60_000);

  it('refuses a bound that is not positive', () => {
    const source = { read: () => undefined, exists: () => false };
    expect(() => new ChangeTracker(newPartitionState(0), { limit: 10, limitBytes: 0, source })).toThrow(/limitBytes/);
  });
});
