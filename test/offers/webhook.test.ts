/**
 * The webhook sink against a real nats-server and a local node:http receiver: signed POSTs with an
 * Idempotency-Key, retries with back-off on 5xx and timeouts, acks only after a 2xx, payload refusals
 * to DLQ, a durable consumer that resumes after a restart without re-sending what was acknowledged.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STREAM_DLQ, STREAM_OFFERS } from '../../contracts/subjects.js';
import { createLogger } from '../../platform/log.js';
import { startLocalNats, type LocalNats } from '../../platform/nats-server.js';
import { connectNats, ensureStreams } from '../../platform/nats.js';
import { backoffMs, signWebhook, startWebhookSink, verifyWebhookSignature } from '../../sinks/webhook.js';
import { waitFor } from '../support/stack.js';

const SECRET = 'test-secret-☕';
let dir: string;
let nats: LocalNats;
let nc: NatsConnection;
let js: JetStreamClient;
let server: http.Server;
let url: string;

interface Received { key: string; status: number; attempt: number; valid: boolean; branch?: string | undefined; customer?: string | undefined; body: Record<string, unknown> }
const received: Received[] = [];
/**
 * The sink's request timeout in this test, and how late the 'slow' answer comes (well past it). Generous
 * enough that an ordinary answer on a loaded 2-core machine never times out (a retried 200 would be
 * delivered twice and fail the counts), short enough to keep the test quick.
 */
const SINK_TIMEOUT_MS = 1500;
const SLOW_ANSWER_MS = 3000;

/** offer_id → statuses to answer in turn (then 200); 'slow' waits past the sink's timeout. */
const script = new Map<string, (number | 'slow')[]>();

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'vafa-webhook-'));
  nats = await startLocalNats({ port: 0, storeDir: path.join(dir, 'nats') });
  nc = await connectNats(nats.url, 'webhook-test');
  await ensureStreams(await jetstreamManager(nc), { replicas: 1, duplicateWindowS: 120 });
  js = jetstream(nc);
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const key = String(req.headers['idempotency-key']);
      const next = script.get(key)?.shift() ?? 200;
      const answer = (status: number): void => {
        received.push({
          key, status, attempt: Number(req.headers['vafa-delivery-attempt']),
          valid: verifyWebhookSignature({ secret: SECRET, body: raw, timestamp: req.headers['vafa-timestamp'] as string, signature: req.headers['vafa-signature'] as string }),
          branch: req.headers['vafa-branch'] as string | undefined, customer: req.headers['vafa-customer'] as string | undefined,
          body: JSON.parse(raw.toString('utf8')) as Record<string, unknown>,
        });
        res.writeHead(status).end();
      };
      if (next === 'slow') setTimeout(() => answer(200), SLOW_ANSWER_MS);
      else answer(next);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/offers`;
}, 60_000);

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  await nc?.close();
  await nats?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function trigger(id: string, channel = 'sms', extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    offer_id: id, customer_id: `cust-${id}`, offer_code: 'ONB-BILLPAY', campaign_id: 'onboarding', channel, reason: 'test', churn_probability: 0.1,
    lifecycle_stage: 'welcome', tier: 'bronze', triggered_by_tx_id: `tx-${id}`, created_at: '2026-01-10T06:00:00.000Z', expires_at: '2026-01-24T06:00:00.000Z', ...extra,
  };
}

async function publish(p: Record<string, unknown>): Promise<void> {
  await js.publish(`offers.${String(p.channel)}`, JSON.stringify(p), { msgID: String(p.offer_id) });
}

const ok = (key: string): Received[] => received.filter((r) => r.key === key && r.status >= 200 && r.status < 300);

describe('webhook sink', () => {
  it('backs off exponentially, capped', () => {
    expect([1, 2, 3, 4].map((a) => backoffMs(a, { initialMs: 100, maxMs: 500 }))).toEqual([100, 200, 400, 500]);
  });

  it('delivers every trigger signed, retries failures, acks only after a 2xx, and sends refusals to DLQ', async () => {
    const logger = createLogger({ level: process.env.WH_LOG ?? 'silent' });
    script.set('of_retry', [503, 500]);
    script.set('of_slow', ['slow']);
    script.set('of_refused', [422]);
    for (let i = 0; i < 20; i++) await publish(trigger(`of_${i}`));
    await publish(trigger('of_retry'));
    await publish(trigger('of_slow', 'app'));
    await publish(trigger('of_refused', 'email'));
    await publish(trigger('of_teller', 'branch', { branch_id: 'BR-17' }));
    await publish(trigger('of_3')); // a replayed trigger: JetStream drops it (same Nats-Msg-Id)

    const sink = await startWebhookSink({ nc, url, secret: SECRET, logger, timeoutMs: SINK_TIMEOUT_MS, backoff: { initialMs: 50, maxMs: 200 }, concurrency: 4 });
    const want = [...Array.from({ length: 20 }, (_, i) => `of_${i}`), 'of_retry', 'of_slow', 'of_teller'];
    await waitFor(async () => want.every((k) => ok(k).length > 0) && sink.stats.failed === 1 && sink.stats.inFlight === 0, 20_000, 'every trigger delivered');
    for (const k of want.filter((x) => x !== 'of_slow')) expect(ok(k)).toHaveLength(1);
    expect(received.every((r) => r.valid)).toBe(true);
    expect(received.filter((r) => r.key === 'of_retry').map((r) => [r.status, r.attempt])).toEqual([[503, 1], [500, 2], [200, 3]]);
    // the first attempt timed out at the sink; the receiver answered it late, then got attempt 2 with the
    // same Idempotency-Key — what receivers de-duplicate on
    await waitFor(async () => received.filter((r) => r.key === 'of_slow').length === 2, SLOW_ANSWER_MS + 10_000, 'the late answer');
    expect(received.filter((r) => r.key === 'of_slow').map((r) => r.attempt).sort()).toEqual([1, 2]);
    expect(ok('of_teller')[0]).toMatchObject({ branch: 'BR-17', customer: 'cust-of_teller' });
    expect(ok('of_0')[0]!.body).toEqual(trigger('of_0'));
    expect(received.filter((r) => r.key === 'of_refused').map((r) => r.status)).toEqual([422]);

    const jsm = await jetstreamManager(nc);
    await waitFor(async () => {
      const info = await jsm.consumers.info(STREAM_OFFERS, 'offers-webhook');
      return info.num_pending === 0 && info.num_ack_pending === 0;
    }, 10_000, 'the consumer to be fully acked');
    const dlq = await jsm.streams.info(STREAM_DLQ);
    expect(dlq.state.messages).toBe(1);
    const m = await jsm.streams.getMessage(STREAM_DLQ, { seq: dlq.state.first_seq });
    expect(m?.subject).toBe('dlq.webhook.http_422');
    expect(m?.header.get('Vafa-Reason')).toBe('http_422');
    await sink.stop();

    // A restart resumes the durable consumer: nothing acknowledged is sent again, new triggers are.
    const before = received.length;
    const again = await startWebhookSink({ nc, url, secret: SECRET, logger, timeoutMs: SINK_TIMEOUT_MS, backoff: { initialMs: 50 } });
    await publish(trigger('of_new'));
    await waitFor(async () => ok('of_new').length === 1, 10_000, 'the new trigger');
    await new Promise((r) => setTimeout(r, 300));
    expect(received.slice(before).map((r) => r.key)).toEqual(['of_new']);
    await again.stop();
  }, 60_000);

  it('signatures verify, and a tampered body, another secret or a stale timestamp fail', () => {
    const body = '{"offer_id":"x"}';
    const ts = Math.floor(Date.now() / 1000);
    const sig = signWebhook(SECRET, ts, body);
    expect(sig).toMatch(/^v1=[0-9a-f]{64}$/);
    expect(verifyWebhookSignature({ secret: SECRET, body, timestamp: ts, signature: sig })).toBe(true);
    expect(verifyWebhookSignature({ secret: SECRET, body: body + ' ', timestamp: ts, signature: sig })).toBe(false);
    expect(verifyWebhookSignature({ secret: 'other', body, timestamp: ts, signature: sig })).toBe(false);
    expect(verifyWebhookSignature({ secret: SECRET, body, timestamp: ts - 3600, signature: signWebhook(SECRET, ts - 3600, body) })).toBe(false);
  });
});
