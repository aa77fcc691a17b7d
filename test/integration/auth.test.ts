import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTx, postJson, queryRows, startTestStack, waitFor, type TestStack } from '../support/stack.js';
import { keyFileLine, envKeyId } from '../../api/auth.js';

const KEY_A = 'a-very-secret-key-0001';
const KEY_B = 'b-very-secret-key-0002';
const ANALYST = 'analyst-secret-key-0000000003';
const SWITCH = 'switch-secret-key-00000000004';
const OPERATOR = 'operator-secret-key-0000000005';
let stack: TestStack;
let dir: string;
let keyFile: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'vafa-auth-'));
  keyFile = path.join(dir, 'api-keys');
  writeFileSync(keyFile, [keyFileLine('analyst', ['read'], ANALYST), keyFileLine('switch-a', ['ingest'], SWITCH), keyFileLine('operator', ['admin'], OPERATOR), ''].join('\n'));
  stack = await startTestStack({ scorer: false, overrides: { apiKeys: [KEY_A, KEY_B], apiKeyFile: keyFile, tokenKey: 'test-token-key-0123456789', rateLimitPerMin: 5 } });
});
afterAll(async () => {
  await stack?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

const get = async (url: string, key?: string): Promise<{ status: number; body: Record<string, unknown> }> => {
  const r = await fetch(`${stack.apiUrl}${url}`, { headers: key ? { authorization: `Bearer ${key}` } : {} });
  const text = await r.text();
  return { status: r.status, body: text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : { text } };
};

describe('API keys and rate limits', () => {
  it('refuses writes without a valid bearer key and accepts them with one', async () => {
    const none = await postJson(`${stack.apiUrl}/v1/transactions`, makeTx(1));
    expect(none.status).toBe(401);
    expect(none.body.error).toBe('VAFA_UNAUTHORIZED');
    expect(none.headers.get('www-authenticate')).toMatch(/Bearer/);
    const wrong = await postJson(`${stack.apiUrl}/v1/transactions`, makeTx(1), { authorization: 'Bearer nope-nope-nope-nope' });
    expect(wrong.status).toBe(401);
    const ok = await postJson(`${stack.apiUrl}/v1/transactions`, makeTx(1), { authorization: `Bearer ${KEY_A}` });
    expect(ok.status).toBe(202);
    expect((await fetch(`${stack.apiUrl}/healthz`)).status).toBe(200);
  });

  it('limits each key separately and says when to retry', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await postJson(`${stack.apiUrl}/v1/transactions`, makeTx(100 + i), { authorization: `Bearer ${KEY_B}` })).status);
    expect(statuses.slice(0, 5).every((s) => s === 202)).toBe(true);
    expect(statuses[5]).toBe(429);
    const limited = await postJson(`${stack.apiUrl}/v1/transactions`, makeTx(200), { authorization: `Bearer ${KEY_B}` });
    expect(limited.body.error).toBe('VAFA_RATE_LIMITED');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    // KEY_A used one request in the first test: it still has room
    expect((await postJson(`${stack.apiUrl}/v1/transactions`, makeTx(300), { authorization: `Bearer ${KEY_A}` })).status).toBe(202);
  });
});

describe('scoped keys and protected reads', () => {
  it('with VAFA_API_KEYS set, reads need a key too; VAFA_API_KEYS keys hold every scope', async () => {
    for (const url of ['/v1/customers/C1', '/v1/customers/C1/ledger', '/v1/leaderboard', '/api/dashboard', '/metrics']) {
      const r = await get(url);
      expect(r.status, url).toBe(401);
      expect(r.body.error).toBe('VAFA_UNAUTHORIZED');
    }
    expect((await get('/v1/customers/C1', KEY_A)).status).toBe(404); // allowed; nothing scored (no scorer here)
    expect((await get('/v1/leaderboard', KEY_A)).status).toBe(200);
    expect((await get('/metrics', KEY_A)).status).toBe(200);
  });

  it('file keys hold their scopes only: 403 names the scope missing', async () => {
    expect((await get('/v1/leaderboard', ANALYST)).status).toBe(200);
    const noWrite = await postJson(`${stack.apiUrl}/v1/transactions`, makeTx(400), { authorization: `Bearer ${ANALYST}` });
    expect(noWrite.status).toBe(403);
    expect(noWrite.body).toMatchObject({ error: 'VAFA_FORBIDDEN', required_scope: 'ingest' });
    expect((await postJson(`${stack.apiUrl}/v1/transactions`, makeTx(401), { authorization: `Bearer ${SWITCH}` })).status).toBe(202);
    const noRead = await get('/v1/customers/C1', SWITCH);
    expect(noRead.status).toBe(403);
    expect(noRead.body.required_scope).toBe('read');
    expect((await get('/v1/admin/keys', ANALYST)).status).toBe(403);
    const keys = await get('/v1/admin/keys', OPERATOR);
    expect(keys.status).toBe(200);
    const listed = keys.body.keys as { id: string; scopes: string[]; source: string }[];
    expect(listed.map((k) => k.id).sort()).toEqual(['analyst', envKeyId(KEY_A), envKeyId(KEY_B), 'operator', 'switch-a'].sort());
    expect(JSON.stringify(keys.body)).not.toMatch(/secret|sha256/);
  });

  it('rotates keys from the file without a restart', async () => {
    const NEW = 'analyst-rotated-key-00000000006';
    writeFileSync(keyFile, [keyFileLine('analyst-2', ['read'], NEW), keyFileLine('switch-a', ['ingest'], SWITCH), keyFileLine('operator', ['admin'], OPERATOR), ''].join('\n'));
    // re-read on change (polled every 2 s) or at once through the admin API
    const reload = await postJson(`${stack.apiUrl}/v1/admin/keys/reload`, {}, { authorization: `Bearer ${OPERATOR}` });
    expect(reload.status).toBe(200);
    expect(reload.body).toMatchObject({ reloaded: true, keys: 5 });
    expect((await get('/v1/leaderboard', NEW)).status).toBe(200);
    expect((await get('/v1/leaderboard', ANALYST)).status).toBe(401);
    // a broken file is refused, naming the line; the keys in force stay
    writeFileSync(keyFile, `operator admin sha256:${'0'.repeat(64)}\nbroken\n`);
    const refused = await postJson(`${stack.apiUrl}/v1/admin/keys/reload`, {}, { authorization: `Bearer ${OPERATOR}` });
    expect(refused.status).toBe(422);
    expect(refused.body.error).toBe('VAFA_KEY_FILE_REFUSED');
    expect(String(refused.body.message)).toMatch(/api-keys:2:/);
    expect((await get('/v1/leaderboard', NEW)).status).toBe(200);
  });
});

describe('access audit', () => {
  it('records customer reads, admin actions and refusals in ClickHouse (key id, never the key)', async () => {
    const NEW = 'analyst-rotated-key-00000000006';
    expect((await get('/v1/customers/C7', NEW)).status).toBe(404);
    expect((await get('/v1/customers/C7/ledger?limit=5', NEW)).status).toBe(200);
    expect((await get('/v1/customers/C8')).status).toBe(401);
    const rows = await waitFor(async () => {
      const r = await queryRows<{ principal: string; via: string; action: string; customer_id: string; status: number; remote_addr: string; route: string }>(
        stack, "SELECT principal, via, action, customer_id, status, remote_addr, route FROM vafa.access_audit FINAL WHERE customer_id IN ('C7', 'C8') ORDER BY at, action");
      return r.length >= 3 ? r : undefined;
    }, 15_000, 'audit rows');
    expect(rows).toEqual([
      { principal: 'analyst-2', via: 'bearer', action: 'customer.view', customer_id: 'C7', status: 404, remote_addr: '127.0.0.1', route: '/v1/customers/:id' },
      { principal: 'analyst-2', via: 'bearer', action: 'customer.ledger', customer_id: 'C7', status: 200, remote_addr: '127.0.0.1', route: '/v1/customers/:id/ledger' },
      { principal: '', via: 'none', action: 'customer.view', customer_id: 'C8', status: 401, remote_addr: '127.0.0.1', route: '/v1/customers/:id' },
    ]);
    // admin actions of the tests above, through the admin API (itself audited)
    const audit = await waitFor(async () => {
      const r = await get('/v1/admin/audit?principal=operator&limit=50', OPERATOR);
      const e = r.body.entries as { action: string; status: number }[] | undefined;
      return e && e.some((x) => x.action === 'admin.audit.read') ? e : undefined;
    }, 15_000, 'admin actions in the audit');
    const actions = audit.map((e) => `${e.action} ${e.status}`);
    expect(actions).toEqual(expect.arrayContaining(['admin.keys.list 200', 'admin.keys.reload 200', 'admin.keys.reload 422']));
    const all = await queryRows<{ n: number }>(stack, "SELECT count() AS n FROM vafa.access_audit WHERE positionCaseInsensitive(concat(principal, detail, user_agent), 'secret-key') > 0");
    expect(all[0]!.n).toBe(0);
    const daily = await queryRows<{ requests: number }>(stack, "SELECT requests FROM vafa.v_access_audit_daily WHERE principal = 'analyst-2' AND action = 'customer.view'");
    expect(daily[0]!.requests).toBeGreaterThanOrEqual(1);
  });
});
