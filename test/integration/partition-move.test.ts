/**
 * Partitions moving between two scorer instances with separate data directories (the `nats` store: the
 * local LMDB store plus snapshots in the NATS object store), on one real nats-server and ClickHouse.
 * Instance A alone owns the partitions and scores a first set of events; then it goes away — stopped
 * gracefully, or killed with SIGKILL — and instance B, with an empty data directory, takes the partitions:
 * it restores them from A's snapshots (its first batch of each partition starts after the position they
 * cover, never at the start of the stream), scores a second set, and the warehouse ends up exactly as
 * one uninterrupted scorer would leave it, nothing counted twice.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForDrain } from '../../app/drain.js';
import { loadSettings } from '../../config/settings.js';
import type { TransactionV1 } from '../../contracts/events.js';
import { partitionOf, STREAM_TX } from '../../contracts/subjects.js';
import { Engine } from '../../scorer/core/engine.js';
import { newPartitionState, type PartitionState } from '../../scorer/core/state.js';
import { OutputEmit } from '../../sinks/mapping.js';
import { ScorerService } from '../../scorer/runtime/service.js';
import { openCheckpointStore, type OpenedStore } from '../../scorer/runtime/store/mod.js';
import { consumerName } from '../../scorer/runtime/worker.js';
import { connectNats, natsJsm } from '../../platform/nats.js';
import { makeTx, postJson, queryRows, spawnVafa, startTestStack, waitFor, type TestStack } from '../support/stack.js';
import { buildEngineConfig } from '../../config/policy.js';

const LEASE_MS = 1500;
const CHECKPOINT_MS = 300;
/** After a graceful stop only the shipment on release can cover A's last commits: no interval passes in the test. */
const LONG_CHECKPOINT_MS = 600_000;
const EVENTS = 1200;
const verbose = Boolean(process.env.TEST_VERBOSE);

const events = Array.from({ length: EVENTS }, (_, i) => makeTx(i, `M${i % 31}`)) as unknown as TransactionV1[];
const firstSet = events.slice(0, EVENTS / 2);
const secondSet = events.slice(EVENTS / 2);

interface CustomerTotals { points: number; ledgerRows: number; scored: number; balance: number }

/** What one uninterrupted scorer gives: the pure core over the same events, per customer. */
function expectedPerCustomer(all: TransactionV1[], partitions: number): Map<string, CustomerTotals> {
  const engine = new Engine(buildEngineConfig({ ...loadSettings({}), partitions }));
  const states = new Map<number, PartitionState>();
  const out = new Map<string, CustomerTotals>();
  let seq = 0;
  for (const tx of all) {
    const p = partitionOf(tx.customer_id, partitions);
    const state = states.get(p) ?? newPartitionState(p);
    states.set(p, state);
    const emit = new OutputEmit();
    const pending = engine.apply(state, { seq: ++seq, partition: p, msg: { kind: 'transaction', body: tx } }, emit);
    if (pending) engine.complete(state, pending, undefined, emit);
    const c = out.get(tx.customer_id) ?? { points: 0, ledgerRows: 0, scored: 0, balance: 0 };
    out.set(tx.customer_id, c);
    c.scored++;
    for (const r of emit.rows.get('points_ledger') ?? []) {
      const owner = out.get(String(r.customer_id)) ?? c;
      owner.points += Number(r.points);
      owner.ledgerRows++;
    }
  }
  for (const c of out.values()) c.balance = c.points;
  return out;
}

/** The warehouse's totals per customer. */
async function actualPerCustomer(stack: TestStack): Promise<Map<string, CustomerTotals>> {
  const db = stack.settings.clickhouseDatabase;
  const ledger = await queryRows<{ customer_id: string; pts: number; n: number }>(stack, `SELECT customer_id, sum(points) pts, count() n FROM ${db}.points_ledger FINAL GROUP BY customer_id`);
  const scored = await queryRows<{ customer_id: string; n: number }>(stack, `SELECT customer_id, count() n FROM ${db}.scored_transactions FINAL GROUP BY customer_id`);
  const states = await queryRows<{ customer_id: string; balance: number }>(stack, `SELECT customer_id, points_balance balance FROM ${db}.customer_state FINAL`);
  const out = new Map<string, CustomerTotals>();
  const get = (id: string): CustomerTotals => {
    const c = out.get(id) ?? { points: 0, ledgerRows: 0, scored: 0, balance: 0 };
    out.set(id, c);
    return c;
  };
  for (const r of ledger) Object.assign(get(r.customer_id), { points: Number(r.pts), ledgerRows: Number(r.n) });
  for (const r of scored) get(r.customer_id).scored = Number(r.n);
  for (const r of states) get(r.customer_id).balance = Number(r.balance);
  expect(states.length).toBe(new Set(states.map((r) => r.customer_id)).size);
  return out;
}

const sorted = (m: Map<string, CustomerTotals>): [string, CustomerTotals][] => [...m].sort(([a], [b]) => a.localeCompare(b));

async function scoredCount(stack: TestStack): Promise<number> {
  return Number((await queryRows<{ n: number }>(stack, `SELECT count() n FROM ${stack.settings.clickhouseDatabase}.scored_transactions FINAL`))[0]?.n ?? 0);
}

async function send(stack: TestStack, batch: TransactionV1[]): Promise<void> {
  for (let i = 0; i < batch.length; i += 200) expect((await postJson(`${stack.apiUrl}/v1/transactions`, batch.slice(i, i + 200))).status).toBe(202);
}

/** The stream position each partition's snapshot chain covers (0: none). */
async function chainSeqs(stack: TestStack): Promise<number[]> {
  const kv = await new Kvm(stack.nc).open('vafa_state_chains');
  return Promise.all([...Array(stack.settings.partitions).keys()].map(async (p) => {
    const e = await kv.get(`p${p}`);
    return e && e.operation === 'PUT' && e.length > 0 ? e.json<{ seq: number }>().seq : 0;
  }));
}

/** The last stream position each partition's durable consumer acked. */
async function ackFloors(stack: TestStack): Promise<number[]> {
  const jsm = await natsJsm(stack.nc);
  return Promise.all([...Array(stack.settings.partitions).keys()].map(async (p) => (await jsm.consumers.info(STREAM_TX, consumerName(p))).ack_floor.stream_seq));
}

/** The first stream position of the first batch `instance` scored, per partition (from `scorer_batches`). */
async function firstBatchSeqs(stack: TestStack, instance: string): Promise<Map<number, number>> {
  const rows = await queryRows<{ partition: number; first: number }>(stack, `SELECT partition, min(first_seq) first FROM ${stack.settings.clickhouseDatabase}.scorer_batches WHERE instance = '${instance}' GROUP BY partition`);
  return new Map(rows.map((r) => [Number(r.partition), Number(r.first)]));
}

interface InProcessScorer {
  service: ScorerService;
  nc: NatsConnection;
  store: OpenedStore;
  stop(): Promise<void>;
}

/** A scorer instance in this process: its own NATS connection, its own `nats` store in `dataDir`. */
async function startScorer(stack: TestStack, instance: string, dataDir: string, checkpointMs = CHECKPOINT_MS): Promise<InProcessScorer> {
  const logger = stack.logger.child({ instance });
  const nc = await connectNats(stack.natsUrl, instance, logger);
  const store = await openCheckpointStore({ kind: 'nats', dataDir, nc, localNats: false, streamReplicas: 1, checkpointMs, logger });
  const s: InProcessScorer = {
    nc, store,
    service: new ScorerService({
      nc, warehouse: stack.warehouse, database: stack.settings.clickhouseDatabase, totalPartitions: stack.settings.partitions, store: store.store,
      instance, leaseMs: LEASE_MS, checkpointMs, batch: 100, waitMs: 10, engineConfig: buildEngineConfig(stack.settings), logger,
    }),
    async stop() {
      await s.service.stop(10_000);
      await s.store.close();
      await s.nc.close();
    },
  };
  await s.service.start();
  return s;
}

function suite(name: string, abandon: boolean): void {
  describe(name, () => {
    let stack: TestStack;
    const dirs: string[] = [];
    const running: InProcessScorer[] = [];
    const children: ChildProcess[] = [];
    const dir = (): string => {
      const d = mkdtempSync(path.join(os.tmpdir(), 'vafa-move-'));
      dirs.push(d);
      return d;
    };

    beforeAll(async () => {
      stack = await startTestStack({ scorer: false, overrides: { leaseMs: LEASE_MS, checkpointMs: CHECKPOINT_MS } });
    });
    afterAll(async () => {
      for (const c of children) c.kill('SIGKILL');
      await Promise.all(children.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
      for (const s of running) await s.stop().catch(() => undefined);
      await stack?.destroy();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    });

    it('B restores from A\'s snapshots, catches up, and the totals are those of one uninterrupted scorer', async () => {
      const partitions = stack.settings.partitions;
      const dirA = dir();
      const dirB = dir();

      // A alone owns the partitions and scores the first set.
      let a: InProcessScorer | undefined;
      let child: ChildProcess | undefined;
      if (abandon) {
        child = spawnVafa(['scorer'], stack, {
          VAFA_DATA_DIR: dirA, VAFA_CHECKPOINTS: 'nats', VAFA_INSTANCE: 'scorer-a', VAFA_LEASE_MS: String(LEASE_MS),
          VAFA_CHECKPOINT_MS: String(CHECKPOINT_MS), VAFA_SCORER_BATCH: '100',
        });
        children.push(child);
      } else {
        a = await startScorer(stack, 'scorer-a', dirA, LONG_CHECKPOINT_MS);
        running.push(a);
        expect(a.service.owned).toHaveLength(partitions);
      }
      const scoreOn = async (upTo: number): Promise<void> => {
        await send(stack, firstSet.slice(sentFirst, upTo));
        sentFirst = upTo;
        expect(await waitForDrain(stack, 30_000)).toBe(true);
        await waitFor(async () => (await scoredCount(stack)) === upTo, 30_000, `A to score ${upTo} events`);
      };
      let sentFirst = 0;
      await scoreOn(firstSet.length);
      const firstSetEnd = (await (await natsJsm(stack.nc)).streams.info(STREAM_TX)).state.last_seq;

      let covered: number[];
      if (abandon) {
        // A goes quiet: within a snapshot interval of its last commit, each partition ships it (a trailing
        // shipment, no further traffic needed); then A dies.
        const acked = await ackFloors(stack);
        covered = await waitFor(async () => {
          const seqs = await chainSeqs(stack);
          return seqs.every((s, p) => s >= acked[p]!) ? seqs : undefined;
        }, 5 * CHECKPOINT_MS + 5_000, `A's snapshots to cover what it acked (${acked.join(',')}) once it is quiet`);
        child!.kill('SIGKILL');
        await new Promise((r) => child!.once('exit', r));
      } else {
        // Graceful: releasing a partition ships its last commit before the stop resolves.
        await a!.service.stop(10_000);
        const acked = await ackFloors(stack);
        covered = await chainSeqs(stack);
        expect(covered.every((s, p) => s >= acked[p]!), `snapshots at ${covered.join(',')} cover the acked ${acked.join(',')}`).toBe(true);
        await a!.store.close();
        await a!.nc.close();
        running.splice(running.indexOf(a!), 1);
      }
      expect(covered.every((s) => s > 0)).toBe(true);

      // The second set arrives while nobody scores; B, with an empty data directory, takes over.
      await send(stack, secondSet);
      const t0 = Date.now();
      const b = await startScorer(stack, 'scorer-b', dirB);
      running.push(b);
      await waitFor(async () => b.service.owned.length === partitions, 20_000, 'B to own every partition');
      expect(await waitForDrain(stack, 30_000)).toBe(true);
      await waitFor(async () => (await scoredCount(stack)) === events.length, 30_000, `all ${events.length} events scored`);
      const caughtUpMs = Date.now() - t0;
      if (verbose) console.log(`[partition-move ${abandon ? 'SIGKILL' : 'graceful'}] B: start → caught up in ${caughtUpMs} ms (snapshots at ${covered.join(',')}, first set ends at seq ${firstSetEnd})`);
      await b.stop();
      running.splice(running.indexOf(b), 1);

      // B restored each partition from A's snapshots: its first batch starts after the position they cover.
      const firsts = await firstBatchSeqs(stack, 'scorer-b');
      for (let p = 0; p < partitions; p++) {
        expect(firsts.get(p), `B's first batch of partition ${p}`).toBeGreaterThan(covered[p]!);
      }
      // Everything A scored was covered: B scored none of the first set again.
      expect(Math.min(...firsts.values())).toBeGreaterThan(firstSetEnd);

      // The end result is that of one uninterrupted scorer.
      const want = expectedPerCustomer(events, partitions);
      const got = await actualPerCustomer(stack);
      expect(sorted(got)).toEqual(sorted(want));
      const [dups] = await queryRows<{ n: number }>(stack, `SELECT count() n FROM (SELECT tx_id FROM ${stack.settings.clickhouseDatabase}.scored_transactions FINAL GROUP BY tx_id HAVING count() > 1)`);
      expect(dups!.n).toBe(0);
    }, 60_000);
  });
}

suite('a partition moving to another instance after a graceful stop', false);
suite('a partition moving to another instance after the owner was killed (SIGKILL)', true);
