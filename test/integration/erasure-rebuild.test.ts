/**
 * A scorer that lost its state store but kept its consumers, over a `TX` whose first messages an erasure
 * deleted, on the real stack (nats-server, the scorer, the embedded ClickHouse, the API): it rebuilds
 * from the stream (the erased-head record vouches for the moved head), and still refuses once history is
 * really lost at the head (a purge past the record).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionOf, STREAM_TX } from '../../contracts/subjects.js';
import { erasedHead } from '../../scorer/runtime/erased-head.js';
import { consumerName } from '../../scorer/runtime/worker.js';
import { makeTx, postJson, queryRows, spawnVafa, startTestStack, waitFor, type TestStack } from '../support/stack.js';

const run = Math.random().toString(36).slice(2, 8);
const GONE = `REB-GONE-${run}`;
const KEEP = `REB-KEEP-${run}`;

let stack: TestStack;
let jsm: JetStreamManager;
const children: ChildProcess[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  stack = await startTestStack();
  jsm = await jetstreamManager(stack.nc);
}, 120_000);
afterAll(async () => {
  for (const c of children) {
    if (c.exitCode !== null) continue;
    c.kill('SIGKILL');
    await new Promise((r) => c.once('exit', r));
  }
  await stack?.destroy();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A scorer over a new, empty data directory (no state store) on the stack's NATS and ClickHouse. */
function scorerWithoutState(): ChildProcess & { output: string[] } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vafa-erasure-rebuild-'));
  dirs.push(dir);
  const c = spawnVafa(['scorer'], stack, { VAFA_DATA_DIR: dir, VAFA_CHECKPOINTS: 'lmdb' });
  children.push(c);
  return c;
}

async function stop(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null) return;
  c.kill('SIGTERM');
  await new Promise((r) => c.once('exit', r));
}

const scored = async (customer: string): Promise<number> =>
  Number((await queryRows<{ n: number }>(stack, `SELECT count() AS n FROM vafa.scored_transactions FINAL WHERE customer_id = '${customer}'`))[0]?.n);

async function everyPartitionCaughtUp(c: ChildProcess & { output: string[] }): Promise<boolean> {
  if (c.exitCode !== null) throw new Error(`the scorer exited ${c.exitCode}: ${c.output.slice(-5).join('\n')}`);
  for (let p = 0; p < stack.settings.partitions; p++) {
    const info = await jsm.consumers.info(STREAM_TX, consumerName(p)).catch(() => undefined);
    if (!info || info.num_pending > 0 || info.num_ack_pending > 0) return false;
  }
  return true;
}

describe('rebuilding a lost state store after an erasure', () => {
  it('rebuilds when an erasure deleted the stream\'s first messages, with the consumers kept', async () => {
    const at = (i: number): string => new Date(Date.now() - (30 - i) * 3_600_000).toISOString();
    // The erased customer's events first: seq 1 onwards are theirs.
    const gone = Array.from({ length: 6 }, (_, i) => makeTx(8000 + i, GONE, { occurred_at: at(i), amount_minor: 1_200_000 }));
    expect((await postJson(`${stack.apiUrl}/v1/transactions`, gone)).status).toBe(202);
    await waitFor(async () => (await jsm.streams.info(STREAM_TX)).state.messages >= gone.length, 20_000, 'the erased customer\'s events in TX');
    const keep = Array.from({ length: 8 }, (_, i) => makeTx(8100 + i, KEEP, { occurred_at: at(i + 8), amount_minor: 900_000 }));
    expect((await postJson(`${stack.apiUrl}/v1/transactions`, keep)).status).toBe(202);
    await waitFor(async () => (await scored(GONE)) === gone.length && (await scored(KEEP)) === keep.length, 60_000, 'both customers scored');

    const r = await postJson(`${stack.apiUrl}/v1/admin/erasures`, { customer_id: GONE });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const tx = await jsm.streams.info(STREAM_TX);
    expect(tx.state.first_seq, 'the erasure moved the stream\'s head').toBeGreaterThan(1);
    expect(await erasedHead(jetstream(stack.nc)), 'the erased-head record vouches for it').toBe(tx.state.first_seq);

    // The state store is lost; the consumers (which acked everything) stay.
    await stack.stopScorer();
    const acked = await jsm.consumers.info(STREAM_TX, consumerName(partitionOf(KEEP, stack.settings.partitions)));
    expect(acked.ack_floor.stream_seq).toBeGreaterThan(0);
    const before = await scored(KEEP);
    const c = scorerWithoutState();
    const partitions = new Set([GONE, KEEP].map((id) => partitionOf(id, stack.settings.partitions)));
    await waitFor(async () => {
      if (c.exitCode !== null || c.output.some((l) => l.includes('restore the state store'))) throw new Error(`the scorer refused: ${c.output.slice(-5).join('\n')}`);
      const rebuilding = c.output.filter((l) => l.includes('rebuilding it by replaying the stream')).map((l) => (JSON.parse(l) as { partition: number }).partition);
      return [...partitions].every((p) => rebuilding.includes(p));
    }, 60_000, 'the scorer without state to say it rebuilds the partitions of both customers');
    await waitFor(() => everyPartitionCaughtUp(c), 90_000, 'the scorer without state to replay every partition');
    expect(c.output.filter((l) => /StateLost|restore the state store|partition worker failed/.test(l))).toEqual([]);
    // The replay rebuilt the other customer's state: a new event counts their whole history.
    expect((await postJson(`${stack.apiUrl}/v1/transactions`, makeTx(8200, KEEP, { occurred_at: at(20), amount_minor: 900_000 }))).status).toBe(202);
    await waitFor(async () => (await scored(KEEP)) === before + 1, 30_000, 'the new event scored');
    // customer_state is its own insert: it may land a moment after scored_transactions, so wait for the row the new event made.
    const txCount30d = async (): Promise<number> => Number((await queryRows<{ n: number }>(stack, `SELECT tx_count_30d AS n FROM vafa.customer_state FINAL WHERE customer_id = '${KEEP}'`))[0]?.n);
    await waitFor(async () => (await txCount30d()) >= keep.length + 1, 30_000, 'the customer_state row of the new event');
    expect(await txCount30d()).toBe(keep.length + 1);
    expect(Number((await queryRows<{ n: number }>(stack, `SELECT count() AS n FROM vafa.customer_state FINAL WHERE customer_id = '${GONE}'`))[0]?.n)).toBe(0);
    await stop(c);
  }, 240_000);

  it('still refuses when the head moved past what erasures deleted (history lost)', async () => {
    const head = (await jsm.streams.info(STREAM_TX)).state.first_seq;
    await jsm.streams.purge(STREAM_TX, { seq: head + 2 });
    expect((await jsm.streams.info(STREAM_TX)).state.first_seq).toBe(head + 2);
    const c = scorerWithoutState();
    const refused = await waitFor(async () => c.output.find((l) => l.includes('restore the state store or a snapshot')), 60_000, 'the scorer to refuse the lost history');
    expect(refused).toContain(`starts at seq ${head + 2} (erasures deleted the messages below seq ${head} only)`);
    await stop(c);
  }, 120_000);
});
