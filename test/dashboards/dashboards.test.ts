/**
 * The dashboards against the real engines: a test stack (nats-server + embedded ClickHouse) fed with the
 * simulated bank through the HTTP API, every Grafana panel expanded exactly as the plugin would and run,
 * with a check on how much each one reads; then the built-in dashboard in headless Chromium while more
 * data flows in.
 */
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { queryRows, startTestStack, waitFor, type TestStack } from '../support/stack.js';
import { runFeeder } from '../../simulator/mod.js';
import { expandPanelSql, type TimeRange } from '../../dashboards/expand.js';
import {
  TEST_CHURN, dashboardFiles, eventTime, feedHistory, waitForQuiet, insertCampaignFixture, insertSatisfactionFixture, loadVariables, mustRead, relationsOf, runQuery, simulatedBank, ROOT, SIM_START, SIM_DAYS,
  type GrafanaDashboard, type PanelRun, type VariableChoice,
} from './support.js';

let stack: TestStack;
const DB = 'vafa';
const DAY = 86_400_000;
const dataEnd = SIM_START.getTime() + SIM_DAYS * DAY;
/** History fed before the checks; the browser test feeds the rest while the page is open. */
const historyEnd = dataEnd - 10 * DAY;
let testStart = 0;

beforeAll(async () => {
  testStart = Date.now();
  stack = await startTestStack({ churn: TEST_CHURN, overrides: { shutdownMs: 3000 } });
  const started = Date.now();
  const transactions = await feedHistory(stack.apiUrl!, historyEnd);
  const fed = Date.now();
  await waitForQuiet(stack.warehouse, DB, transactions, 45_000);
  if (process.env.DASH_DEBUG) console.log(`stack ${started - testStart} ms, feed ${fed - started} ms (${transactions} transactions), settle ${Date.now() - fed} ms`);
  const customers = await queryRows<{ customer_id: string; branch_id: string; segment: string }>(stack, `SELECT customer_id, branch_id, segment FROM ${DB}.dash_customers ORDER BY customer_id`);
  await insertCampaignFixture(stack.warehouse, DB, customers, new Date(historyEnd));
  await insertSatisfactionFixture(stack.warehouse, DB, customers, new Date(historyEnd));
  if (process.env.DASH_DEBUG) console.log(`beforeAll ${Date.now() - testStart} ms`);
}, 90_000);
afterAll(async () => {
  const t = Date.now();
  await stack?.destroy();
  if (process.env.DASH_DEBUG) console.log(`destroy ${Date.now() - t} ms`);
});

function rangeFor(d: GrafanaDashboard): TimeRange {
  return d.tags.includes('wall-clock')
    ? { from: new Date(testStart - 60_000), to: new Date(Date.now() + 60_000) }
    : { from: new Date(historyEnd - 30 * DAY), to: new Date(historyEnd) };
}
const intervalFor = (d: GrafanaDashboard): number => (d.tags.includes('wall-clock') ? 10_000 : 3_600_000);

async function runDashboard(d: GrafanaDashboard, choice: VariableChoice): Promise<PanelRun[]> {
  const range = rangeFor(d);
  const intervalMs = intervalFor(d);
  const { vars } = await loadVariables(stack.warehouse, d, range, intervalMs, choice);
  const runs: PanelRun[] = [];
  for (const p of d.panels) {
    for (const t of p.targets) {
      const sql = expandPanelSql(t.rawSql, { range, intervalMs, variables: vars });
      const r = await runQuery(stack.warehouse, sql).catch((err: Error) => {
        throw new Error(`${d.uid} / ${p.title} / ${t.refId}: ${err.message}\n${sql}`);
      });
      const strict = await runQuery(stack.warehouse, sql, STRICT);
      // Measured after the query: merges are stopped, so the tables can only have grown since it ran.
      let bound = 0;
      for (const rel of relationsOf(sql)) bound += await mustRead(stack.warehouse, DB, rel, range);
      runs.push({ dashboard: d.uid, panel: p.title, refId: t.refId, sql, rows: r.data.length, rowsRead: r.rowsRead, rowsReadStrict: strict.rowsRead, bound });
    }
  }
  return runs;
}

/**
 * FINAL's default layered read of intersecting part ranges (split_intersecting_parts_ranges_into_layers_final)
 * can read a row more than once; with it off, rows_read is what the indexes selected.
 */
const STRICT = { split_intersecting_parts_ranges_into_layers_final: 0 };

/** Freezes the part layout of what the panels read (inserts still land), so a bound taken after a query covers it. */
async function setMerges(what: 'STOP' | 'START'): Promise<void> {
  for (const t of ['dash_tx_v1', 'dash_ledger_v1', 'dash_transitions_v1', 'dash_offers_v1', 'dash_conversions_v1', 'dash_feedback_v1', 'dash_surveys_v1', 'dash_survey_answers_v1', 'dash_batches_v1', 'dash_dims_v1', 'customer_state']) {
    await stack.warehouse.command({ query: `SYSTEM ${what} MERGES ${DB}.${t}` });
  }
}

describe('Grafana dashboards on simulated data', () => {
  it('every panel runs with "All" selected, returns rows, and reads no more than its range needs', async () => {
    const runs: PanelRun[] = [];
    await setMerges('STOP');
    try {
      for (const d of dashboardFiles()) runs.push(...(await runDashboard(d, {})));
    } finally {
      await setMerges('START');
    }
    console.table(runs.map((r) => ({ panel: `${r.dashboard.replace('vafa-', '')}: ${r.panel}`, rows: r.rows, read: r.rowsRead, 'read (one pass)': r.rowsReadStrict, bound: r.bound })));
    for (const r of runs) {
      const what = `${r.dashboard} / ${r.panel} / ${r.refId}`;
      expect(r.rows, `${what} returns rows`).toBeGreaterThan(0);
      expect(r.rowsReadStrict, `${what}: rows selected by the indexes ≤ what the range needs`).toBeLessThanOrEqual(r.bound);
      expect(r.rowsRead, `${what}: rows read with FINAL's layered merge ≤ twice what the range needs`).toBeLessThanOrEqual(2 * r.bound);
    }
  });
});

describe('Grafana dashboards with filters selected', () => {
  it('every panel runs with concrete branch, segment, channel, campaign and instance values', async () => {
    const pick = async (sql: string): Promise<string[]> => (await queryRows<{ v: string }>(stack, sql)).map((r) => r.v);
    const branches = await pick(`SELECT branch_id AS v FROM ${DB}.dash_customers WHERE branch_id != '' GROUP BY v ORDER BY count() DESC, v LIMIT 2`);
    const segments = await pick(`SELECT segment AS v FROM ${DB}.dash_customers WHERE segment != '' GROUP BY v ORDER BY count() DESC, v LIMIT 1`);
    const campaigns = await pick(`SELECT DISTINCT campaign_id AS v FROM ${DB}.dash_offers_v1 WHERE campaign_id LIKE 'welcome%' LIMIT 1`);
    const instances = await pick(`SELECT DISTINCT instance AS v FROM ${DB}.dash_batches_v1 LIMIT 1`);
    expect(branches.length * segments.length * campaigns.length * instances.length).toBeGreaterThan(0);
    const choice: VariableChoice = { branch: branches, segment: segments, campaign: campaigns, instance: instances, delivery: ['sms', 'app'] };
    const runs: PanelRun[] = [];
    await setMerges('STOP');
    try {
      for (const d of dashboardFiles()) {
        runs.push(...(await runDashboard(d, { ...choice, channel: d.uid === 'vafa-campaigns' ? ['app', 'sms'] : ['pos', 'online', 'bill_pay'] })));
      }
    } finally {
      await setMerges('START');
    }
    for (const r of runs) {
      expect(r.sql, `${r.dashboard} / ${r.panel}: the filters are in the SQL`).not.toContain('$');
      expect(r.rowsReadStrict, `${r.dashboard} / ${r.panel}`).toBeLessThanOrEqual(r.bound);
    }
    // Filters narrow the answers: fewer customers in two branches of one segment than in the bank.
    const stat = (dash: string, runsOf: PanelRun[]): PanelRun => runsOf.find((r) => r.dashboard === dash && r.panel === 'Customers at risk')!;
    const allRuns = await runDashboard(dashboardFiles().find((d) => d.uid === 'vafa-retention')!, {});
    const [filtered, everyone] = await Promise.all([stat('vafa-retention', runs), stat('vafa-retention', allRuns)].map(async (r) => Number((await runQuery(stack.warehouse, r.sql)).data[0]?.customers)));
    expect(filtered).toBeGreaterThan(0);
    expect(filtered).toBeLessThan(everyone!);
  });

  it('reading the contract table instead of the time-ordered copy reads every row: the check has teeth', async () => {
    const d = dashboardFiles().find((x) => x.uid === 'vafa-loyalty')!;
    const panel = d.panels.find((p) => p.title === 'Points by movement')!;
    const range = rangeFor(d);
    const sql = expandPanelSql(panel.targets[0]!.rawSql, { range, intervalMs: intervalFor(d), variables: (await loadVariables(stack.warehouse, d, range, intervalFor(d))).vars });
    const onCopy = await runQuery(stack.warehouse, sql, STRICT);
    const onTable = await runQuery(stack.warehouse, sql.replace('FROM dash_ledger_v1 FINAL', 'FROM points_ledger FINAL'), STRICT);
    const need = await mustRead(stack.warehouse, DB, 'dash_ledger_v1', range);
    const [all] = await queryRows<{ n: number }>(stack, `SELECT count() AS n FROM ${DB}.points_ledger`);
    expect(onTable.data).toEqual(onCopy.data);
    expect(onCopy.rowsRead).toBeLessThanOrEqual(need);
    expect(onTable.rowsRead).toBeGreaterThan(need);
    expect(onTable.rowsRead).toBeGreaterThanOrEqual(Number(all!.n));
  });
});

describe('replays', () => {
  it('re-inserting rows (what a scorer replay does) changes no panel total', async () => {
    const d = dashboardFiles().find((x) => x.uid === 'vafa-loyalty')!;
    const range = rangeFor(d);
    const totals = async (): Promise<unknown[]> => {
      const out: unknown[] = [];
      for (const p of d.panels.filter((x) => x.type === 'stat' || x.type === 'table')) {
        out.push((await runQuery(stack.warehouse, expandPanelSql(p.targets[0]!.rawSql, { range, intervalMs: intervalFor(d), variables: (await loadVariables(stack.warehouse, d, range, intervalFor(d))).vars }))).data);
      }
      return out;
    };
    const before = await totals();
    const from = Math.floor(range.from.getTime() / 1000);
    // no background merge may collapse rows between the two counts
    await stack.warehouse.command({ query: `SYSTEM STOP MERGES ${DB}.dash_ledger_v1` });
    const [copies] = await queryRows<{ n: number }>(stack, `SELECT count() AS n FROM ${DB}.dash_ledger_v1`);
    await stack.warehouse.command({ query: `INSERT INTO ${DB}.points_ledger SELECT * FROM ${DB}.points_ledger FINAL WHERE occurred_at >= toDateTime(${from})` });
    const [after] = await queryRows<{ n: number }>(stack, `SELECT count() AS n FROM ${DB}.dash_ledger_v1`);
    await stack.warehouse.command({ query: `SYSTEM START MERGES ${DB}.dash_ledger_v1` });
    expect(Number(after!.n)).toBeGreaterThan(Number(copies!.n));
    expect(await totals()).toEqual(before);
  });
});

describe('replays of feedback and surveys', () => {
  it('re-inserting feedback, survey triggers and answers changes no satisfaction total, and the totals are the fixture\'s', async () => {
    const d = dashboardFiles().find((x) => x.uid === 'vafa-satisfaction')!;
    const range = rangeFor(d);
    const run = async (title: string): Promise<Record<string, unknown>[]> => {
      const p = d.panels.find((x) => x.title === title)!;
      const sql = expandPanelSql(p.targets[0]!.rawSql, { range, intervalMs: intervalFor(d), variables: (await loadVariables(stack.warehouse, d, range, intervalFor(d))).vars });
      return (await runQuery(stack.warehouse, sql)).data;
    };
    const totals = async (): Promise<unknown[]> => {
      const out: unknown[] = [];
      for (const p of d.panels.filter((x) => x.type === 'stat' || x.type === 'table')) out.push(await run(p.title));
      return out;
    };
    const before = await totals();
    // The survey stat counts what the contract tables hold for the range, each survey and answer once.
    const from = Math.floor(range.from.getTime() / 1000);
    const to = Math.floor(range.to.getTime() / 1000);
    const [want] = await queryRows<{ sent: number; answered: number }>(stack, `SELECT count() AS sent, countIf(responded) AS answered FROM ${DB}.v_survey_outcomes
      WHERE created_at >= toDateTime(${from}) AND created_at <= toDateTime(${to})`);
    const [surveys] = await run('Surveys in the range');
    expect(Number(want!.sent)).toBeGreaterThan(0);
    expect(surveys).toMatchObject({ sent: Number(want!.sent), answered: Number(want!.answered) });
    const tables = ['dash_feedback_v1', 'dash_surveys_v1', 'dash_survey_answers_v1'];
    for (const t of tables) await stack.warehouse.command({ query: `SYSTEM STOP MERGES ${DB}.${t}` });
    try {
      const physical = async (): Promise<number> => Number((await queryRows<{ n: number }>(stack, `SELECT (SELECT count() FROM ${DB}.dash_feedback_v1) + (SELECT count() FROM ${DB}.dash_surveys_v1) + (SELECT count() FROM ${DB}.dash_survey_answers_v1) AS n`))[0]!.n);
      const copies = await physical();
      await stack.warehouse.command({ query: `INSERT INTO ${DB}.feedback SELECT * FROM ${DB}.feedback FINAL WHERE occurred_at >= toDateTime(${from})` });
      await stack.warehouse.command({ query: `INSERT INTO ${DB}.offers SELECT * FROM ${DB}.offers FINAL WHERE created_at >= toDateTime(${from}) AND kind = 'survey'` });
      await stack.warehouse.command({ query: `INSERT INTO ${DB}.offer_conversions SELECT * FROM ${DB}.offer_conversions FINAL WHERE offered_at >= toDateTime(${from}) AND scale != ''` });
      expect(await physical()).toBeGreaterThan(copies);
      expect(await totals()).toEqual(before);
    } finally {
      for (const t of tables) await stack.warehouse.command({ query: `SYSTEM START MERGES ${DB}.${t}` });
    }
  });
});

describe('surveys on the campaigns dashboard', () => {
  it('are left out: notified and converted count offers only, never survey triggers or answers', async () => {
    const d = dashboardFiles().find((x) => x.uid === 'vafa-campaigns')!;
    const range = rangeFor(d);
    const { vars } = await loadVariables(stack.warehouse, d, range, intervalFor(d));
    const run = async (title: string): Promise<Record<string, unknown>[]> =>
      (await runQuery(stack.warehouse, expandPanelSql(d.panels.find((x) => x.title === title)!.targets[0]!.rawSql, { range, intervalMs: intervalFor(d), variables: vars }))).data;
    const from = Math.floor(range.from.getTime() / 1000);
    const to = Math.floor(range.to.getTime() / 1000);
    const [want] = await queryRows<{ notified: number; converted: number; surveys: number }>(stack, `SELECT
      (SELECT count() FROM ${DB}.offers FINAL WHERE kind = 'offer' AND holdout = 0 AND created_at >= toDateTime(${from}) AND created_at <= toDateTime(${to})) AS notified,
      (SELECT count() FROM ${DB}.offer_conversions FINAL WHERE scale = '' AND holdout = 0 AND offered_at >= toDateTime(${from}) AND offered_at <= toDateTime(${to})) AS converted,
      (SELECT count() FROM ${DB}.offers FINAL WHERE kind = 'survey' AND created_at >= toDateTime(${from}) AND created_at <= toDateTime(${to})) AS surveys`);
    expect(Number(want!.surveys)).toBeGreaterThan(0);
    const [totals] = await run('Campaign totals');
    expect(totals).toMatchObject({ notified: Number(want!.notified), converted: Number(want!.converted) });
    const series = await run('Notified and converted over time');
    expect(series.reduce((n, r) => n + Number(r.converted), 0)).toBe(Number(want!.converted));
    expect((await run('Campaign results')).map((r) => r.campaign)).not.toContain('satisfaction-branch');
  });
});

describe('built-in dashboard', () => {
  it('serves the page, ECharts from node_modules, and panel data as JSON', async () => {
    const api = stack.apiUrl!;
    const page = await fetch(`${api}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('/vendor/echarts.min.js');
    const lib = await fetch(`${api}/vendor/echarts.min.js`);
    expect(lib.status).toBe(200);
    expect((await lib.text()).length).toBeGreaterThan(500_000);
    const meta = (await (await fetch(`${api}/api/dashboard`)).json()) as { dashboards: { uid: string; panels: unknown[] }[] };
    expect(meta.dashboards.map((d) => d.uid)).toEqual(['vafa-retention', 'vafa-loyalty', 'vafa-campaigns', 'vafa-satisfaction', 'vafa-operations']);
    for (const d of meta.dashboards) {
      const r = await fetch(`${api}/api/dashboard/${d.uid}`);
      expect(r.status).toBe(200);
      const body = (await r.json()) as { panels: { id: number; error?: string; frames: { rows: unknown[] }[] }[] };
      expect(body.panels).toHaveLength(d.panels.length);
      for (const p of body.panels) {
        expect(p.error, `${d.uid} panel ${p.id}`).toBeUndefined();
        expect(p.frames.some((f) => f.rows.length > 0), `${d.uid} panel ${p.id} has rows`).toBe(true);
      }
    }
    const vars = (await (await fetch(`${api}/api/dashboard/vafa-retention/variables`)).json()) as { variables: { name: string; options: string[] }[] };
    expect(vars.variables.find((v) => v.name === 'branch')!.options.length).toBeGreaterThan(1);
    const bad = await fetch(`${api}/api/dashboard/vafa-retention?branch=${encodeURIComponent("x') OR 1=1 --")}`);
    expect(bad.status).toBe(400);
    expect((await fetch(`${api}/api/dashboard/vafa-retention?range=2w`)).status).toBe(400);
    expect((await fetch(`${api}/api/dashboard/nope`)).status).toBe(404);
  });

  it('draws every panel in headless Chromium while data flows in, and looks up a customer', async () => {
    // The rest of the simulated span, at a steady rate, while the page is open.
    const abort = new AbortController();
    const sim = simulatedBank();
    const feeding = runFeeder({
      target: stack.apiUrl!, bank: { profiles: () => [], events: () => sim.events((e) => eventTime(e) >= historyEnd) }, rate: 25, batchSize: 25,
      concurrency: 2, sendProfiles: false, signal: abort.signal,
    });
    const profile = mkdtempSync(path.join(os.tmpdir(), 'vafa-chromium-'));
    const shots = process.env.VAFA_SCREENSHOTS ?? path.join(ROOT, '.vafa-test', 'screenshots');
    mkdirSync(shots, { recursive: true });
    let context: BrowserContext | undefined;
    try {
      context = await chromium.launchPersistentContext(profile, {
        executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', headless: true, viewport: { width: 1600, height: 1200 },
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      });
      const page = context.pages()[0] ?? (await context.newPage());
      const problems: string[] = [];
      page.on('pageerror', (e) => problems.push(e.message));
      page.on('response', (r) => {
        if (r.status() >= 400) problems.push(`${r.status()} ${r.url()}`);
      });
      await page.goto(`${stack.apiUrl}/`);
      // Live first, while events arrive: the operations page refreshes by itself and its counters move.
      await page.click('#tabs button[data-uid="vafa-operations"]');
      await waitForPanels(page, 'vafa-operations');
      const loads = async (): Promise<number> => Number(await page.evaluate("window.vafaDashboard.loaded['vafa-operations']"));
      const selected = await loads();
      await page.selectOption('#range', '5m');
      await page.waitForFunction(`window.vafaDashboard.loaded['vafa-operations'] > ${selected}`, undefined, { timeout: 10_000 });
      const events = async (): Promise<string> => (await page.textContent('[data-panel="1"] .stat[data-column="events_scored"] .value')) ?? '';
      const before = await events();
      const refreshed = await loads();
      await page.waitForFunction(`window.vafaDashboard.loaded['vafa-operations'] > ${refreshed}`, undefined, { timeout: 15_000 });
      await waitFor(async () => (await events()) !== before, 15_000, 'the live counter to move');
      for (const p of await waitForPanels(page, 'vafa-operations')) expect(p.points, `operations / ${p.title} draws data`).toBeGreaterThan(0);
      await page.screenshot({ path: path.join(shots, 'vafa-operations.png'), fullPage: true });
      for (const uid of ['vafa-retention', 'vafa-loyalty', 'vafa-campaigns', 'vafa-satisfaction']) {
        await page.click(`#tabs button[data-uid="${uid}"]`);
        const drawn = await waitForPanels(page, uid);
        for (const p of drawn) expect(p.points, `${uid} / ${p.title} draws data`).toBeGreaterThan(0);
        await page.screenshot({ path: path.join(shots, `${uid}.png`), fullPage: true });
      }
      // Customer look-up from the leaderboard.
      await page.click('#tabs button[data-uid="vafa-loyalty"]');
      await waitForPanels(page, 'vafa-loyalty');
      const first = page.locator('a.customer-link').first();
      const id = (await first.textContent())!;
      await first.click();
      await page.waitForFunction(`document.body.dataset.customer === ${JSON.stringify(id)}`, undefined, { timeout: 15_000 });
      const balance = await page.textContent('[data-field="points balance"]');
      expect(balance).toMatch(/\d/);
      const gauge = Number(await page.evaluate(`echarts.getInstanceByDom(document.querySelector('[data-chart="churn"]')).getOption().series[0].data.length`));
      expect(gauge).toBe(1);
      expect(await page.locator('#customer-body tbody tr').count()).toBeGreaterThan(3);
      await page.screenshot({ path: path.join(shots, 'customer.png'), fullPage: true });
      expect(problems).toEqual([]);
      expect(statSync(path.join(shots, 'vafa-retention.png')).size).toBeGreaterThan(20_000);
    } finally {
      abort.abort();
      await feeding.catch(() => undefined);
      await context?.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });
});

interface Drawn { title: string; type: string; points: number }

/** What each panel of the open dashboard draws: series points (charts), numbers (stats) or rows (tables); -1 for an error. */
const PROBE = `[...document.querySelectorAll('#dashboard .panel')].map((panel) => {
  const title = panel.querySelector('h2').textContent;
  const type = panel.getAttribute('data-type');
  if (panel.querySelector('.error')) return { title, type, points: -1 };
  const chart = panel.querySelector('[data-chart]');
  if (chart) return { title, type, points: echarts.getInstanceByDom(chart).getOption().series.reduce((n, s) => n + (s.data ? s.data.length : 0), 0) };
  if (type === 'stat') return { title, type, points: [...panel.querySelectorAll('.stat .value')].filter((v) => /\\d/.test(v.textContent)).length };
  return { title, type, points: panel.querySelectorAll('tbody tr').length };
})`;

/** Waits until the page has loaded `uid` and no panel is still empty; returns what each one draws. */
async function waitForPanels(page: Page, uid: string): Promise<Drawn[]> {
  await page.waitForFunction(`document.body.dataset.loaded === ${JSON.stringify(uid)} && !document.querySelector('#dashboard .panel .empty')`, undefined, { timeout: 20_000 });
  return (await page.evaluate(PROBE)) as Drawn[];
}
