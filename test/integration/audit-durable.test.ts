/**
 * The access audit's durability (docs/security.md, Access audit), on the real embedded ClickHouse: an admin
 * action's row is in `access_audit` before its answer leaves, while reads' rows wait in the buffer (a
 * minute here) and reach the table when the API closes; the close keeps to its deadline when ClickHouse
 * does not answer, and an admin answer says when its row could not be written.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { ClickHouseClient } from '@clickhouse/client';
import { buildApp } from '../../api/app.js';
import { AccessAudit } from '../../api/audit.js';
import { keyFileLine } from '../../api/auth.js';
import { apiMetrics, createRegistry } from '../../api/metrics.js';
import type { IngestService } from '../../ingest/service.js';
import { createWarehouseClient } from '../../sinks/clickhouse/client.js';
import { createLogger } from '../../platform/log.js';
import { queryRows, startTestStack, waitFor, type TestStack } from '../support/stack.js';

const logger = createLogger({ level: 'silent' });
const OPS = 'ops-admin-key-000000000000001';
const DESK = 'desk-read-key-000000000000001';
const ingest = { available: true, ingest: async () => ({ accepted: 0, duplicates: 0, failed: 0, unavailable: false, results: [] }) } as unknown as IngestService;

let stack: TestStack;
let dir: string;
let keyFile: string;
/** A ClickHouse that accepts connections and never answers. */
let silent: Server;
const sockets: Socket[] = [];
beforeAll(async () => {
  stack = await startTestStack({ scorer: false, api: false });
  dir = mkdtempSync(path.join(os.tmpdir(), 'vafa-audit-durable-'));
  keyFile = path.join(dir, 'keys');
  writeFileSync(keyFile, `${keyFileLine('ops', ['admin'], OPS)}\n${keyFileLine('desk', ['read'], DESK)}\n`);
  silent = createServer((s) => void sockets.push(s));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  silent?.close();
  await stack?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function makeApp(warehouse: ClickHouseClient, file = keyFile, keyFileWatchMs?: number): Promise<FastifyInstance> {
  const registry = createRegistry();
  return await buildApp({
    ingest, warehouse, database: 'vafa', registry, metrics: apiMetrics(registry), host: '127.0.0.1', logger,
    apiKeys: [], auth: { keyFile: file, auditFlushMs: 60_000, ...(keyFileWatchMs ? { keyFileWatchMs } : {}) },
  });
}

const rowsOf = async (requestId: string): Promise<{ action: string; principal: string; status: number }[]> =>
  queryRows(stack, `SELECT action, principal, status FROM vafa.access_audit FINAL WHERE request_id = '${requestId}' ORDER BY at`);

const silentClient = (): ClickHouseClient => createWarehouseClient({ url: `http://127.0.0.1:${(silent.address() as { port: number }).port}`, user: 'default', password: '', database: 'vafa' }, { requestTimeoutMs: 30_000 });

describe('access audit durability', () => {
  it('writes an admin action\'s row before its answer; reads\' rows wait for the batch and are written when the API closes', async () => {
    const app = await makeApp(stack.warehouse);
    const admin = { authorization: `Bearer ${OPS}` };
    const reload = await app.inject({ method: 'POST', url: '/v1/admin/keys/reload', headers: { ...admin, 'x-request-id': 'durable-reload' } });
    expect(reload.statusCode).toBe(200);
    expect(reload.headers['x-vafa-audit']).toBeUndefined();
    expect(await rowsOf('durable-reload')).toEqual([{ action: 'admin.keys.reload', principal: 'ops', status: 200 }]); // no wait: it is there

    writeFileSync(keyFile, `${keyFileLine('ops', ['admin'], OPS)}\ndesk reed sha256:00\n`);
    const refused = await app.inject({ method: 'POST', url: '/v1/admin/keys/reload', headers: { ...admin, 'x-request-id': 'durable-refused' } });
    writeFileSync(keyFile, `${keyFileLine('ops', ['admin'], OPS)}\n${keyFileLine('desk', ['read'], DESK)}\n`);
    expect(refused.statusCode).toBe(422);
    expect(await rowsOf('durable-refused')).toEqual([{ action: 'admin.keys.reload', principal: 'ops', status: 422 }]);
    const list = await app.inject({ method: 'GET', url: '/v1/admin/keys', headers: { ...admin, 'x-request-id': 'durable-list' } });
    expect(list.statusCode).toBe(200);
    expect(await rowsOf('durable-list')).toEqual([{ action: 'admin.keys.list', principal: 'ops', status: 200 }]);

    const reads = 20;
    for (let i = 0; i < reads; i++) {
      await app.inject({ method: 'GET', url: `/v1/customers/durable-C${i}`, headers: { authorization: `Bearer ${DESK}`, 'x-request-id': `durable-read-${i}` } });
    }
    const [before] = await queryRows<{ n: number }>(stack, "SELECT count() AS n FROM vafa.access_audit WHERE request_id LIKE 'durable-read-%'");
    expect(before!.n).toBe(0); // buffered: the batch waits a minute here
    expect(app.vafaAccess.audit.pending).toBe(reads);
    const t0 = performance.now();
    await app.close();
    expect(performance.now() - t0).toBeLessThan(2500);
    const [after] = await queryRows<{ n: number; customers: number }>(stack, "SELECT count() AS n, uniqExact(customer_id) AS customers FROM vafa.access_audit FINAL WHERE request_id LIKE 'durable-read-%'");
    expect(after).toEqual({ n: reads, customers: reads });
  });

  it('audits a key file changed on disk at once, kept or refused (not with the batched reads)', async () => {
    const watched = path.join(dir, 'keys-watched');
    writeFileSync(watched, `${keyFileLine('ops', ['admin'], OPS)}\n`);
    const app = await makeApp(stack.warehouse, watched, 100);
    const fileRows = async (): Promise<{ status: number; detail: string; via: string }[]> =>
      queryRows(stack, `SELECT status, detail, via FROM vafa.access_audit FINAL WHERE action = 'admin.keys.reload' AND route = '${watched}' ORDER BY at`);
    writeFileSync(watched, `${keyFileLine('ops', ['admin'], OPS)}\n${keyFileLine('desk', ['read'], DESK)}\n`);
    await waitFor(async () => (await fileRows()).length === 1, 10_000, 'the reload\'s row');
    writeFileSync(watched, 'desk reed sha256:00\n');
    await waitFor(async () => (await fileRows()).length === 2, 10_000, 'the refusal\'s row');
    const rows = await fileRows();
    expect(rows.map((r) => [r.status, r.via])).toEqual([[200, 'file'], [422, 'file']]);
    expect(rows[0]!.detail).toBe('keys=2');
    expect(rows[1]!.detail).toMatch(/keys-watched:1: /);
    expect(app.vafaAccess.audit.pending).toBe(0);
    await app.close();
  });

  it('answers an admin action whose row ClickHouse did not take with x-vafa-audit: pending, and keeps the row for the retry', async () => {
    const dead = createWarehouseClient({ url: 'http://127.0.0.1:9', user: 'default', password: '', database: 'vafa' }, { requestTimeoutMs: 1000 });
    const app = await makeApp(dead);
    const list = await app.inject({ method: 'GET', url: '/v1/admin/keys', headers: { authorization: `Bearer ${OPS}` } });
    expect(list.statusCode).toBe(200);
    expect(list.headers['x-vafa-audit']).toBe('pending');
    expect(app.vafaAccess.audit.pending).toBe(1);
    await app.close();
    await dead.close();
  });

  it('gives up within its deadline when ClickHouse does not answer, at an admin action and at the close, counting what it lost', async () => {
    const registry = createRegistry();
    const hung = silentClient();
    const audit = new AccessAudit({ warehouse: hung, database: 'vafa', logger, registry, flushMs: 60_000, maxBatch: 5 });
    const entry = { principal: 'desk', via: 'bearer', action: 'customer.view', customer_id: 'C1', method: 'GET', route: '/v1/customers/:id', status: 200, remote_addr: '10.0.0.1' };
    let t0 = performance.now();
    expect(await audit.recordDurably({ ...entry, action: 'admin.keys.list', principal: 'ops' }, 300)).toBe(false);
    expect(performance.now() - t0).toBeLessThan(1500);
    for (let i = 0; i < 9; i++) audit.record(entry);
    expect(audit.pending).toBe(5); // 5 of the 10 left in an insert at maxBatch, which ClickHouse never answers
    t0 = performance.now();
    await audit.close(400);
    expect(performance.now() - t0).toBeLessThan(1500);
    expect(audit.pending).toBe(0);
    expect(audit.unconfirmed).toBe(5); // that insert
    expect(audit.dropped).toBe(5); // the rest never left
    expect((await registry.getSingleMetric('vafa_access_audit_dropped_total')!.get()).values[0]!.value).toBe(5);
    expect(audit.written).toBe(0);
    void hung.close();
  });
});
