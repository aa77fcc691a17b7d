/**
 * Reasons with every score, through the real pipeline (HTTP → JetStream → scorer with the shipped ONNX model
 * → ClickHouse → API): the stored reasons of a scored transaction add up, with their bias and the rest, to
 * the log-odds of the probability the model returned; they are the path attribution of the features the
 * model saw; `GET /v1/customers/:id` returns them as `churn_reasons`, to the `read` scope only; the built-in
 * customer page draws them (headless Chromium).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type BrowserContext } from 'playwright-core';
import { keyFileLine } from '../../api/auth.js';
import { createLogger } from '../../platform/log.js';
import { loadChurnScorer, type ChurnScorerHandle } from '../../scorer/runtime/model/churn.js';
import { explain, type Explainer } from '../../training/reasons.js';
import { makeTx, postJson, queryRows, startTestStack, waitFor, type TestStack } from '../support/stack.js';

const MODEL = path.resolve(import.meta.dirname, '../../models/churn');
const ALL = 'reasons-all-scopes-key-0000001';
const SWITCH = 'reasons-ingest-only-key-000002';
const ANALYST = 'reasons-read-only-key-0000003';

interface Stored { method: string; bias: number; other: number; top: { feature: string; value: number | null; contribution: number }[] }

let stack: TestStack;
let churn: ChurnScorerHandle;
let dir: string;
const explainer = JSON.parse(readFileSync(path.join(MODEL, 'churn-gbt.explain.json'), 'utf8')) as Explainer;
const logit = (p: number): number => Math.log(p / (1 - p));
const auth = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });
/** Event times a few weeks back from today, so the tables' retention (400 days for scored rows) never drops them. */
const DAY = 86_400_000;
const BASE = Math.floor(Date.now() / DAY) * DAY - 60 * DAY;
const at = (days: number, hours = 0): string => new Date(BASE + days * DAY + hours * 3_600_000).toISOString();

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'vafa-reasons-'));
  const keyFile = path.join(dir, 'keys');
  writeFileSync(keyFile, `${keyFileLine('switch', ['ingest'], SWITCH)}\n${keyFileLine('analyst', ['read'], ANALYST)}\n`);
  churn = await loadChurnScorer(path.join(MODEL, 'manifest.json'), createLogger({ level: 'silent' }), { watchIntervalMs: 0, reasons: { minProbability: 0 } });
  stack = await startTestStack({ churn, overrides: { apiKeys: [ALL], apiKeyFile: keyFile, tokenKey: 'reasons-token-key-0123456789' } });
});
afterAll(async () => {
  await stack?.destroy();
  await churn?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('churn reasons through the pipeline', () => {
  it('stores reasons that add up to the model\'s log-odds, and the API returns them to the read scope', async () => {
    // Two customers with other histories (other features, other reasons): twelve purchases over three weeks, three cash withdrawals in a day.
    const txs = [
      ...Array.from({ length: 12 }, (_, i) => makeTx(i, 'REASON-ACTIVE', { occurred_at: at(i * 2) })),
      ...Array.from({ length: 3 }, (_, i) => makeTx(100 + i, 'REASON-QUIET', { channel: 'atm', amount_minor: 9_000_000, occurred_at: at(0, 9 + i) })),
    ];
    const posted = await postJson(`${stack.apiUrl}/v1/transactions`, txs, auth(SWITCH));
    expect(posted.status).toBe(202);

    for (const customer of ['REASON-ACTIVE', 'REASON-QUIET']) {
      const n = txs.filter((t) => t.customer_id === customer).length;
      const scored = await waitFor(async () => {
        const rows = await queryRows<{ tx_id: string; churn_probability: number; churn_reasons: string; stream_seq: number; model_version: string }>(stack,
          `SELECT tx_id, churn_probability, churn_reasons, stream_seq, model_version FROM vafa.scored_transactions FINAL WHERE customer_id = '${customer}' ORDER BY stream_seq`);
        return rows.length === n ? rows : undefined;
      }, 30_000, `${customer}'s ${n} scored rows`);
      for (const row of scored) {
        expect(row.model_version).toBe(churn.version);
        const r = JSON.parse(row.churn_reasons) as Stored;
        expect(r.method).toBe('path');
        expect(r.top).toHaveLength(3);
        // bias + the rest + the listed contributions = the log-odds of the stored (float32) probability.
        expect(r.bias + r.other + r.top.reduce((s, x) => s + x.contribution, 0)).toBeCloseTo(logit(Number(row.churn_probability)), 4);
      }
      // The customer's snapshot carries its latest score's reasons, which are the path attribution of the features it shows.
      const last = scored.at(-1)!;
      const state = await waitFor(async () => {
        const rows = await queryRows<{ version: number; churn_reasons: string; features: string }>(stack,
          `SELECT version, churn_reasons, features FROM vafa.customer_state FINAL WHERE customer_id = '${customer}'`);
        return rows[0] && Number(rows[0].version) === Number(last.stream_seq) ? rows[0] : undefined;
      }, 30_000, `${customer}'s snapshot`);
      expect(state.churn_reasons).toBe(last.churn_reasons);
      const features = JSON.parse(state.features) as Record<string, number | null>;
      const row = Float32Array.from(explainer.features, (f) => features[f] ?? NaN);
      const want = explain(explainer, row, 3, 'path');
      const got = JSON.parse(state.churn_reasons) as Stored;
      expect(got.top.map((x) => x.feature)).toEqual(want.top.map((x) => x.feature));
      got.top.forEach((x, i) => expect(x.contribution).toBeCloseTo(want.top[i]!.contribution, 5));

      // The API: churn_reasons for the read scope; no key 401, an ingest-only key 403.
      const url = `${stack.apiUrl}/v1/customers/${customer}`;
      const view = await fetch(url, { headers: auth(ANALYST) });
      expect(view.status).toBe(200);
      const body = (await view.json()) as { churn_reasons: Stored['top']; churn_probability: number };
      expect(body.churn_reasons).toEqual(got.top);
      expect(body.churn_probability).toBeCloseTo(Number(last.churn_probability), 6);
      expect((await fetch(url)).status).toBe(401);
      expect((await fetch(url, { headers: auth(SWITCH) })).status).toBe(403);
    }
    // Different histories, different leading reasons or values.
    const views = await Promise.all(['REASON-ACTIVE', 'REASON-QUIET'].map(async (c) => ((await (await fetch(`${stack.apiUrl}/v1/customers/${c}`, { headers: auth(ALL) })).json()) as { churn_reasons: unknown[] }).churn_reasons));
    expect(views[0]).not.toEqual(views[1]);
  });

  it('draws the reasons on the built-in customer page', async () => {
    const txs = Array.from({ length: 5 }, (_, i) => makeTx(200 + i, 'REASON-PAGE', { occurred_at: at(1, 10 + i) }));
    expect((await postJson(`${stack.apiUrl}/v1/transactions`, txs, auth(SWITCH))).status).toBe(202);
    const stored = await waitFor(async () => {
      const rows = await queryRows<{ churn_reasons: string; n: number }>(stack,
        `SELECT any(s.churn_reasons) AS churn_reasons, (SELECT count() FROM vafa.scored_transactions FINAL WHERE customer_id = 'REASON-PAGE') AS n
         FROM vafa.customer_state AS s FINAL WHERE customer_id = 'REASON-PAGE'`);
      return rows[0] && Number(rows[0].n) === txs.length && rows[0].churn_reasons ? (JSON.parse(rows[0].churn_reasons) as Stored) : undefined;
    }, 30_000, 'the scored customer');
    const profile = mkdtempSync(path.join(os.tmpdir(), 'vafa-reasons-chromium-'));
    let context: BrowserContext | undefined;
    try {
      context = await chromium.launchPersistentContext(profile, {
        executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', headless: true, viewport: { width: 1400, height: 1000 },
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      });
      const page = context.pages()[0] ?? (await context.newPage());
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${stack.apiUrl}/`);
      await page.fill('#key', ANALYST);
      await page.click('#signin button[type=submit]');
      await page.waitForURL(`${stack.apiUrl}/`);
      await page.goto(`${stack.apiUrl}/#customer=REASON-PAGE`);
      await page.waitForFunction(`document.body.dataset.customer === 'REASON-PAGE'`, undefined, { timeout: 20_000 });
      const drawn = await page.evaluate(`(() => {
        const o = echarts.getInstanceByDom(document.querySelector('[data-chart="reasons"]')).getOption();
        return { labels: o.yAxis[0].data, values: o.series[0].data.map((d) => d.value) };
      })()`) as { labels: string[]; values: number[] };
      // Largest on top: the chart lists them bottom-up.
      expect(drawn.labels.map((l) => l.split(' = ')[0])).toEqual(stored.top.map((r) => r.feature).reverse());
      expect(drawn.values).toEqual(stored.top.map((r) => r.contribution).reverse());
      expect(errors).toEqual([]);
      if (process.env.REASONS_SCREENSHOT) await page.screenshot({ path: process.env.REASONS_SCREENSHOT, fullPage: true });
    } finally {
      await context?.close();
      rmSync(profile, { recursive: true, force: true });
    }
  }, 60_000);
});
