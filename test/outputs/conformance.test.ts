/**
 * Every output of the scorer against its real downstream, through one suite (conformance.ts): the
 * ClickHouse tables (the embedded engine, behind a stalling proxy), JetStream `OFFERS` (a real
 * nats-server, behind a stalling proxy) and the webhook (a real HTTP receiver that de-duplicates on
 * `Idempotency-Key` as the contract asks of receivers).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { queryRows, startTestStack, type TestStack } from '../support/stack.js';
import { createWarehouseClient } from '../../sinks/clickhouse/client.js';
import { ClickHouseSink } from '../../sinks/clickhouse/sink.js';
import { TABLES } from '../../sinks/clickhouse/schema.js';
import { ClickHouseOutput, type RowsByTable } from '../../sinks/output-clickhouse.js';
import { JetStreamOutput, type OutboundMessage } from '../../sinks/output-jetstream.js';
import { WebhookOutput, type WebhookTrigger } from '../../sinks/output-webhook.js';
import { STREAM_OFFERS } from '../../contracts/subjects.js';
import { natsAuthOptions } from '../../platform/nats.js';
import { Publisher } from '../../platform/publisher.js';
import { type Row } from '../../sinks/mapping.js';
import { describeOutput } from './conformance.js';
import { startStallingProxy } from './proxy.js';

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack({ scorer: false, api: false });
}, 120_000);

afterAll(async () => {
  await stack?.destroy();
}, 60_000);

const SCORED = TABLES.find((t) => t.name === 'scored_transactions')!;

/** A whole scored_transactions row (every column), keyed by `tx_id`. */
function scoredRow(id: string): Row {
  const row: Row = {};
  for (const c of SCORED.columns) {
    row[c.name] = c.type.startsWith('Nullable') ? null : c.type.includes('String') ? '' : c.type.startsWith('DateTime64') ? '2026-01-02T03:04:05.000Z' : 0;
  }
  return { ...row, tx_id: id, customer_id: 'conformance', channel: 'pos', currency: 'IRR', amount_minor: 1000, stream_seq: 1 };
}

describeOutput<RowsByTable>({
  name: 'clickhouse',
  refusedReason: /^[A-Z_]+$/,
  async make() {
    const proxy = await startStallingProxy(Number(new URL(stack.clickhouseUrl).port));
    const s = stack.settings;
    const client = createWarehouseClient({ url: `http://127.0.0.1:${proxy.port}`, user: s.clickhouseUser, password: s.clickhousePassword, database: s.clickhouseDatabase });
    const maxPending = 60;
    const output = new ClickHouseOutput(new ClickHouseSink(client, { database: s.clickhouseDatabase, lingerMs: 10, retryMs: 50, maxRetryMs: 200 }), { maxPendingRows: maxPending });
    return {
      output, maxPending,
      batch: (ids) => new Map([['scored_transactions', ids.map(scoredRow)]]),
      withRefused: (good, bad) => new Map([['scored_transactions', [...good.map(scoredRow), { ...scoredRow(bad), amount_minor: 'not a number' }]]]),
      stored: async (ids) => {
        const rows = await queryRows<{ tx_id: string; n: number }>(stack, `SELECT tx_id, count() AS n FROM ${s.clickhouseDatabase}.scored_transactions FINAL WHERE customer_id = 'conformance' AND tx_id IN (${ids.map((id) => `'${id}'`).join(',')}) GROUP BY tx_id`);
        return new Map(rows.map((r) => [r.tx_id, Number(r.n)]));
      },
      stall: () => proxy.stall(),
      resume: () => proxy.resume(),
      dispose: async () => {
        await output.close(0);
        await proxy.close();
        await client.close();
      },
    };
  },
});

describeOutput<readonly OutboundMessage[]>({
  name: 'jetstream',
  refusedReason: /^max_payload$/,
  async make() {
    const proxy = await startStallingProxy(Number(new URL(stack.natsUrl).port));
    const nc = await connect({ servers: `nats://127.0.0.1:${proxy.port}`, ...natsAuthOptions(stack.settings) });
    const maxPending = 40;
    const output = new JetStreamOutput(new Publisher(nc, { timeoutMs: 500 }), { maxPending, retryMs: 50, maxRetryMs: 200, maxPayload: () => nc.info?.max_payload });
    const message = (id: string): OutboundMessage => ({ subject: `offers.conformance.${id}`, msgId: `conformance:${id}`, data: Buffer.from(JSON.stringify({ offer_id: id })) });
    return {
      output, maxPending,
      batch: (ids) => ids.map(message),
      withRefused: (good, bad) => [...good.map(message), { ...message(bad), data: Buffer.alloc((nc.info?.max_payload ?? 1_048_576) + 1, 0x20) }],
      stored: async (ids) => {
        const jsm = await jetstreamManager(stack.nc);
        const counts = new Map<string, number>();
        for (const id of ids) {
          const info = await jsm.streams.info(STREAM_OFFERS, { subjects_filter: `offers.conformance.${id}` });
          counts.set(id, info.state.subjects?.[`offers.conformance.${id}`] ?? 0);
        }
        return counts;
      },
      stall: () => proxy.stall(),
      resume: () => proxy.resume(),
      dispose: async () => {
        await output.close(0);
        await nc.close().catch(() => undefined);
        await proxy.close();
      },
    };
  },
});

/** A receiver that keeps each offer under the first Idempotency-Key it came with, refuses `*-bad` with 422, and can hold its answers. */
async function startReceiver(): Promise<{ url: string; keysById: Map<string, Set<string>>; stall(): void; resume(): void; close(): Promise<void> }> {
  const keysById = new Map<string, Set<string>>();
  let stalled = false;
  let held: (() => void)[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const answer = (): void => {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { offer_id: string };
        if (body.offer_id.endsWith('-bad')) {
          res.writeHead(422).end();
          return;
        }
        const keys = keysById.get(body.offer_id) ?? new Set<string>();
        keys.add(String(req.headers['idempotency-key']));
        keysById.set(body.offer_id, keys);
        res.writeHead(200).end();
      };
      if (stalled) held.push(answer);
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/offers`,
    keysById,
    stall: () => {
      stalled = true;
    },
    resume: () => {
      stalled = false;
      const answers = held;
      held = [];
      for (const a of answers) a();
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const receiver = { current: undefined as Awaited<ReturnType<typeof startReceiver>> | undefined };
beforeAll(async () => {
  receiver.current = await startReceiver();
});
afterAll(async () => {
  await receiver.current?.close();
});

describeOutput<readonly WebhookTrigger[]>({
  name: 'webhook',
  refusedReason: /^http_422$/,
  make() {
    const r = receiver.current!;
    const maxPending = 20;
    const output = new WebhookOutput({ url: r.url, secret: 'conformance', maxPending, concurrency: 4, timeoutMs: 5000, retryMs: 50, maxRetryMs: 200 });
    const trigger = (id: string): WebhookTrigger => ({ key: id, subject: `offers.conformance.${id}`, body: Buffer.from(JSON.stringify({ offer_id: id })) });
    return Promise.resolve({
      output, maxPending,
      batch: (ids) => ids.map(trigger),
      withRefused: (good, bad) => [...good.map(trigger), trigger(bad)],
      // Distinct keys a receiver saw for an offer: a replay under a new key would be stored twice.
      stored: (ids) => Promise.resolve(new Map(ids.map((id) => [id, r.keysById.get(id)?.size ?? 0]))),
      stall: () => r.stall(),
      resume: () => r.resume(),
      dispose: () => output.close(0),
    });
  },
});
