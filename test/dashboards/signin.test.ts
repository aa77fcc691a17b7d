/**
 * The built-in dashboard behind the API's auth, in headless Chromium (Debian `chromium` via playwright-core):
 * signed out, the page sends the browser to /login and no data request succeeds; a key without the read
 * scope is refused; signed in with a read key, the panels render from live data; the session cookie is
 * HttpOnly and SameSite=Strict, reads only, and ends on sign-out. The sign-ins land in the access audit.
 * The access-audit dashboard: never offered nor served to a read key's session; a session of a key holding
 * `admin` gets its tab, and its panels render from the audit (admin writes stay refused to a session).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type BrowserContext } from 'playwright-core';
import { makeTx, postJson, queryRows, startTestStack, waitFor, type TestStack } from '../support/stack.js';
import { keyFileLine } from '../../api/auth.js';
import { TEST_CHURN } from './support.js';
import { ADMIN_DASHBOARDS } from '../../dashboards/grafana/definitions.js';

const ANALYST = 'analyst-browser-key-000000001';
const SWITCH = 'switch-browser-key-0000000002';
const AUDITOR = 'auditor-browser-key-000000003';
const AUDIT_UID = 'vafa-access-audit';
const TXS = 120;
let stack: TestStack;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'vafa-signin-'));
  const keyFile = path.join(dir, 'keys');
  writeFileSync(keyFile, `${keyFileLine('analyst', ['read'], ANALYST)}\n${keyFileLine('switch-a', ['ingest'], SWITCH)}\n${keyFileLine('auditor', ['read', 'admin'], AUDITOR)}\n`);
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
      // …and no access audit: no tab, not listed, its data refused.
      expect(await page.locator(`#tabs button[data-uid="${AUDIT_UID}"]`).count()).toBe(0);
      const listed = await page.evaluate(async () => ((await (await fetch('/api/dashboard')).json()) as { dashboards: { uid: string }[] }).dashboards.map((d) => d.uid));
      expect(listed).toContain('vafa-operations');
      expect(listed).not.toContain(AUDIT_UID);
      expect(await status(`/api/admin/dashboard/${AUDIT_UID}`)).toBe(403);
      expect(await status(`/api/admin/dashboard/${AUDIT_UID}/variables`)).toBe(403);
      expect(await status(`/api/dashboard/${AUDIT_UID}`)).toBe(404);

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

  it('the access-audit dashboard renders for a session of a key holding admin, which still cannot write', async () => {
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
      const api = stack.apiUrl!;
      await page.goto(`${api}/`);
      await page.fill('#key', AUDITOR);
      await page.click('#signin button[type=submit]');
      await page.waitForURL(`${api}/`);
      await page.click(`#tabs button[data-uid="${AUDIT_UID}"]`);
      await page.waitForFunction(`document.body.dataset.loaded === '${AUDIT_UID}'`, undefined, { timeout: 20_000 });
      const panels = await page.locator('#dashboard .panel').count();
      expect(panels).toBe(ADMIN_DASHBOARDS.find((d) => d.uid === AUDIT_UID)!.panels.length);
      expect(await page.locator('#dashboard .panel .error').count()).toBe(0);
      // the audit holds this very sign-in (written within a second) and the earlier test's
      await page.waitForFunction(`Number(document.querySelector('[data-panel="1"] .stat[data-column="requests"] .value')?.textContent.replace(/\\D/g, '')) > 0`, undefined, { timeout: 20_000 });
      expect(await page.textContent('[data-panel="1"] .stat[data-column="principals"] .value')).toMatch(/[1-9]/);
      const status = (url: string, method = 'GET'): Promise<number> => page.evaluate(async ([u, m]) => (await fetch(u, { method: m })).status, [url, method] as const);
      // A session reads: the admin reads pass, an admin write does not.
      expect(await status(`/api/admin/dashboard/${AUDIT_UID}`)).toBe(200);
      expect(await status('/v1/admin/audit?limit=1')).toBe(200);
      expect(await status('/v1/admin/keys/reload', 'POST')).toBe(403);
      expect(errors).toEqual([]);
    } finally {
      await context?.close();
      rmSync(profile, { recursive: true, force: true });
    }
    // reading the audit is itself audited: the auditor's reads, and the read key's refused tries
    const reads = await waitFor(async () => {
      const rows = await queryRows<{ principal: string; via: string; route: string; status: number }>(stack,
        "SELECT principal, via, route, status FROM vafa.access_audit FINAL WHERE action = 'admin.audit.read' AND route = '/api/admin/dashboard/:uid'");
      return rows.some((r) => r.principal === 'auditor') && rows;
    }, 15_000, 'the audit dashboard\'s reads in the audit');
    expect(new Set(reads.map((r) => `${r.principal} ${r.via} ${r.status}`))).toEqual(new Set(['auditor session 200', 'analyst session 403']));
  }, 90_000);
});
