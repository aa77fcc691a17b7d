/**
 * The built-in dashboard behind the API's auth, in headless Chromium (Debian `chromium` via playwright-core):
 * signed out, the page sends the browser to /login and no data request succeeds; a key without the read
 * scope is refused; signed in with a read key, the panels render from live data; the session cookie is
 * HttpOnly and SameSite=Strict, reads only, and ends on sign-out. The sign-ins land in the access audit.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type BrowserContext } from 'playwright-core';
import { makeTx, postJson, queryRows, startTestStack, waitFor, type TestStack } from '../support/stack.js';
import { keyFileLine } from '../../api/auth.js';
import { TEST_CHURN } from './support.js';

const ANALYST = 'analyst-browser-key-000000001';
const SWITCH = 'switch-browser-key-0000000002';
const TXS = 120;
let stack: TestStack;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'vafa-signin-'));
  const keyFile = path.join(dir, 'keys');
  writeFileSync(keyFile, `${keyFileLine('analyst', ['read'], ANALYST)}\n${keyFileLine('switch-a', ['ingest'], SWITCH)}\n`);
  stack = await startTestStack({ churn: TEST_CHURN, overrides: { apiKeyFile: keyFile, tokenKey: 'test-token-key-0123456789', shutdownMs: 3000 } });
  const txs = Array.from({ length: TXS }, (_, i) => makeTx(i));
  const r = await postJson(`${stack.apiUrl}/v1/transactions`, txs, { authorization: `Bearer ${SWITCH}` });
  expect(r.status).toBe(202);
  await waitFor(async () => (await queryRows<{ n: number }>(stack, 'SELECT count() AS n FROM vafa.scored_transactions FINAL'))[0]!.n === TXS, 30_000, 'transactions scored');
}, 60_000);
afterAll(async () => {
  await stack?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

describe('dashboard sign-in', () => {
  it('signed out: no data; signed in: the panels render; signed out again: no data', async () => {
    const profile = mkdtempSync(path.join(os.tmpdir(), 'vafa-chromium-'));
    let context: BrowserContext | undefined;
    try {
      context = await chromium.launchPersistentContext(profile, {
        executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', headless: true, viewport: { width: 1400, height: 1000 },
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      });
      const page = context.pages()[0] ?? (await context.newPage());
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      const dataStatuses: number[] = [];
      page.on('response', (r) => {
        if (new URL(r.url()).pathname.startsWith('/api/dashboard/')) dataStatuses.push(r.status());
      });
      const api = stack.apiUrl!;
      const status = (url: string, init?: { method: string; body: string }): Promise<number> => page.evaluate(
        async ([u, i]) => (await fetch(u, i ? { ...i, headers: { 'content-type': 'application/json' } } : undefined)).status, [url, init] as const);

      // Signed out: the page is the sign-in form; the data API answers 401.
      await page.goto(`${api}/`);
      expect(new URL(page.url()).pathname).toBe('/login');
      expect(await page.locator('#dashboard .panel').count()).toBe(0);
      expect(await status('/api/dashboard')).toBe(401);
      expect(await status('/api/dashboard/vafa-operations')).toBe(401);
      expect(await status('/v1/customers/C1')).toBe(401);

      // A key without the read scope is refused.
      await page.fill('#key', SWITCH);
      await page.click('#signin button[type=submit]');
      await page.waitForSelector('#signin-error');
      expect(await page.textContent('#signin-error')).toMatch(/no read scope/);
      expect((await context.cookies()).find((c) => c.name === 'vafa_session')).toBeUndefined();

      // Signed in with a read key: back on the page, the panels render from data.
      await page.fill('#key', ANALYST);
      await page.click('#signin button[type=submit]');
      await page.waitForURL(`${api}/`);
      const cookie = (await context.cookies()).find((c) => c.name === 'vafa_session')!;
      expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });
      expect(cookie.expires).toBeGreaterThan(Date.now() / 1000 + 3600);
      expect(await page.evaluate('document.cookie')).not.toContain('vafa_session');
      await page.click('#tabs button[data-uid="vafa-operations"]');
      await page.waitForFunction(`document.body.dataset.loaded === 'vafa-operations' && !document.querySelector('#dashboard .panel .empty')`, undefined, { timeout: 20_000 });
      const panels = await page.locator('#dashboard .panel').count();
      expect(panels).toBeGreaterThan(3);
      expect(await page.locator('#dashboard .panel .error').count()).toBe(0);
      const scored = await page.textContent('[data-panel="1"] .stat[data-column="events_scored"] .value');
      expect(scored).toMatch(/\d/);
      expect(await page.textContent('#who')).toBe('analyst');
      // The session reads: a customer look-up works; it cannot write.
      expect(await status('/v1/customers/C1')).toBe(200);
      expect(await status('/v1/transactions', { method: 'POST', body: JSON.stringify(makeTx(9999)) })).toBe(403);
      expect(await status('/metrics')).toBe(403);
      expect(dataStatuses.filter((s) => s === 200).length).toBeGreaterThan(0);

      // Sign out: back to the form, and the old cookie opens nothing.
      await page.click('#signout button');
      await page.waitForURL(/\/login$/);
      expect(await status('/api/dashboard')).toBe(401);
      const replay = await fetch(`${api}/api/dashboard`, { headers: { cookie: `vafa_session=${cookie.value}` } });
      expect(replay.status).toBe(401);
      expect(errors).toEqual([]);
    } finally {
      await context?.close();
      rmSync(profile, { recursive: true, force: true });
    }

    const audit = await waitFor(async () => {
      const rows = await queryRows<{ principal: string; via: string; action: string; customer_id: string }>(stack,
        "SELECT principal, via, action, customer_id FROM vafa.access_audit FINAL WHERE action IN ('auth.login', 'auth.login_failed', 'customer.view', 'auth.logout') ORDER BY at");
      return rows.some((r) => r.action === 'auth.logout') ? rows : undefined;
    }, 15_000, 'sign-ins in the audit');
    expect(audit.filter((r) => r.action !== 'customer.view' || r.via === 'session').map((r) => `${r.action} ${r.principal} ${r.via} ${r.customer_id}`)).toEqual([
      'auth.login_failed switch-a bearer ',
      'auth.login analyst session ',
      'customer.view analyst session C1',
      'auth.logout analyst session ',
    ]);
  }, 90_000);
});
