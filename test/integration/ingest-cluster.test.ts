/**
 * Ingest on every core (app/ingest-cluster.ts): two ingest worker processes behind one HTTP port and
 * one ISO 8583 port, on a real nats-server. Events posted over many connections land in TX exactly once
 * and both workers serve; /metrics is the sum of the workers; a key's rate limit holds across them; an
 * ISO 8583 connection works on whichever worker it reaches (tokens only in TX); a dashboard sign-in
 * holds on every worker; stopping with requests
 * in flight loses nothing that was acknowledged, within the deadline.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STREAM_TX } from '../../contracts/subjects.js';
import { natsJsm } from '../../platform/nats.js';
import { encode, decode, frameMessage } from '../../ingest/iso8583/mod.js';
import { tokenizePan } from '../../ingest/tokenize.js';
import { connectClient } from '../iso8583/helpers.js';
import { makeTx, startTestStack, type TestStack } from '../support/stack.js';

const KEY_A = 'cluster-test-key-a-0001';
const KEY_B = 'cluster-test-key-b-0002';
const KEY_C = 'cluster-test-key-c-0003';
const KEY_D = 'cluster-test-key-d-0004';
const TOKEN_KEY = 'cluster-test-token-key-0123456789';
const RATE = 200;
const PAN = '6037997499990001';

let stack: TestStack;
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

beforeAll(async () => {
  stack = await startTestStack({ scorer: false, iso8583: true, overrides: { ingestWorkers: 2, apiKeys: [KEY_A, KEY_B, KEY_C, KEY_D], tokenKey: TOKEN_KEY, rateLimitPerMin: RATE, shutdownMs: 8000 } });
});
afterAll(async () => {
  agent.destroy();
  await stack?.destroy();
});

function request(method: 'GET' | 'POST', path: string, key: string, body?: unknown): Promise<{ status: number; text: string }> {
  const url = new URL(path, stack.apiUrl);
  const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent, headers: { authorization: `Bearer ${key}`, ...(data ? { 'content-type': 'application/json', 'content-length': String(data.length) } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.setTimeout(20_000, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(data);
  });
}

async function streamMessages(): Promise<number> {
  return (await (await natsJsm(stack.nc)).streams.info(STREAM_TX)).state.messages;
}

/** The TX messages after `fromSeq`, decoded. */
async function txBodiesAfter(fromSeq: number): Promise<{ raw: string; value: Record<string, unknown> }[]> {
  const jsm = await natsJsm(stack.nc);
  const last = (await jsm.streams.info(STREAM_TX)).state.last_seq;
  const out: { raw: string; value: Record<string, unknown> }[] = [];
  for (let seq = fromSeq + 1; seq <= last; seq++) {
    const m = await jsm.streams.getMessage(STREAM_TX, { seq });
    if (!m) continue;
    const raw = new TextDecoder().decode(m.data);
    out.push({ raw, value: JSON.parse(raw) as Record<string, unknown> });
  }
  return out;
}

function metricValue(text: string, name: string, labels: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

async function acceptedByWorker(): Promise<number[]> {
  const parts = await stack.ingestCluster!.workerMetrics();
  return parts.map((p) => p.find((m) => m.name === 'vafa_ingest_items_total')?.values
    .filter((v) => v.labels.kind === 'transaction' && v.labels.status === 'accepted' && v.labels.source === 'http')
    .reduce((s, v) => s + v.value, 0) ?? 0);
}

describe('ingest on two worker processes behind one port', () => {
  const REQUESTS = 40;
  const PER_REQUEST = 50;

  it('lands events posted over 16 connections in TX exactly once, served by both workers', async () => {
    expect(stack.app).toBeUndefined();
    expect(stack.ingestCluster?.pids()).toHaveLength(2);
    const before = await streamMessages();
    const answers = await Promise.all(Array.from({ length: REQUESTS }, (_, r) =>
      request('POST', '/v1/transactions', KEY_A, Array.from({ length: PER_REQUEST }, (_, i) => makeTx(r * PER_REQUEST + i)))));
    for (const a of answers) {
      expect(a.status).toBe(202);
      expect(JSON.parse(a.text)).toMatchObject({ accepted: PER_REQUEST, duplicates: 0 });
    }
    expect(await streamMessages()).toBe(before + REQUESTS * PER_REQUEST);
    const ids = (await txBodiesAfter(before)).map((m) => m.value.tx_id);
    expect(new Set(ids).size).toBe(REQUESTS * PER_REQUEST);
    const perWorker = await acceptedByWorker();
    expect(perWorker).toHaveLength(2);
    expect(perWorker.every((n) => n > 0)).toBe(true);
    expect(perWorker.reduce((s, n) => s + n, 0)).toBe(REQUESTS * PER_REQUEST);
  });

  it('serves /metrics as the sum over the workers, whichever worker answers', async () => {
    const perWorker = await acceptedByWorker();
    for (let i = 0; i < 4; i++) {
      const m = await request('GET', '/metrics', KEY_A);
      expect(m.status).toBe(200);
      expect(metricValue(m.text, 'vafa_ingest_items_total', 'status="accepted"')).toBe(perWorker.reduce((s, n) => s + n, 0));
      expect(metricValue(m.text, 'vafa_http_request_duration_seconds_count', 'route="/v1/transactions"')).toBeGreaterThanOrEqual(REQUESTS);
    }
  });

  it('holds a key\'s rate limit across the workers', async () => {
    const answers = await Promise.all(Array.from({ length: RATE * 2 }, (_, i) => request('POST', '/v1/transactions', KEY_B, makeTx(500_000 + i))));
    const accepted = answers.filter((a) => a.status === 202).length;
    expect(answers.filter((a) => a.status !== 202 && a.status !== 429)).toEqual([]);
    expect(accepted).toBe(RATE);
    // another key is counted apart
    expect((await request('POST', '/v1/transactions', KEY_C, makeTx(600_000))).status).toBe(202);
  });

  it('keeps a dashboard sign-in valid on every worker, and a sign-out too', async () => {
    const login = await fetch(new URL('/login', stack.apiUrl), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key: KEY_C }) });
    expect(login.status).toBe(200);
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
    expect(cookie).toMatch(/^vafa_session=./);
    // a fresh connection each: the primary hands them to the workers in turn
    const fresh = (): Promise<number> => new Promise((resolve, reject) => {
      const req = http.request(new URL('/v1/customers/NOBODY', stack.apiUrl), { agent: false, headers: { cookie } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.setTimeout(20_000, () => req.destroy(new Error('request timed out')));
      req.on('error', reject);
      req.end();
    });
    const signedIn: number[] = [];
    for (let i = 0; i < 6; i++) signedIn.push(await fresh());
    expect(signedIn).toEqual(Array(6).fill(404));
    const logout = await fetch(new URL('/logout', stack.apiUrl), { method: 'POST', headers: { cookie } });
    expect(logout.status).toBe(204);
    const signedOut: number[] = [];
    for (let i = 0; i < 6; i++) signedOut.push(await fresh());
    expect(signedOut).toEqual(Array(6).fill(401));
  });

  it('answers ISO 8583 0200s on connections spread over the workers, publishing card tokens only', async () => {
    expect((await request('POST', '/v1/customers', KEY_C, { customer_id: 'CLUSTER-ISO-1', opened_at: '2024-05-01T08:00:00Z', cards: [PAN] })).status).toBe(202);
    const before = (await (await natsJsm(stack.nc)).streams.info(STREAM_TX)).state.last_seq;
    const clients = await Promise.all(Array.from({ length: 4 }, () => connectClient(stack.iso8583Port!)));
    clients.forEach((c, i) => {
      const stan = String(700 + i).padStart(6, '0');
      c.send(frameMessage(encode({ mti: '0200', fields: { 2: PAN, 3: '000000', 4: '000001250000', 7: '0420050805', 11: stan, 12: '083005', 13: '0420', 18: '5411', 32: '627412', 37: `6110050${stan.slice(1)}`, 41: 'TERM0007', 49: '364' } }), { lengthHeader: 'binary2' }));
    });
    for (const c of clients) {
      const [reply] = (await c.waitFor(1, 15_000)).map((f) => decode(f));
      expect([reply!.mti, reply!.fields[39]]).toEqual(['0210', '00']);
      c.socket.destroy();
    }
    const published = (await txBodiesAfter(before)).filter((m) => String(m.value.tx_id).startsWith('iso:'));
    expect(published).toHaveLength(4);
    for (const m of published) {
      expect(m.raw).not.toContain(PAN);
      expect(m.value).toMatchObject({ customer_id: 'CLUSTER-ISO-1', card_token: tokenizePan(PAN, TOKEN_KEY) });
    }
  });

  it('stops with requests in flight within the deadline, losing nothing it acknowledged', async () => {
    const before = (await (await natsJsm(stack.nc)).streams.info(STREAM_TX)).state.last_seq;
    const acknowledged: string[] = [];
    let answered = 0;
    let next = 0;
    const loop = async (): Promise<void> => {
      for (let n = 0; n < 100; n++) {
        const batch = Array.from({ length: 200 }, () => makeTx(800_000 + next++));
        try {
          const a = await request('POST', '/v1/transactions', KEY_D, batch);
          answered++;
          if (a.status === 202) acknowledged.push(...batch.map((t) => String(t.tx_id)));
          else if (a.status !== 503) throw new Error(`unexpected ${a.status}: ${a.text.slice(0, 200)}`);
        } catch (err) {
          if (/unexpected/.test((err as Error).message)) throw err;
          return; // connection refused or reset: the API is gone
        }
      }
    };
    const loops = Array.from({ length: 8 }, loop);
    const t0 = Date.now();
    while (answered < 8 && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 20));
    expect(answered).toBeGreaterThanOrEqual(8);
    const stopAt = Date.now();
    await stack.stopInputs(5000);
    expect(Date.now() - stopAt).toBeLessThan(5000 + 1000);
    await Promise.all(loops);
    expect(stack.ingestCluster?.pids()).toEqual([]);
    expect(acknowledged.length).toBeGreaterThan(0);
    const landed = new Set((await txBodiesAfter(before)).map((m) => String(m.value.tx_id)));
    expect(acknowledged.filter((id) => !landed.has(id))).toEqual([]);
  });
});
