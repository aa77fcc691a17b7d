/**
 * Downstream consumers receive each offer trigger once, even when the scorer is killed and replays:
 * a real nats-server, the embedded ClickHouse, the HTTP API and a scorer child process (SIGKILLed
 * mid-run, with checkpoints rare enough that the restart replays almost everything). The webhook sink
 * runs throughout as the downstream consumer. Afterwards:
 *  - messages on OFFERS = distinct offer ids = the triggers the pure core decides for the same stream
 *    (Nats-Msg-Id de-duplicated every re-published trigger);
 *  - the webhook receiver got each trigger exactly once;
 *  - `offers` in ClickHouse holds the same decisions (treated and holdout), and the views read them.
 */
import { consumerName } from '../../scorer/runtime/worker.js';
import { loadChurnScorer } from '../../scorer/runtime/model/churn.js';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ChildProcess } from 'node:child_process';
import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CustomerProfileV1, TransactionV1 } from '../../contracts/events.js';
import { STREAM_OFFERS, STREAM_TX } from '../../contracts/subjects.js';
import { waitForDrain } from '../../app/drain.js';
import { Engine } from '../../scorer/core/engine.js';
import { newPartitionState, type PartitionState } from '../../scorer/core/state.js';
import { type Publish } from '../../scorer/core/types.js';
import { OutputEmit } from '../../sinks/mapping.js';
import { decodeTx } from '../../scorer/runtime/decode.js';
import { offerViewStatements } from '../../sinks/clickhouse/offer-views.js';
import { startWebhookSink, verifyWebhookSignature, type WebhookSink } from '../../sinks/webhook.js';
import { postJson, queryRows, spawnVafa, startTestStack, waitFor, type TestStack } from '../support/stack.js';
import { buildEngineConfig } from '../../config/policy.js';

let stack: TestStack;
const children: ChildProcess[] = [];
let server: http.Server;
let sink: WebhookSink | undefined;
const posts = new Map<string, number>();
let badSignatures = 0;

beforeAll(async () => {
  stack = await startTestStack({ scorer: false });
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const key = String(req.headers['idempotency-key']);
      if (!verifyWebhookSignature({ secret: 's3cret', body: Buffer.concat(chunks), timestamp: req.headers['vafa-timestamp'] as string, signature: req.headers['vafa-signature'] as string })) badSignatures++;
      posts.set(key, (posts.get(key) ?? 0) + 1);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
}, 60_000);

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await sink?.stop();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  await stack?.destroy();
});

const T0 = Date.parse('2026-03-01T05:30:00Z'); // 09:00 bank time
const CUSTOMERS = 60;

function profiles(): CustomerProfileV1[] {
  return Array.from({ length: CUSTOMERS }, (_, i) => ({
    customer_id: `D${i}`, opened_at: new Date(T0 - (i % 3) * 86_400_000).toISOString(), segment: i % 2 ? 'retail' : 'youth', branch_id: `BR${i % 4}`,
    products: ['current_account', ...(i % 5 === 0 ? ['online_banking'] : [])],
    ...(i % 7 === 0 ? { birth_date: `1991-03-${String(3 + (i % 10)).padStart(2, '0')}` } : {}),
  }));
}

function transactions(): TransactionV1[] {
  const channels = ['pos', 'online', 'atm', 'pos', 'bill_pay', 'deposit'] as const;
  const out: TransactionV1[] = [];
  for (let k = 0; k < 25; k++) {
    for (let i = 0; i < CUSTOMERS; i++) {
      const n = k * CUSTOMERS + i;
      const at = T0 + k * 17 * 3_600_000 + i * 60_000; // every 17 hours: day and night, bank time
      out.push({
        tx_id: `DX${n}`, customer_id: `D${i}`, channel: channels[(i + k) % channels.length]!, amount_minor: 100_000 + (n * 7919) % 800_000,
        currency: 'IRR', occurred_at: new Date(at).toISOString(), ...((i + k) % 9 === 0 ? { branch_id: `BR${i % 4}` } : {}),
      });
    }
  }
  return out;
}

async function offersOnStream(): Promise<{ ids: string[]; msgIds: string[]; subjects: string[]; payloads: Record<string, unknown>[] }> {
  const jsm = await jetstreamManager(stack.nc);
  const info = await jsm.streams.info(STREAM_OFFERS);
  const out = { ids: [] as string[], msgIds: [] as string[], subjects: [] as string[], payloads: [] as Record<string, unknown>[] };
  if (info.state.messages === 0) return out;
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(STREAM_OFFERS, { seq }).catch(() => null);
    if (!m) continue;
    const p = m.json<Record<string, unknown>>();
    out.ids.push(String(p.offer_id));
    out.msgIds.push(m.header.get('Nats-Msg-Id'));
    out.subjects.push(m.subject);
    out.payloads.push(p);
  }
  return out;
}

/** What the pure core decides for stream TX as it stands, partition by partition, one event at a time. */
async function expected(): Promise<{ publishes: Publish[]; holdouts: number }> {
  const jsm = await jetstreamManager(stack.nc);
  const info = await jsm.streams.info(STREAM_TX);
  const engine = new Engine(buildEngineConfig(stack.settings));
  // the scorer children score with the shipped model: so does the reference
  const churn = await loadChurnScorer(stack.settings.modelPath, stack.logger);
  const states = new Map<number, PartitionState>();
  const publishes: Publish[] = [];
  let holdouts = 0;
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(STREAM_TX, { seq });
    const d = decodeTx(m!.subject, m!.data);
    if (!d.ok) continue;
    const state = states.get(d.partition) ?? newPartitionState(d.partition);
    states.set(d.partition, state);
    const emit = new OutputEmit();
    const p = engine.apply(state, { seq, partition: d.partition, msg: d.msg }, emit);
    if (p) engine.complete(state, p, (await churn.scoreBatch([p.features]))[0], emit);
    publishes.push(...emit.publishes.filter((x) => x.subject.startsWith('offers.')));
    holdouts += (emit.rows.get('offers') ?? []).filter((r) => r.holdout === 1).length;
  }
  return { publishes, holdouts };
}

describe('offer triggers downstream', () => {
  it('arrive once each although the scorer is killed and replays', async () => {
    const RESTARTED = 'downstream-restarted';
    const addr = server.address() as AddressInfo;
    sink = await startWebhookSink({ nc: stack.nc, url: `http://127.0.0.1:${addr.port}/offers`, secret: 's3cret', logger: stack.logger, backoff: { initialMs: 100 } });
    // Whole-partition snapshots only once an hour, so none falls before the kill however slow the machine: the
    // restart replays (and re-publishes) everything the killed scorer had acked. (The LMDB state store commits before every ack, so a kill replays nothing
    // acked; this test is about exactly-once triggers over a replay, so it uses the snapshot store.)
    const start = (instance: string): ChildProcess => {
      const c = spawnVafa(['scorer'], stack, { VAFA_SCORER_BATCH: '50', VAFA_CHECKPOINT_MS: '3600000', VAFA_CHECKPOINTS: 'file', VAFA_INSTANCE: instance });
      children.push(c);
      return c;
    };
    let scorer = start('downstream-first');
    expect((await postJson(`${stack.apiUrl}/v1/customers`, profiles())).status).toBe(202);
    const [customers] = await Promise.all([
      waitFor(async () => {
        const [r] = await queryRows<{ n: number }>(stack, 'SELECT count() n FROM vafa.customer_state FINAL');
        return r && Number(r.n) === CUSTOMERS ? r : undefined;
      }, 40_000, 'the profiles to be scored'),
    ]);
    expect(Number(customers.n)).toBe(CUSTOMERS);
    const txs = transactions();
    const send = async (from: number, to: number): Promise<void> => {
      for (let i = from; i < to; i += 250) expect((await postJson(`${stack.apiUrl}/v1/transactions`, txs.slice(i, Math.min(to, i + 250)))).status).toBe(202);
    };
    const half = Math.floor(txs.length / 2);
    await send(0, half);
    await waitFor(async () => (await offersOnStream()).ids.length > 20, 40_000, 'some triggers on OFFERS');
    // what the scorer had processed and acked when it died
    const jsmAtKill = await jetstreamManager(stack.nc);
    const ackFloors = await waitFor(async () => {
      const floors = new Map<number, number>();
      for (let p = 0; p < stack.settings.partitions; p++) {
        const ci = await jsmAtKill.consumers.info(STREAM_TX, consumerName(p)).catch(() => undefined);
        if (ci) floors.set(p, ci.ack_floor.stream_seq);
      }
      return [...floors.values()].some((f) => f > 0) ? floors : undefined;
    }, 20_000, 'the scorer to ack some events');
    scorer.kill('SIGKILL');
    await new Promise((r) => scorer.once('exit', r));
    await send(half, txs.length);
    scorer = start(RESTARTED);
    expect(await waitForDrain(stack, 90_000)).toBe(true);

    const want = await expected();
    const wantIds = want.publishes.map((p) => p.msgId).sort();
    const got = await waitFor(async () => {
      const s = await offersOnStream();
      return s.ids.length >= wantIds.length ? s : undefined;
    }, 20_000, 'every trigger on OFFERS');
    expect(new Set(wantIds).size).toBe(wantIds.length);
    expect(wantIds.length).toBeGreaterThan(30);
    // each trigger once on the stream, with its offer id as Nats-Msg-Id, and exactly the core's decisions
    expect(got.ids.length).toBe(new Set(got.ids).size);
    expect(got.msgIds).toEqual(got.ids);
    expect([...got.ids].sort()).toEqual(wantIds);
    for (const [i, s] of got.subjects.entries()) expect(s).toBe(`offers.${String(got.payloads[i]!.channel)}`);
    expect(got.subjects).toContain('offers.branch');
    for (const p of got.payloads.filter((x) => x.channel === 'branch')) expect(String(p.branch_id)).toMatch(/^BR\d$/);

    // the downstream webhook got each exactly once
    await waitFor(async () => posts.size === wantIds.length && sink!.stats.inFlight === 0, 30_000, 'the webhook deliveries');
    expect([...posts.values()].every((n) => n === 1)).toBe(true);
    expect(badSignatures).toBe(0);

    // ClickHouse holds every decision once (treated = the stream's, plus the holdouts), and the views read them
    const [rows] = await queryRows<{ n_treated: number; n_holdout: number; ids: number }>(stack,
      'SELECT countIf(holdout = 0) n_treated, countIf(holdout = 1) n_holdout, uniqExact(offer_id) ids FROM vafa.offers FINAL');
    expect(rows).toEqual({ n_treated: wantIds.length, n_holdout: want.holdouts, ids: wantIds.length + want.holdouts });
    for (const q of offerViewStatements('vafa')) await stack.warehouse.command({ query: q });
    const campaigns = await queryRows<{ campaign_id: string; offers_sent: number; customers_notified: number }>(stack,
      'SELECT campaign_id, offers_sent, customers_notified FROM vafa.v_offer_campaigns ORDER BY campaign_id');
    expect(campaigns.reduce((s, c) => s + Number(c.offers_sent), 0)).toBe(wantIds.length);
    expect(campaigns.map((c) => c.campaign_id)).toEqual(expect.arrayContaining(['branch-prompts', 'onboarding']));
    // and the restart did replay events the killed scorer had already processed (and published for)
    // (scorer_batches is telemetry the sink defers by a second or two: wait for the restarted scorer's rows)
    const floorPartitions = [...ackFloors].filter(([, floor]) => floor > 0).map(([p]) => p);
    const spans = await waitFor(async () => {
      const rows = await queryRows<{ instance: string; partition: number; lo: number; hi: number }>(stack,
        'SELECT instance, partition, min(first_seq) lo, max(last_seq) hi FROM vafa.scorer_batches GROUP BY instance, partition');
      const restarted = new Set(rows.filter((r) => r.instance === RESTARTED).map((r) => Number(r.partition)));
      return floorPartitions.every((p) => restarted.has(p)) ? rows : undefined;
    }, 20_000, 'the restarted scorer\'s batches in scorer_batches');
    // the restarted instance's first batch starts at or before what the killed one had already acked
    const restartedFrom = new Map<number, number>();
    for (const sp of spans) restartedFrom.set(sp.partition, Math.max(restartedFrom.get(sp.partition) ?? 0, sp.lo));
    const replayed = [...ackFloors].some(([p, floor]) => (restartedFrom.get(p) ?? Infinity) <= floor);
    expect(replayed).toBe(true);
    scorer.kill('SIGTERM');
  }, 180_000);
});
