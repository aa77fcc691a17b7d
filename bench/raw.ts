/**
 * Raw ceilings: what NATS JetStream itself does on this machine, against a fresh nats-server with a
 * temporary store and a stream shaped like `TX` (file storage, subjects `tx.>`), so the vafa paths can
 * be read as a fraction of them.
 *   core  — core-NATS `nc.publish()` into the stream, no acks, timed until the stream reports all persisted;
 *   stock — the stock `await js.publish()` loop, one PubAck at a time;
 *   pull  — a pull consumer with cumulative acks (`AckPolicy.All`, one ack per 1000) parsing each message.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, StorageType, type JetStreamManager } from '@nats-io/jetstream';
import { startLocalNats } from '../platform/mod.js';
import type { Cleanup } from './cleanup.js';
import type { Progress } from './progress.js';
import { Reservoir, type LatencySummary } from './stats.js';
import { CpuProbe, type CpuShare } from './cpu.js';
import { item } from '../scorer/core/mod.js';

export const RAW_STREAM = 'TX';
export const RAW_PAYLOAD_BYTES = 200;

export interface RawResult {
  messages: number;
  seconds: number;
  rate: number;
  /** Only for the core publish: how many the stream held when timing stopped (less than `messages` means loss). */
  persisted?: number;
  /** Only for the stock loop: each publish's round trip to its PubAck, ms. */
  latency?: LatencySummary;
  cpu?: CpuShare;
}

export interface RawCeilings {
  core: RawResult;
  stock: RawResult;
  pull: RawResult;
}

/** ~200-byte JSON bodies shaped like a transaction event; `i` makes each unique. */
export function rawPayload(i: number): Uint8Array {
  const base = {
    tx_id: `R${String(i).padStart(10, '0')}`, customer_id: `C${i % 5000}`, channel: 'pos', amount_minor: 125_000 + (i % 9973),
    currency: 'IRR', occurred_at: '2026-01-01T10:00:00Z', mcc: '5411', merchant_id: 'M0001', terminal_id: 'T0001', pad: '',
  };
  const s = JSON.stringify(base);
  base.pad = 'x'.repeat(Math.max(0, RAW_PAYLOAD_BYTES - s.length));
  return Buffer.from(JSON.stringify(base));
}

async function resetStream(jsm: JetStreamManager): Promise<void> {
  await jsm.streams.delete(RAW_STREAM).catch(() => undefined);
  await jsm.streams.add({ name: RAW_STREAM, subjects: ['tx.>'], storage: StorageType.File, num_replicas: 1 });
}

async function streamMessages(jsm: JetStreamManager): Promise<number> {
  return (await jsm.streams.info(RAW_STREAM)).state.messages;
}

const subjectOf = (i: number): string => `tx.${i % 8}.transaction`;

/** 1a: core publish, flushed every `chunk` messages so the client buffer stays bounded. */
async function corePublish(nc: NatsConnection, jsm: JetStreamManager, n: number, payloads: Uint8Array[], progress: Progress, signal: AbortSignal): Promise<RawResult> {
  await resetStream(jsm);
  const chunk = 2000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    nc.publish(subjectOf(i), item(payloads, i % payloads.length));
    if ((i + 1) % chunk === 0) {
      await nc.flush();
      progress.update(i + 1, n);
      if (signal.aborted) throw signal.reason as Error;
    }
  }
  await nc.flush();
  let persisted: number;
  let tEnd: number;
  let last = -1;
  let stableSince = performance.now();
  const deadline = performance.now() + 60_000;
  for (;;) {
    persisted = await streamMessages(jsm);
    tEnd = performance.now();
    if (persisted >= n) break;
    if (persisted !== last) {
      last = persisted;
      stableSince = tEnd;
    } else if (tEnd - stableSince > 3000 || tEnd > deadline) {
      tEnd = stableSince; // nothing more arrived: core NATS dropped the rest (no flow control, no acks)
      break;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  const seconds = (tEnd - t0) / 1000;
  return { messages: n, persisted, seconds, rate: persisted / seconds };
}

/** 1b: the stock loop, one awaited `js.publish()` at a time. */
async function stockPublish(nc: NatsConnection, jsm: JetStreamManager, n: number, payloads: Uint8Array[], progress: Progress, signal: AbortSignal): Promise<RawResult> {
  await resetStream(jsm);
  const js = jetstream(nc);
  const lat = new Float64Array(n);
  const t0 = performance.now();
  let t = t0;
  for (let i = 0; i < n; i++) {
    await js.publish(subjectOf(i), item(payloads, i % payloads.length));
    const now = performance.now();
    lat[i] = now - t;
    t = now;
    if ((i + 1) % 1000 === 0) {
      progress.update(i + 1, n);
      if (signal.aborted) throw signal.reason as Error;
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  if ((await streamMessages(jsm)) < n) throw new Error('stock js.publish loop: the stream holds fewer messages than were acked');
  const latency = new Reservoir();
  latency.addAll(lat);
  return { messages: n, seconds, rate: n / seconds, latency: latency.summary() };
}

/** 1c: pull-consume everything in the stream with cumulative acks (one per 1000) and JSON.parse of each. */
async function pullConsume(nc: NatsConnection, jsm: JetStreamManager, progress: Progress, signal: AbortSignal): Promise<RawResult> {
  const n = await streamMessages(jsm);
  const name = 'bench-pull';
  await jsm.consumers.delete(RAW_STREAM, name).catch(() => undefined);
  await jsm.consumers.add(RAW_STREAM, { durable_name: name, ack_policy: AckPolicy.All, deliver_policy: DeliverPolicy.All, max_ack_pending: 10_000 });
  const js = jetstream(nc);
  const consumer = await js.consumers.get(RAW_STREAM, name);
  const every = 1000;
  let got = 0;
  let parsed = 0;
  const t0 = performance.now();
  const msgs = await consumer.consume({ max_messages: 2000 });
  for await (const m of msgs) {
    const v = JSON.parse(m.string()) as { amount_minor: number };
    parsed += v.amount_minor > 0 ? 1 : 0;
    got++;
    if (got % every === 0 || got === n) {
      if (got === n) {
        await m.ackAck();
        break;
      }
      m.ack();
      progress.update(got, n);
      if (signal.aborted) break;
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  await msgs.close().catch(() => undefined);
  if (signal.aborted) throw signal.reason as Error;
  if (parsed !== n) throw new Error(`pull consume: parsed ${parsed} of ${n}`);
  const info = await jsm.consumers.info(RAW_STREAM, name);
  if (info.num_ack_pending !== 0 || info.num_pending !== 0) throw new Error(`pull consume: ${info.num_pending} pending, ${info.num_ack_pending} un-acked after the last ack`);
  return { messages: n, seconds, rate: n / seconds };
}

export interface RawPlan {
  /** Messages for the core publish and the pull consume. */
  coreMessages: number;
  /** Messages for the stock js.publish loop (slow: fewer). */
  stockMessages: number;
}

/** Starts a fresh nats-server with a temp store, measures the three ceilings, stops it and removes the store. */
export async function measureRaw(plan: RawPlan, cleanup: Cleanup, progress: Progress): Promise<RawCeilings & { natsUrl: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vafa-bench-raw-'));
  cleanup.trackDir(dir);
  const undoDir = cleanup.add('raw nats store', async () => cleanup.removeDir(dir));
  const server = await startLocalNats({ port: 0, storeDir: path.join(dir, 'nats'), serverName: 'vafa-bench-raw' });
  cleanup.trackPid(server.pid);
  const undoServer = cleanup.add('raw nats-server', async () => {
    await server.stop();
    cleanup.untrackPid(server.pid);
  });
  const nc = await connect({ servers: server.url, name: 'vafa-bench-raw' });
  const undoNc = cleanup.add('raw nats connection', async () => { await nc.close(); });
  try {
    const jsm = await jetstreamManager(nc, { timeout: 30_000 });
    const payloads = Array.from({ length: 1024 }, (_, i) => rawPayload(i));
    const signal = cleanup.signal;
    const probed = async (f: () => Promise<RawResult>): Promise<RawResult> => {
      const cpu = new CpuProbe({ 'nats-server': server.pid });
      const r = await f();
      return { ...r, cpu: cpu.stop() };
    };
    progress.phase('raw: stock js.publish loop (await each)');
    const stock = await probed(() => stockPublish(nc, jsm, plan.stockMessages, payloads, progress, signal));
    progress.phase('raw: core-NATS publish into the stream');
    const core = await probed(() => corePublish(nc, jsm, plan.coreMessages, payloads, progress, signal));
    progress.phase('raw: pull consume, cumulative acks');
    const pull = await probed(() => pullConsume(nc, jsm, progress, signal));
    return { core, stock, pull, natsUrl: server.url };
  } finally {
    await undoNc();
    await undoServer();
    await undoDir();
  }
}
