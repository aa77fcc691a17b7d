/**
 * Erasure down to the disk, on the real stack (nats-server, the scorer, the embedded ClickHouse, the
 * API): after the erasure no file of the embedded engine's data directory holds the customer id or their
 * card token (the parts the mutations replaced included: chDB never removes them itself), while the other
 * customer's rows are all there; the scorer's LMDB file still holds the id in its free pages (copy-on-write)
 * until the store is next opened, which compacts it: then no file of the state store holds it, and the
 * other customer's state is whole.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMPACT_MARKER } from '../../scorer/runtime/store/lmdb-store.js';
import { makeTx, postJson, queryRows, spawnVafa, startTestStack, waitFor, type TestStack } from '../support/stack.js';

const run = Math.random().toString(36).slice(2, 8);
const GONE = `DISK-GONE-${run}`;
const KEEP = `DISK-KEEP-${run}`;
const GONE_CARD = `tok_disk_gone_${run}`;

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack();
}, 120_000);
afterAll(async () => {
  await stack?.destroy();
});

/** Files under `dir` whose bytes hold one of `needles` (files that vanish while read are skipped). */
function filesHolding(dir: string, needles: string[]): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch {
      continue;
    }
    if (needles.some((n) => bytes.includes(n))) found.push(path.relative(dir, file));
  }
  return found;
}

const count = async (table: string, customer: string): Promise<number> =>
  Number((await queryRows<{ n: number }>(stack, `SELECT count() AS n FROM vafa.${table} FINAL WHERE customer_id = '${customer}'`))[0]?.n);

describe('erasure from the warehouse\'s files', () => {
  it('leaves no file of the embedded engine holding the customer', async () => {
    const txs = Array.from({ length: 16 }, (_, i) => {
      const id = i % 2 === 0 ? GONE : KEEP;
      return makeTx(9000 + i, id, { amount_minor: 1_100_000, ...(id === GONE ? { card_token: GONE_CARD } : {}) });
    });
    expect((await postJson(`${stack.apiUrl}/v1/transactions`, txs)).status).toBe(202);
    await waitFor(async () => (await count('scored_transactions', GONE)) === 8 && (await count('scored_transactions', KEEP)) === 8, 60_000, 'both customers scored');
    const warehouseDir = path.join(stack.dataDir, 'clickhouse');
    await waitFor(async () => filesHolding(warehouseDir, [GONE]).length > 0, 10_000, 'the warehouse\'s files to hold the customer before the erasure');
    const keptLedger = await count('points_ledger', KEEP);

    const r = await postJson(`${stack.apiUrl}/v1/admin/erasures`, { customer_id: GONE });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const oldParts = r.body.old_parts as { removed: number; left: number };
    expect(oldParts.removed, 'the parts the mutations replaced, removed').toBeGreaterThan(0);
    expect(oldParts.left).toBe(0);
    expect(filesHolding(warehouseDir, [GONE, GONE_CARD]), 'files of the warehouse naming the customer or their card').toEqual([]);
    // The engine still reads every table; the other customer is whole.
    expect(await count('scored_transactions', KEEP)).toBe(8);
    expect(await count('points_ledger', KEEP)).toBe(keptLedger);
    expect(await count('customer_state', GONE)).toBe(0);
  }, 180_000);

  it('compacts the scorer\'s state store when a scorer next opens it: no free page keeps the customer', async () => {
    await stack.stopScorer();
    const stateDir = path.join(stack.dataDir, 'state');
    expect(existsSync(path.join(stateDir, COMPACT_MARKER)), 'the erasure\'s commit asked for a compaction').toBe(true);
    expect(filesHolding(stateDir, [GONE]), 'LMDB\'s free pages still hold the customer').toEqual(['data.mdb']);
    // A new scorer process over the same state store (this process's stopped one no longer reads it).
    const scorer = spawnVafa(['scorer'], stack, { VAFA_CHECKPOINTS: 'lmdb', LOG_LEVEL: 'info' });
    try {
      const compacted = await waitFor(async () => {
        if (scorer.exitCode !== null) throw new Error(`the scorer exited ${scorer.exitCode}: ${scorer.output.slice(-5).join('\n')}`);
        return scorer.output.find((l) => l.includes('state store compacted'));
      }, 60_000, 'the scorer to compact its state store');
      const done = JSON.parse(compacted) as { ms: number; bytesBefore: number; bytesAfter: number };
      if (process.env.DEBUG_COMPACTION) console.log(done);
      expect(filesHolding(stateDir, [GONE, GONE_CARD])).toEqual([]);
      expect(existsSync(path.join(stateDir, COMPACT_MARKER))).toBe(false);
      // The compacted store serves the other customer: their next event counts their whole history.
      expect((await postJson(`${stack.apiUrl}/v1/transactions`, makeTx(9100, KEEP, { amount_minor: 1_100_000 }))).status).toBe(202);
      await waitFor(async () => (await count('scored_transactions', KEEP)) === 9, 60_000, 'the other customer\'s new event scored');
      expect(scorer.output.filter((l) => /no state for this partition|"level":(50|60)/.test(l))).toEqual([]);
    } finally {
      scorer.kill('SIGTERM');
      await new Promise((r) => scorer.once('exit', r));
    }
  }, 120_000);
});
