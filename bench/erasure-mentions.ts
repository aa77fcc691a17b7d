/**
 * `npx tsx bench/erasure-mentions.ts [--customers N] [--rounds R]`: what an `erase_mentions` control
 * message costs a lazily loaded partition (scorer/runtime/mentions.ts): the LMDB store decodes every
 * customer record of the partition once (`LmdbStateStore.customersWhere` with the core's `namesErased`).
 * The customers are the simulated year's (bench/core.ts, 1,000 customers, 365 days), copied under new ids
 * up to N in one partition; one in fifty is given a referrer. Prints ms per scan and µs per customer.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { namesErased, sha256Hex, newPartitionState, type CustomerState, item } from '../scorer/core/mod.js';
import { LmdbStateStore } from '../scorer/runtime/store/mod.js';
import { DEFAULT_CORE_PLAN, prepareCoreInput, replayCore } from './core.js';

const { values } = parseArgs({ options: { customers: { type: 'string', default: '50000' }, rounds: { type: 'string', default: '3' } } });
const wanted = Number(values.customers);
const rounds = Number(values.rounds);

const { states } = replayCore(await prepareCoreInput(DEFAULT_CORE_PLAN));
const year: CustomerState[] = [...states.values()].flatMap((s) => Object.values(s.customers));
const dir = mkdtempSync(path.join(os.tmpdir(), 'vafa-bench-mentions-'));
try {
  const store = LmdbStateStore.open({ path: dir });
  const state = newPartitionState(0);
  for (let i = 0; i < wanted; i++) {
    const c = structuredClone(item(year, i % year.length));
    c.id = `B${String(i).padStart(8, '0')}`;
    if (i % 50 === 0) c.profile = { ...(c.profile ?? { customer_id: c.id, opened_at: '2025-01-01T00:00:00Z' }), customer_id: c.id, referred_by: `B${String(i + 1).padStart(8, '0')}` };
    state.customers[c.id] = c;
  }
  await store.save(state);
  const erased = { [sha256Hex('B00000001')]: 'erased-000000000000000000000000' };
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    const found = await store.customersWhere(0, (c) => namesErased(c, erased));
    const ms = performance.now() - t0;
    console.log(JSON.stringify({ customers: wanted, found: found.length, ms: Math.round(ms), us_per_customer: Number(((ms * 1000) / wanted).toFixed(2)) }));
  }
  await store.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
