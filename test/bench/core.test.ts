/**
 * The core bench's replays (bench/core.ts) on a small simulated history: the figures are there and
 * finite, and the replays the store figures come from do what the core alone does (same rows).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openLoyalty, openSeen } from '../../scorer/core/mod.js';
import { defaultEngineConfig } from '../../config/mod.js';
import { loyaltyConfig } from '../../config/schema/mod.js';
import { tableRows } from '../../sinks/mod.js';
import { DEFAULT_CORE_PLAN, measureCore, prepareCoreInput, replayCore, storeEncoder, type CorePlan } from '../../bench/core.js';

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'vafa-core-bench-test-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));
const plan: CorePlan = { ...DEFAULT_CORE_PLAN, customers: 40, days: 60, batch: 50, dataDir };

/** Every customer of a replay as plain data: the copies read back keep their lots and earning records sealed until the core needs them, so they are opened to compare. */
function customers(r: ReturnType<typeof replayCore>): unknown {
  return [...r.states.values()].map((s) => {
    for (const c of Object.values(s.customers)) { openLoyalty(c.loyalty); openSeen(c.seen); }
    return JSON.parse(JSON.stringify(s.customers)) as unknown;
  });
}

describe('the core bench', () => {
  it('gives the same rows with the store\'s commits, and with every customer read back from its record', async () => {
    const input = await prepareCoreInput(plan);
    expect(input.subjects.length).toBeGreaterThan(1_000);
    const alone = replayCore(input, { batch: plan.batch });
    const warm = replayCore(input, { batch: plan.batch, commits: true });
    const cold = replayCore(input, { batch: plan.batch, commits: true, cold: true });
    expect(warm.rows).toEqual(alone.rows);
    expect(cold.rows).toEqual(alone.rows);
    expect(cold.publishes).toBe(alone.publishes);
    expect(warm.commits.writes).toBeGreaterThan(0);
    expect(cold.commits.writes).toBe(warm.commits.writes);
    expect(customers(cold)).toEqual(customers(alone));
  }, 120_000);

  it('gives the same rows and end states with every customer read back, when lots expire every few days (sealed expiries)', async () => {
    // The shipped tiers keep points a year or more, so the history above expires nothing: 9 to 21 days here.
    const shipped = defaultEngineConfig();
    const rules = shipped.loyalty.timeline.latest.rules;
    const engine = { ...shipped, loyalty: loyaltyConfig({ ...rules, tiers: rules.tiers.map((t, i) => ({ ...t, expiryDays: 9 + 4 * i })) }, shipped.loyalty.partitions) };
    const input = await prepareCoreInput(plan);
    const replay = (cold: boolean): { rows: string[]; result: ReturnType<typeof replayCore> } => {
      const rows: string[] = [];
      const result = replayCore(input, {
        batch: plan.batch, engine, commits: cold, cold,
        onBatch: (emit) => { for (const [table, list] of tableRows(emit)) for (const row of list) rows.push(`${table} ${JSON.stringify(row)}`); },
      });
      return { rows, result };
    };
    const alone = replay(false);
    const cold = replay(true);
    expect(alone.rows.filter((r) => r.startsWith('points_ledger ') && r.includes('"kind":"expire"')).length, 'expiry rows').toBeGreaterThan(50);
    expect(cold.rows).toEqual(alone.rows);
    expect(cold.result.publishes).toBe(alone.result.publishes);
    expect(customers(cold.result)).toEqual(customers(alone.result));
  }, 120_000);

  it('reports the core alone, with commits and with every customer read back, per event', async () => {
    const result = await measureCore(plan, storeEncoder);
    for (const v of [result.us_per_event, result.store.us_per_event, result.store.encode_us_per_event, result.store.encode_us_per_write, result.store.decode_us_per_read, result.store.cold_us_per_event, result.store.cache_bytes_per_record_byte]) {
      expect(Number.isFinite(v) && v > 0).toBe(true);
    }
    expect(result.store.writes_per_event).toBeGreaterThan(0);
    expect(result.store.writes_per_event).toBeLessThanOrEqual(1);
    expect(result.state.customers).toBe(plan.customers);
  }, 120_000);
});
