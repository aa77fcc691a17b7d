/**
 * Erasure of a customer other customers' data names, on the real stack (nats-server, the scorer on the
 * `nats` state store with a one-customer cache per partition, the embedded ClickHouse, the API): R referred
 * X, X referred Y; X is erased. Afterwards Y's and R's state in the store, every snapshot object and every
 * ClickHouse table hold no X id; Y's `referred` feature and the points liability are unchanged; Y's pending
 * referral bonus lands on the erasure id; and a scorer rebuilt from the stream, or `vafa replay`, holds
 * and writes no X id.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Objm } from '@nats-io/obj';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STREAM_TX } from '../../contracts/subjects.js';
import { decodeRecord, type RecordKind } from '../../scorer/runtime/store/codec.js';
import { LmdbStateStore, rawCustomers } from '../../scorer/runtime/store/mod.js';
import { parseFrames, SNAPSHOT_BUCKET } from '../../scorer/runtime/store/snapshots.js';
import { replay } from '../../scorer/runtime/replay.js';
import { consumerName } from '../../scorer/runtime/worker.js';
import { mentions as mentionsIn } from '../support/mentions.js';
import { makeTx, postJson, queryRows, spawnVafa, startTestStack, waitFor, type TestStack } from '../support/stack.js';

const run = Math.random().toString(36).slice(2, 8);
const R = `MEN-R-${run}`;
const X = `MEN-X-${run}`;
const Y = `MEN-Y-${run}`;
const DAY = 86_400_000;

let stack: TestStack;
let jsm: JetStreamManager;
let child: ChildProcess | undefined;
const dirs: string[] = [];

beforeAll(async () => {
  stack = await startTestStack({ overrides: { checkpointStore: 'nats', checkpointMs: 300, stateCacheCustomers: 4 } });
  jsm = await jetstreamManager(stack.nc);
}, 120_000);
afterAll(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));
  }
  await stack?.destroy();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const mentions = (needle: string): Promise<string[]> => mentionsIn(stack, needle);
const ago = (days: number): string => new Date(Date.now() - days * DAY).toISOString();

async function liability(): Promise<number> {
  return Number((await queryRows<{ n: number }>(stack, 'SELECT sum(points) AS n FROM vafa.points_ledger FINAL'))[0]?.n);
}

async function referredFeature(customer: string): Promise<number | undefined> {
  const [row] = await queryRows<{ features: string }>(stack, `SELECT features FROM vafa.customer_state FINAL WHERE customer_id = '${customer}'`);
  return row ? (JSON.parse(row.features) as Record<string, number>).referred : undefined;
}

/** Every record of every snapshot object, decoded, as text. */
async function snapshotTexts(): Promise<string[]> {
  const objects = await new Objm(stack.nc).open(SNAPSHOT_BUCKET);
  const out: string[] = [];
  for (const info of await objects.list()) {
    const result = await objects.get(info.name);
    if (!result) continue;
    for await (const frame of parseFrames(result.data as unknown as AsyncIterable<Uint8Array>, info.name)) {
      const kind: RecordKind = frame.key === 'meta' ? 'meta' : frame.key.startsWith('t/') ? 'timers' : 'customer';
      out.push(`${info.name} ${frame.key} ${frame.value ? JSON.stringify(decodeRecord<unknown>(kind, frame.value, frame.key)) : '(removed)'}`);
    }
  }
  return out;
}

/** Every partition's state in the LMDB store under `dir`, decoded whole, as text. */
async function storedStates(dir: string): Promise<string> {
  const store = LmdbStateStore.open({ path: dir });
  try {
    const states: unknown[] = [];
    for (let p = 0; p < stack.settings.partitions; p++) {
      const state = await store.load(p);
      if (state) states.push({ ...state, customers: rawCustomers(state) });
    }
    return JSON.stringify(states);
  } finally {
    await store.close();
  }
}

async function caughtUp(): Promise<boolean> {
  for (let p = 0; p < stack.settings.partitions; p++) {
    const info = await jsm.consumers.info(STREAM_TX, consumerName(p)).catch(() => undefined);
    if (!info || info.num_pending > 0 || info.num_ack_pending > 0) return false;
  }
  return true;
}

describe('erasing a customer other customers name', () => {
  let erasureId = '';
  let before = { liability: 0, referred: 0 };

  it('writes the erasure id wherever another customer named the erased one: state, snapshots, warehouse', async () => {
    const profiles = [
      { customer_id: R, opened_at: ago(400), segment: 'retail' },
      { customer_id: X, opened_at: ago(2), segment: 'retail', referred_by: R },
      { customer_id: Y, opened_at: ago(2), segment: 'retail', referred_by: X },
    ];
    expect((await postJson(`${stack.apiUrl}/v1/customers`, profiles)).status).toBe(202);
    // X qualifies for R's bonus (R's ledger then names X); Y makes a small purchase only (their bonus for X is pending).
    const txs = [
      makeTx(9601, X, { channel: 'pos', amount_minor: 6_000_000, occurred_at: ago(1) }),
      makeTx(9602, Y, { channel: 'pos', amount_minor: 1_000, occurred_at: ago(1) }),
      ...Array.from({ length: 12 }, (_, i) => makeTx(9610 + i, `MEN-F${i}-${run}`, { channel: 'pos', amount_minor: 2_000, occurred_at: ago(1) })),
    ];
    expect((await postJson(`${stack.apiUrl}/v1/transactions`, txs)).status).toBe(202);
    await waitFor(async () => {
      const [r] = await queryRows<{ n: number }>(stack, `SELECT count() AS n FROM vafa.points_ledger FINAL WHERE customer_id = '${R}' AND rule_id = 'referral'`);
      return Number(r?.n) > 0 && (await referredFeature(Y)) === 1 && (await caughtUp());
    }, 60_000, 'R\'s referral bonus for X, and Y scored');
    expect(await mentions(X), 'R\'s bonus names X').not.toEqual([]);
    before = { liability: await liability(), referred: (await referredFeature(Y))! };

    const r = await postJson(`${stack.apiUrl}/v1/admin/erasures`, { customer_id: X });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    erasureId = String(r.body.erasure_id);
    const scorer = r.body.scorer as { applied: boolean; mentions: { partitions: number; applied: number } };
    expect(scorer.applied).toBe(true);
    expect(scorer.mentions).toEqual({ partitions: stack.settings.partitions, applied: stack.settings.partitions });
    expect(r.body.not_erased).toEqual([]);

    expect(await mentions(X), 'no table names X').toEqual([]);
    expect(await liability(), 'the points liability').toBe(before.liability);
    const snapshots = await snapshotTexts();
    expect(snapshots.filter((t) => t.includes(X)), 'snapshot records naming X').toEqual([]);
    expect(snapshots.some((t) => t.includes(`"referred_by":"${erasureId}"`)), 'Y\'s record under the erasure id').toBe(true);
  }, 180_000);

  it('Y keeps being referred; their bonus, once earned, lands on the erasure id', async () => {
    expect((await postJson(`${stack.apiUrl}/v1/transactions`, makeTx(9650, Y, { channel: 'pos', amount_minor: 6_000_000, occurred_at: ago(0.5) }))).status).toBe(202);
    await waitFor(async () => {
      const [r] = await queryRows<{ n: number }>(stack, `SELECT count() AS n FROM vafa.points_ledger FINAL WHERE customer_id = '${erasureId}' AND rule_id = 'referral'`);
      return Number(r?.n) === 1;
    }, 60_000, 'Y\'s bonus on the erasure id\'s ledger');
    expect(await referredFeature(Y)).toBe(before.referred);
    expect(await mentions(X)).toEqual([]);
    await waitFor(() => caughtUp(), 30_000, 'the scorer caught up');
    await stack.stopScorer();
    const stored = await storedStates(path.join(stack.dataDir, 'state'));
    expect(stored.includes(X), 'the state store names X').toBe(false);
    expect(stored).toContain(`"referred_by":"${erasureId}"`);
  }, 120_000);

  it('a scorer rebuilt from the stream holds and writes no X id', async () => {
    for (let p = 0; p < stack.settings.partitions; p++) await jsm.consumers.delete(STREAM_TX, consumerName(p)).catch(() => undefined);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vafa-erasure-mentions-'));
    dirs.push(dir);
    const c = spawnVafa(['scorer'], stack, { VAFA_DATA_DIR: dir, VAFA_CHECKPOINTS: 'lmdb' });
    child = c;
    await waitFor(async () => {
      if (c.exitCode !== null) throw new Error(`the scorer exited ${c.exitCode}: ${c.output.slice(-5).join('\n')}`);
      return caughtUp();
    }, 90_000, 'the rebuilt scorer to replay every partition');
    const [rows] = await queryRows<{ n: number }>(stack, `SELECT count() AS n FROM vafa.customer_state FINAL WHERE customer_id = '${Y}'`);
    expect(Number(rows?.n)).toBe(1);
    expect(await mentions(X), 'no table names X after the rebuild').toEqual([]);
    expect(await referredFeature(Y)).toBe(before.referred);
    c.kill('SIGTERM');
    await new Promise((r) => c.once('exit', r));
    const stored = await storedStates(path.join(dir, 'state'));
    expect(stored.includes(X), 'the rebuilt state names X').toBe(false);
    expect(stored).toContain(`"referred_by":"${erasureId}"`);
  }, 150_000);

  it('vafa replay from the first message writes no X id either', async () => {
    const summary = await replay({ nc: stack.nc, warehouse: stack.warehouse, database: stack.settings.clickhouseDatabase, from: { seq: 1 }, logger: stack.logger });
    expect(summary.events).toBeGreaterThan(0);
    expect(await mentions(X), 'no table names X after the replay').toEqual([]);
    expect(await referredFeature(Y)).toBe(before.referred);
  }, 120_000);
});
