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
  TEST_CHURN, TEST_REASONS_FROM, WHY, adminDashboardFiles, dashboardFiles, eventTime, feedHistory, waitForQuiet, insertAuditFixture, insertCampaignFixture, insertReasonsFixture,
  insertSatisfactionFixture, isTopN, loadVariables, mustRead, parseReasons, relationsOf, runQuery, simulatedBank, ROOT, SIM_START, SIM_DAYS,
  type GrafanaDashboard, type PanelRun, type VariableChoice,
} from './support.js';
import { AT_RISK_PROBABILITY } from '../../dashboards/grafana/definitions.js';

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
  await insertReasonsFixture(stack.warehouse, DB, customers[0]!, new Date(historyEnd));
  await insertAuditFixture(stack.warehouse, DB, new Date());
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
      for (const rel of relationsOf(sql)) bound += await mustRead(stack.warehouse, DB, rel, range, isTopN(sql));
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
  for (const t of ['dash_tx_v1', 'dash_ledger_v1', 'dash_transitions_v1', 'dash_offers_v1', 'dash_conversions_v1', 'dash_feedback_v1', 'dash_surveys_v1', 'dash_survey_answers_v1', 'dash_held_v1', 'dash_batches_v1', 'dash_dims_v1', 'customer_state']) {
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

describe('held back for consent and membership on the campaigns dashboard', () => {
  it('counts the offers offers_held holds in the range, and the views agree', async () => {
    const d = dashboardFiles().find((x) => x.uid === 'vafa-campaigns')!;
    const panel = d.panels.find((p) => p.title === 'Held back: consent and membership')!;
    const range = rangeFor(d);
    const { vars } = await loadVariables(stack.warehouse, d, range, intervalFor(d), {});
    const r = await runQuery(stack.warehouse, expandPanelSql(panel.targets[0]!.rawSql, { range, intervalMs: intervalFor(d), variables: vars }));
    const shown = r.data.reduce((n, row) => n + Number(row.held_back), 0);
    const [from, to] = [range.from, range.to].map((t) => Math.floor(t.getTime() / 1000));
    const [want] = await queryRows<{ n: number; reasons: number }>(stack, `SELECT count() AS n, uniqExact(reason) AS reasons FROM ${DB}.offers_held FINAL
      WHERE kind = 'offer' AND held_at >= toDateTime(${from}) AND held_at <= toDateTime(${to})`);
    expect(shown).toBeGreaterThan(0);
    expect(shown).toBe(Number(want!.n));
    expect(new Set(r.data.map((row) => row.reason)).size).toBe(Number(want!.reasons));
    const [views] = await queryRows<{ daily: number; campaigns: number; all: number }>(stack, `SELECT
      (SELECT sum(held_back) FROM ${DB}.v_offers_held WHERE kind = 'offer') AS daily,
      (SELECT sum(held_back) FROM ${DB}.v_offer_campaigns) AS campaigns,
      (SELECT count() FROM ${DB}.offers_held FINAL WHERE kind = 'offer') AS all`);
    expect(Number(views!.daily)).toBe(Number(views!.all));
    expect(Number(views!.campaigns)).toBe(Number(views!.all));
  });
});

describe('why at risk (churn reasons)', () => {
  const retention = (): GrafanaDashboard => dashboardFiles().find((x) => x.uid === 'vafa-retention')!;
  const run = async (title: string, choice: VariableChoice = {}): Promise<Record<string, unknown>[]> => {
    const d = retention();
    const range = rangeFor(d);
    const { vars } = await loadVariables(stack.warehouse, d, range, intervalFor(d), choice);
    const sql = expandPanelSql(d.panels.find((x) => x.title === title)!.targets[0]!.rawSql, { range, intervalMs: intervalFor(d), variables: vars });
    return (await runQuery(stack.warehouse, sql)).data;
  };
  /** The snapshot as the scorer left it, read without the views: the oracle. */
  const snapshot = async (): Promise<{ customer_id: string; churn_probability: number; churn_reasons: string }[]> =>
    queryRows(stack, `SELECT customer_id, churn_probability, churn_reasons FROM ${DB}.customer_state FINAL`);

  it('the at-risk table lists each customer at risk with the reasons of the latest score as text', async () => {
    const rows = await run('At-risk customers and why');
    const byId = new Map(rows.map((r) => [String(r.customer), r]));
    // The fixture customers hold the most value at risk: first, in that order.
    expect(rows.slice(0, 3).map((r) => r.customer)).toEqual([WHY.known, WHY.empty, WHY.malformed]);
    expect(byId.get(WHY.known)!.why_at_risk).toBe(WHY.knownText);
    expect(byId.get(WHY.empty)!.why_at_risk).toBe('');
    expect(byId.get(WHY.malformed)!.why_at_risk).toBe('');
    const stored = new Map((await snapshot()).map((c) => [c.customer_id, c]));
    const atRisk = [...stored.values()].filter((c) => c.churn_probability >= AT_RISK_PROBABILITY);
    expect(rows.length).toBe(Math.min(100, atRisk.length));
    let withReasons = 0;
    for (const r of rows) {
      const c = stored.get(String(r.customer))!;
      expect(Number(r.churn_risk), String(r.customer)).toBeGreaterThanOrEqual(AT_RISK_PROBABILITY - 0.0005);
      const want = parseReasons(c.churn_reasons);
      const text = String(r.why_at_risk);
      if (!want.length) {
        expect(text, String(r.customer)).toBe('');
        continue;
      }
      withReasons++;
      // Every stored reason, in the stored order: feature, value (2 decimals) and signed contribution.
      const shown = text.split(', ').map((part) => /^(\S+) (\S+) \(([+-]\S+)\)$/.exec(part));
      expect(shown.map((m) => m?.[1]), `${String(r.customer)}: ${text}`).toEqual(want.map((w) => w.feature));
      shown.forEach((m, i) => {
        const w = want[i]!;
        if (w.value === null) expect(m![2]).toBe('missing');
        else expect(Math.abs(Number(m![2]) - w.value)).toBeLessThanOrEqual(0.0051);
        expect(Math.abs(Number(m![3]) - w.contribution)).toBeLessThanOrEqual(0.0051);
        expect(m![3]!.startsWith('+')).toBe(w.contribution >= 0);
      });
    }
    // The stand-in model gives reasons from TEST_REASONS_FROM up, so the pipeline's customers at risk have them.
    expect(TEST_REASONS_FROM).toBeLessThan(AT_RISK_PROBABILITY);
    expect(withReasons).toBeGreaterThan(3);
  });

  it('the reasons chart counts, per feature, the customers at risk it raises the risk of, with the mean contribution', async () => {
    const rows = await run('What drives the risk');
    const want = new Map<string, { customers: number; sum: number }>();
    for (const c of await snapshot()) {
      if (c.churn_probability < AT_RISK_PROBABILITY) continue;
      for (const r of parseReasons(c.churn_reasons)) {
        if (r.contribution <= 0) continue;
        const w = want.get(r.feature) ?? { customers: 0, sum: 0 };
        want.set(r.feature, { customers: w.customers + 1, sum: w.sum + r.contribution });
      }
    }
    const got = new Map(rows.map((r) => {
      const m = /^(\S+) \(mean \+(\S+)\)$/.exec(String(r.reason));
      expect(m, String(r.reason)).not.toBeNull();
      return [m![1]!, { customers: Number(r.customers), mean: Number(r.mean_contribution), label: Number(m![2]) }] as const;
    }));
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [feature, w] of want) {
      const g = got.get(feature)!;
      expect(g.customers, feature).toBe(w.customers);
      expect(Math.abs(g.mean - w.sum / w.customers), feature).toBeLessThan(1e-4);
      expect(Math.abs(g.label - w.sum / w.customers), feature).toBeLessThanOrEqual(0.0051);
    }
    // Only the fixture's known customer has a complaint among its reasons; a reason lowering the risk is not counted.
    expect(got.get('complaints_90d')?.customers).toBe(1);
    expect(got.has('tenure_days')).toBe(false);
    if (process.env.DASH_DEBUG) console.log(rows);
    // The pipeline's customers are in it too, not only the fixture's.
    expect(got.get('tx_count_30d')?.customers ?? 0).toBeGreaterThan(3);
    expect(rows.map((r) => Number(r.customers))).toEqual([...rows.map((r) => Number(r.customers))].sort((a, b) => b - a));
  });

  it('an empty or malformed churn_reasons gives no reason rows and breaks no query; filters apply', async () => {
    const reasons = await queryRows<{ customer_id: string; n: number }>(stack, `SELECT customer_id, count() AS n FROM ${DB}.dash_customer_reasons
      WHERE customer_id IN ('${WHY.known}', '${WHY.empty}', '${WHY.malformed}') GROUP BY customer_id`);
    expect(reasons.map((r) => [r.customer_id, Number(r.n)])).toEqual([[WHY.known, 4]]);
    const ranked = await queryRows<{ reason_rank: number; feature: string; value: number | null; contribution: number }>(stack, `SELECT reason_rank, feature, value, contribution
      FROM ${DB}.dash_customer_reasons WHERE customer_id = '${WHY.known}' ORDER BY reason_rank`);
    expect(ranked.map((r) => ({ ...r, reason_rank: Number(r.reason_rank) }))).toEqual(WHY.knownReasons.top.map((t, i) => ({ reason_rank: i + 1, ...t })));
    // A filter that keeps only another branch leaves the fixture out of both panels.
    const [other] = await queryRows<{ v: string }>(stack, `SELECT branch_id AS v FROM ${DB}.dash_customers WHERE branch_id NOT IN (SELECT branch_id FROM ${DB}.dash_customers WHERE customer_id = '${WHY.known}') AND branch_id != '' LIMIT 1`);
    const filtered = await run('At-risk customers and why', { branch: [other!.v] });
    expect(filtered.map((r) => r.customer)).not.toContain(WHY.known);
    expect(filtered.every((r) => r.branch === other!.v)).toBe(true);
    expect((await run('What drives the risk', { branch: [other!.v] })).map((r) => String(r.reason))).not.toContainEqual(expect.stringMatching(/^complaints_90d/));
  });
});

describe('access-audit dashboard (administrators)', () => {
  const audit = (): GrafanaDashboard => adminDashboardFiles().find((x) => x.uid === 'vafa-access-audit')!;
  const run = async (title: string): Promise<Record<string, unknown>[]> => {
    const range = { from: new Date(Date.now() - DAY), to: new Date(Date.now() + 60_000) };
    const sql = expandPanelSql(audit().panels.find((x) => x.title === title)!.targets[0]!.rawSql, { range, intervalMs: 3_600_000, variables: [] });
    return (await runQuery(stack.warehouse, sql)).data;
  };

  it('every panel runs on the audit table and its daily view and shows the fixture\'s reads, refusals and erasure', async () => {
    for (const p of audit().panels) expect((await run(p.title)).length, p.title).toBeGreaterThan(0);
    const who = (await run('Who read customer data')).find((r) => r.who === 'fixture-analyst');
    expect(who).toMatchObject({ via: 'bearer', requests: 4, customers_read: 3, refused: 1 });
    const admin = (await run('Admin actions')).find((r) => r.principal === 'cli:fixture-ops');
    expect(admin).toMatchObject({ action: 'admin.erase', customer_id: 'erasure-fixture', via: 'cli', detail: 'reference FIX-1' });
    const refused = (await run('Refused requests')).filter((r) => r.who === 'fixture-analyst');
    expect(refused.map((r) => [r.action, r.status])).toEqual([['customer.view', 403]]);
    const perDay = await run('Requests per day by action');
    const views = perDay.filter((r) => r.action === 'customer.view').reduce((n, r) => n + Number(r.requests), 0);
    expect(views).toBeGreaterThanOrEqual(3);
    const [stat] = await run('Access in the range');
    expect(Number(stat!.customers_read)).toBeGreaterThanOrEqual(3);
    expect(Number(stat!.admin_actions)).toBeGreaterThanOrEqual(1);
  });

  it('is served by the built-in dashboard under the admin routes only (this stack has no keys: anonymous holds every scope)', async () => {
    expect((await fetch(`${stack.apiUrl!}/api/dashboard/vafa-access-audit`)).status).toBe(404);
    const meta = (await (await fetch(`${stack.apiUrl!}/api/dashboard`)).json()) as { dashboards: { uid: string; api: string; panels: unknown[] }[] };
    const listed = meta.dashboards.find((d) => d.uid === 'vafa-access-audit');
    expect(listed?.api).toBe('/api/admin/dashboard/vafa-access-audit');
    const r = await fetch(`${stack.apiUrl!}${listed!.api}`);
    expect(r.status).toBe(200);
    const body = (await r.json()) as { panels: { id: number; error?: string; frames: { rows: unknown[] }[] }[] };
    expect(body.panels).toHaveLength(listed!.panels.length);
    for (const p of body.panels) expect(p.error, `panel ${p.id}`).toBeUndefined();
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
    const meta = (await (await fetch(`${api}/api/dashboard`)).json()) as { dashboards: { uid: string; api: string; panels: unknown[] }[] };
    // the access audit comes last, for admin callers only (above)
    expect(meta.dashboards.map((d) => d.uid)).toEqual(['vafa-retention', 'vafa-loyalty', 'vafa-campaigns', 'vafa-satisfaction', 'vafa-operations', 'vafa-access-audit']);
    for (const d of meta.dashboards.filter((x) => x.api === `/api/dashboard/${x.uid}`)) {
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
  it('keeps one set of filters when a tab is chosen again, or left, before its filters arrive', async () => {
    const profile = mkdtempSync(path.join(os.tmpdir(), 'vafa-chromium-'));
    let context: BrowserContext | undefined;
    try {
      context = await chromium.launchPersistentContext(profile, {
        executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', headless: true,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      });
      const page = context.pages()[0] ?? (await context.newPage());
      // Every answer with a dashboard's filters comes late, so that the clicks below overlap their loads.
      let asked = 0;
      let answered = 0;
      await page.route('**/variables?*', async (route) => {
        asked++;
        await new Promise((resolve) => setTimeout(resolve, 400));
        await route.continue();
      });
      page.on('requestfinished', (r) => { if (r.url().includes('/variables?')) answered++; });
      page.on('requestfailed', (r) => { if (r.url().includes('/variables?')) answered++; });
      const filters = async (): Promise<string[]> => await page.$$eval('#variables select', (list) => list.map((s) => s.getAttribute('data-variable') ?? ''));
      /** Once every filters request so far is answered and the page has run what follows each answer. */
      const settled = async (): Promise<void> => {
        await waitFor(async () => asked > 0 && answered === asked, 10_000, 'every filters answer');
        await page.evaluate(() => new Promise((resolve) => setTimeout(resolve, 50)));
      };
      await page.goto(`${stack.apiUrl}/`);
      await page.waitForFunction(`document.body.dataset.loaded === 'vafa-retention'`, undefined, { timeout: 20_000 });
      await settled();
      const once = await filters();
      expect(once.length).toBeGreaterThan(0);
      expect(new Set(once).size).toBe(once.length);
      // The same tab twice, then another one, each before the previous filters arrived: the last one's, once.
      await page.click('#tabs button[data-uid="vafa-retention"]');
      await page.click('#tabs button[data-uid="vafa-retention"]');
      await page.click('#tabs button[data-uid="vafa-loyalty"]');
      const loyalty = (await (await fetch(`${stack.apiUrl}/api/dashboard/vafa-loyalty/variables`)).json()) as { variables: { name: string }[] };
      await waitFor(async () => asked >= 4, 10_000, 'four filters requests');
      await settled();
      expect(await filters()).toEqual(loyalty.variables.map((v) => v.name));
      // Left for the customer look-up before its filters arrive: none come after it.
      await page.click('#tabs button[data-uid="vafa-campaigns"]');
      await page.click('#tabs button[data-uid="customer"]');
      await waitFor(async () => asked >= 5, 10_000, 'the campaigns filters request');
      await settled();
      expect(await filters()).toEqual([]);
    } finally {
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
