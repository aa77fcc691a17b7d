/**
 * Erasure of a customer from what NATS retains, on the real stack (nats-server, the scorer on the `nats`
 * state store, the embedded ClickHouse, the API): after `POST /v1/admin/erasures`, no retained message of
 * `TX`, `OFFERS`, `DLQ`, no card-directory entry and no snapshot object names the customer id or their card
 * token; every message of the other customer is still there; and a scorer started with an empty state
 * store replays the stream, gaps included, without error. Secure erase: no file of the JetStream store
 * holds the id or the token afterwards.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { DeliverPolicy, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Objm } from '@nats-io/obj';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionOf, STREAM_DLQ, STREAM_OFFERS, STREAM_TX, txSubject } from '../../contracts/subjects.js';
import { tokenizePan } from '../../ingest/tokenize.js';
import { CARD_DIRECTORY_STREAM } from '../../scorer/runtime/retained-erasure.js';
import { decodeRecord, type RecordKind } from '../../scorer/runtime/store/codec.js';
import { parseFrames, SNAPSHOT_BUCKET } from '../../scorer/runtime/store/snapshots.js';
import { consumerName } from '../../scorer/runtime/worker.js';
import { makeTx, postJson, queryRows, spawnVafa, startTestStack, waitFor, type TestStack } from '../support/stack.js';

const TOKEN_KEY = 'test-token-key-retained-0123';
const run = Math.random().toString(36).slice(2, 8);
const GONE = `RET-GONE-${run}`;
const KEEP = `RET-KEEP-${run}`;
const GONE_PAN = '4111111111111111';
const KEEP_PAN = '5500000000000004';
const GONE_TOKEN = tokenizePan(GONE_PAN, TOKEN_KEY);
const KEEP_TOKEN = tokenizePan(KEEP_PAN, TOKEN_KEY);

let stack: TestStack;
let js: JetStreamClient;
let jsm: JetStreamManager;
let child: ChildProcess | undefined;
let freshDir: string | undefined;

beforeAll(async () => {
  stack = await startTestStack({ overrides: { tokenKey: TOKEN_KEY, checkpointStore: 'nats', checkpointMs: 300 } });
  js = jetstream(stack.nc);
  jsm = await jetstreamManager(stack.nc);
}, 120_000);
afterAll(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));
  }
  await stack?.destroy();
  if (freshDir) rmSync(freshDir, { recursive: true, force: true });
});

/** Every retained message of a stream as text: subject, headers and body. */
async function retained(stream: string): Promise<{ seq: number; text: string }[]> {
  const info = await jsm.streams.info(stream).catch(() => undefined);
  if (!info || info.state.messages === 0) return [];
  const consumer = await js.consumers.get(stream, { deliver_policy: DeliverPolicy.All });
  const out: { seq: number; text: string }[] = [];
  const messages = await consumer.consume({ max_messages: 500 });
  const timer = setTimeout(() => void messages.close(), 20_000);
  try {
    for await (const m of messages) {
      const headers = [...(m.headers ?? [])].map(([k, v]) => `${k}: ${v.join(',')}`).join('\n');
      out.push({ seq: m.seq, text: `${m.subject}\n${headers}\n${Buffer.from(m.data).toString('utf8')}` });
      if (m.seq >= info.state.last_seq || m.info.pending === 0) break;
    }
  } finally {
    clearTimeout(timer);
    await messages.close().catch(() => undefined);
  }
  expect(out.length, `every retained message of ${stream} read`).toBe(info.state.messages);
  return out;
}

/** Every record of every snapshot object (keys and decoded values) as text. */
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

/** Files under `dir` whose bytes hold one of `needles`. */
function filesHolding(dir: string, needles: string[]): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    const bytes = readFileSync(file);
    if (needles.some((n) => bytes.includes(n))) found.push(path.relative(dir, file));
  }
  return found;
}

const naming = (texts: { text: string }[] | string[], needle: string): number => texts.filter((t) => (typeof t === 'string' ? t : t.text).includes(needle)).length;
const STREAMS = [STREAM_TX, STREAM_OFFERS, STREAM_DLQ, CARD_DIRECTORY_STREAM];

describe('erasure from the streams, the card directory and the snapshots', () => {
  const keptBefore: Record<string, number> = {};

  it('feeds two customers: profiles with cards, transactions, refused events, offers', async () => {
    const at = (i: number): string => new Date(Date.now() - (30 - i) * 3_600_000).toISOString();
    // The erased customer first: the stream's first messages are theirs, so the erasure moves its first sequence.
    const profiles = [GONE, KEEP].map((id) => ({ customer_id: id, opened_at: at(0), segment: 'retail', cards: [id === GONE ? GONE_PAN : KEEP_PAN] }));
    expect((await postJson(`${stack.apiUrl}/v1/customers`, profiles)).status).toBe(202);
    const txs = Array.from({ length: 24 }, (_, i) => {
      const id = i < 12 ? GONE : KEEP;
      return makeTx(7000 + i, id, { occurred_at: at(i + 1), amount_minor: 1_500_000, card_token: id === GONE ? GONE_TOKEN : KEEP_TOKEN });
    });
    expect((await postJson(`${stack.apiUrl}/v1/transactions`, txs)).status).toBe(202);
    // Refused by the scorer (undecodable), so retained in DLQ with their body.
    for (const id of [GONE, KEEP]) {
      await js.publish(txSubject(partitionOf(id, stack.settings.partitions), 'transaction'), JSON.stringify({ customer_id: id, tx_id: `bad-${id}`, card_token: id === GONE ? GONE_TOKEN : KEEP_TOKEN }), { msgID: `bad-${id}` });
      // Offer triggers as the scorer publishes them (a customer id, an offer id): whether the rules fire one is not this test's concern.
      await js.publish('offers.sms', JSON.stringify({ offer_id: `of_${id}`, customer_id: id, channel: 'sms', code: 'winback' }), { msgID: `offer-${id}` });
    }
    await waitFor(async () => {
      const [r] = await queryRows<{ n: number }>(stack, `SELECT count() AS n FROM vafa.customer_state FINAL WHERE customer_id IN ('${GONE}', '${KEEP}')`);
      const dlq = await jsm.streams.info(STREAM_DLQ);
      return Number(r?.n) === 2 && dlq.state.messages >= 2;
    }, 60_000, 'both customers scored and both refused events in DLQ');
    // The snapshots hold the customer before the erasure (else the check after it proves nothing).
    await waitFor(async () => naming(await snapshotTexts(), GONE) > 0, 30_000, 'a snapshot holding the customer');
    for (const stream of STREAMS) {
      const texts = await retained(stream);
      keptBefore[stream] = naming(texts, KEEP);
      expect(naming(texts, GONE), `${stream} holds the customer before the erasure`).toBeGreaterThan(0);
    }
    expect(filesHolding(path.join(stack.dataDir, 'nats'), [GONE]).length, 'the store\'s files hold the customer before the erasure').toBeGreaterThan(0);
    expect(keptBefore[CARD_DIRECTORY_STREAM]).toBe(1);
    expect(naming(await retained(CARD_DIRECTORY_STREAM), GONE_TOKEN)).toBe(1);
  }, 120_000);

  it('erases the customer from every stream, the card directory and the snapshots; the other stays', async () => {
    const r = await postJson(`${stack.apiUrl}/v1/admin/erasures`, { customer_id: GONE, reference: 'DPO-TEST-1' });
    if (process.env.DEBUG_ERASURE && r.status !== 200) console.log((await snapshotTexts()).filter((t) => t.includes(GONE)).map((t) => t.slice(0, 600)).join('\n'));
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const outside = r.body as { scorer: { applied: boolean }; streams: Record<string, { deleted: number; scanned: number }>; card_directory: number; snapshots: { chain: boolean; rewritten: number; chunks: number } };
    expect(outside.scorer.applied).toBe(true);
    // 1 profile + 12 transactions + 1 refused + the control message.
    expect(outside.streams[STREAM_TX]!.deleted).toBe(15);
    expect(outside.streams[STREAM_DLQ]!.deleted).toBeGreaterThanOrEqual(1);
    expect(outside.streams[STREAM_OFFERS]!.deleted).toBeGreaterThanOrEqual(1);
    expect(outside.card_directory).toBe(1);
    expect(outside.snapshots.chain).toBe(true);
    expect(outside.snapshots.rewritten).toBeGreaterThan(0);
    expect(outside.snapshots.chunks).toBeGreaterThanOrEqual(outside.snapshots.rewritten);
    expect(r.body.not_erased).toEqual([]);

    for (const stream of STREAMS) {
      const texts = await retained(stream);
      expect(naming(texts, GONE), `${stream} names the erased customer`).toBe(0);
      expect(naming(texts, GONE_TOKEN), `${stream} names the erased card`).toBe(0);
      expect(naming(texts, KEEP), `${stream} still holds every message of the other customer`).toBe(keptBefore[stream]);
    }
    // Secure erase: the bytes are gone from the JetStream store's files too, snapshot chunks included.
    const natsDir = path.join(stack.dataDir, 'nats');
    await waitFor(async () => filesHolding(natsDir, [GONE, GONE_TOKEN]).length === 0, 10_000, `no file under ${natsDir} to hold the customer (${filesHolding(natsDir, [GONE, GONE_TOKEN]).join(', ')})`);
    const snapshots = await snapshotTexts();
    expect(snapshots.filter((t) => t.includes(GONE) || t.includes(GONE_TOKEN)), 'snapshot records naming the customer').toEqual([]);
    expect(naming(snapshots, KEEP)).toBeGreaterThan(0);
    // The next snapshot links to the rewritten chain: the scorer goes on shipping.
    expect((await postJson(`${stack.apiUrl}/v1/transactions`, makeTx(7100, KEEP, { amount_minor: 900_000 }))).status).toBe(202);
    await waitFor(async () => {
      const [s] = await queryRows<{ n: number }>(stack, `SELECT tx_count_30d AS n FROM vafa.customer_state FINAL WHERE customer_id = '${KEEP}'`);
      return Number(s?.n) > 0;
    }, 30_000, 'the other customer scored again');
    const again = await postJson(`${stack.apiUrl}/v1/admin/erasures`, { customer_id: GONE });
    expect(again.status).toBe(200);
    expect((again.body as typeof outside).streams[STREAM_TX]!.deleted, 'a second erasure deletes its own control message only').toBe(1);
  }, 180_000);

  it('a scorer started with an empty state store replays the stream with its gaps without error', async () => {
    await stack.stopScorer();
    const tx = await jsm.streams.info(STREAM_TX);
    expect(tx.state.first_seq, 'the erasure deleted the first messages').toBeGreaterThan(1);
    expect(tx.state.num_deleted ?? 0).toBeGreaterThan(0);
    // From scratch: no state store, no consumer (with the consumers kept it rebuilds too: erasure-rebuild.test.ts).
    for (let p = 0; p < stack.settings.partitions; p++) await jsm.consumers.delete(STREAM_TX, consumerName(p)).catch(() => undefined);
    freshDir = mkdtempSync(path.join(os.tmpdir(), 'vafa-erasure-replay-'));
    const c = spawnVafa(['scorer'], stack, { VAFA_DATA_DIR: freshDir, VAFA_CHECKPOINTS: 'lmdb', VAFA_TOKEN_KEY: TOKEN_KEY });
    child = c;
    await waitFor(async () => {
      if (c.exitCode !== null) throw new Error(`the scorer exited ${c.exitCode}: ${c.output.slice(-5).join('\n')}`);
      for (let p = 0; p < stack.settings.partitions; p++) {
        const info = await jsm.consumers.info(STREAM_TX, consumerName(p)).catch(() => undefined);
        if (!info || info.num_pending > 0 || info.num_ack_pending > 0) return false;
      }
      return true;
    }, 90_000, 'the fresh scorer to replay every partition');
    expect(c.exitCode).toBeNull();
    expect(c.output.filter((l) => /"level":(50|60)|DeliveryGap|StateLost|partition worker failed/.test(l))).toEqual([]);
    const [keep] = await queryRows<{ n: number }>(stack, `SELECT count() AS n FROM vafa.scored_transactions FINAL WHERE customer_id = '${KEEP}'`);
    expect(Number(keep?.n)).toBe(13);
    const [gone] = await queryRows<{ n: number }>(stack, `SELECT count() AS n FROM vafa.customer_state FINAL WHERE customer_id = '${GONE}'`);
    expect(Number(gone?.n)).toBe(0);
    c.kill('SIGTERM');
    await new Promise((r) => c.once('exit', r));
  }, 150_000);
});
