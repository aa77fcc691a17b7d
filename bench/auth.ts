/**
 * What the access check costs a request: the same route through `app.inject()` (no network) open, with a
 * `VAFA_API_KEYS` key, a key-file key and a session cookie. Stubs only (no engine): the difference between
 * the rows is the check plus the header handling. Then `authenticate()` alone, in a loop (the check itself).
 * Run: npx tsx bench/auth.ts [requests]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildApp, authenticate, keyFileLine, KeyRing, Sessions, apiMetrics, createRegistry } from '../api/mod.js';
import type { FastifyRequest } from 'fastify';
import { createWarehouseClient } from '../sinks/mod.js';
import { createLogger } from '../platform/mod.js';
import type { IngestService } from '../ingest/mod.js';

const N = Number(process.argv[2] ?? 20_000);
const ENV_KEY = 'env-key-000000000000000000001';
const FILE_KEY = 'file-key-00000000000000000001';
const ingest = { available: true, ingest: async () => ({ accepted: 1, duplicates: 0, failed: 0, unavailable: false, results: [{ index: 0, status: 'accepted', id: 'x', seq: 1 }] }) } as unknown as IngestService;
const dir = mkdtempSync(path.join(os.tmpdir(), 'vafa-authbench-'));
const keyFile = path.join(dir, 'keys');
writeFileSync(keyFile, `${keyFileLine('reader', ['read', 'ingest'], FILE_KEY)}\n`);

async function app(keys: boolean) {
  const registry = createRegistry();
  const warehouse = createWarehouseClient({ url: 'http://127.0.0.1:9', user: 'default', password: '', database: 'vafa' });
  return await buildApp({
    ingest, warehouse, database: 'vafa', logger: createLogger({ level: 'silent' }), registry, metrics: apiMetrics(registry),
    apiKeys: keys ? [ENV_KEY] : [], auth: keys ? { keyFile, auditFlushMs: 60_000 } : { auditFlushMs: 60_000 },
  });
}

const body = JSON.stringify({ tx_id: 'T1', customer_id: 'C1', channel: 'pos', amount_minor: 1, currency: 'IRR', occurred_at: '2026-01-01T00:00:00Z' });
async function run(name: string, a: Awaited<ReturnType<typeof app>>, headers: Record<string, string>, url = '/v1/transactions'): Promise<void> {
  const post = url === '/v1/transactions';
  const once = () => a.inject({ method: post ? 'POST' : 'GET', url, headers: { ...(post ? { 'content-type': 'application/json' } : {}), ...headers }, ...(post ? { payload: body } : {}) });
  for (let i = 0; i < 2000; i++) await once();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    const r = await once();
    if (r.statusCode >= 300) throw new Error(`${name}: ${r.statusCode} ${r.body}`);
  }
  const us = Number(process.hrtime.bigint() - t0) / 1000 / N;
  console.log(`${name.padEnd(34)} ${us.toFixed(1)} µs/request`);
}

const open = await app(false);
const keyed = await app(true);
const login = await keyed.inject({ method: 'POST', url: '/login', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ key: FILE_KEY }) });
const [cookie] = String(login.headers['set-cookie']).split(';');
if (!cookie) throw new Error(`POST /login set no session cookie (status ${login.statusCode})`);
for (let round = 0; round < 2; round++) {
  await run('POST /v1/transactions, open', open, {});
  await run('POST /v1/transactions, VAFA_API_KEYS', keyed, { authorization: `Bearer ${ENV_KEY}` });
  await run('POST /v1/transactions, key file', keyed, { authorization: `Bearer ${FILE_KEY}` });
  await run('GET /api/session, open', open, {}, '/api/session');
  await run('GET /api/session, session cookie', keyed, { cookie }, '/api/session');
}
await open.close();
await keyed.close();

const ring = await KeyRing.open({ envKeys: [ENV_KEY], file: keyFile, logger: createLogger({ level: 'silent' }) });
const sessions = new Sessions(3_600_000);
const fileKey = ring.lookup(FILE_KEY);
if (!fileKey) throw new Error('the key ring does not hold the key file\'s key');
const token = sessions.create(fileKey).token;
const fake = (headers: Record<string, string>): FastifyRequest => ({ headers, socket: { remoteAddress: '127.0.0.1' } }) as unknown as FastifyRequest;
for (const [name, req] of [['bearer key', fake({ authorization: `Bearer ${FILE_KEY}` })], ['session cookie', fake({ cookie: `a=b; vafa_session=${token}` })], ['wrong key', fake({ authorization: 'Bearer nope-nope-nope-nope' })]] as const) {
  const M = N * 10;
  for (let i = 0; i < 10_000; i++) authenticate(req, { keys: ring, sessions });
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < M; i++) authenticate(req, { keys: ring, sessions });
  console.log(`authenticate(), ${name.padEnd(21)} ${(Number(process.hrtime.bigint() - t0) / 1000 / M).toFixed(2)} µs`);
}
ring.close();
rmSync(dir, { recursive: true, force: true });
