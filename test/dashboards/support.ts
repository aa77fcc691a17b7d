/**
 * Dashboard test support: the Grafana dashboard files as the plugin sees them, the simulated data set the
 * integration test fills the embedded ClickHouse with, and the scan check.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { createBank, runFeeder, type SimEvent } from '../../simulator/mod.js';
import type { CustomerProfileV1 } from '../../contracts/events.js';
import type { ChurnScorer } from '../../scorer/runtime/worker.js';
import { dashboardRelation } from '../../sinks/clickhouse/dashboard-views.js';
import { ADMIN_DASHBOARDS, DASHBOARDS } from '../../dashboards/grafana/definitions.js';
import { expandPanelSql, type TemplateVariable, type TimeRange } from '../../dashboards/expand.js';

export const ROOT = path.resolve(import.meta.dirname, '../..');

export interface GrafanaTarget { rawSql: string; refId: string; format: number; editorType: string; datasource: { uid: string; type: string } }
export interface GrafanaPanel { id: number; type: string; title: string; targets: GrafanaTarget[]; datasource: { uid: string; type: string } }
export interface GrafanaVariable { name: string; type: string; query: string; multi: boolean; includeAll: boolean; datasource?: { uid: string } }
export interface GrafanaDashboard { uid: string; title: string; tags: string[]; panels: GrafanaPanel[]; templating: { list: GrafanaVariable[] } }

/** The provisioned dashboard files (what Grafana loads), not the definitions they are generated from. */
export function dashboardFiles(): GrafanaDashboard[] {
  return DASHBOARDS.map((d) => JSON.parse(readFileSync(path.join(ROOT, 'dashboards/grafana', `${d.uid}.json`), 'utf8')) as GrafanaDashboard);
}

/** The administrators' dashboard files (dashboards/grafana-admin/, their own Grafana folder). */
export function adminDashboardFiles(): GrafanaDashboard[] {
  return ADMIN_DASHBOARDS.map((d) => JSON.parse(readFileSync(path.join(ROOT, 'dashboards/grafana-admin', `${d.uid}.json`), 'utf8')) as GrafanaDashboard);
}

/** Scores at or above this carry reasons (like a model's `reasons.min_probability`). */
export const TEST_REASONS_FROM = 0.2;

/**
 * A deterministic stand-in for the churn model (the real one is trained elsewhere): probability rises with
 * days since the last transaction and falls with recent activity, so the dashboards see a spread of risk.
 * It explains itself like a linear model, against a typical customer (7 days since the last transaction, 6 in
 * 30 days): log-odds = 0.2 + recency_days / 12 − tx_count_30d / 6 = bias + (recency_days − 7) / 12 − (tx_count_30d − 6) / 6,
 * and a score of TEST_REASONS_FROM or more carries those two contributions as `churn_reasons` (docs/models.md).
 */
export const TEST_CHURN: ChurnScorer = {
  async scoreBatch(features) {
    return features.map((f) => {
      const recency = f.recency_days ?? 0;
      const recent = f.tx_count_30d ?? 0;
      const p = 1 / (1 + Math.exp(-(recency / 12 - recent / 6 + 0.2)));
      const probability = Math.round(Math.min(0.99, Math.max(0.01, p)) * 1000) / 1000;
      if (probability < TEST_REASONS_FROM) return { probability, modelVersion: 'dashboard-test' };
      const r6 = (x: number): number => Math.round(x * 1e6) / 1e6;
      const top = [{ feature: 'recency_days', value: r6(recency), contribution: r6((recency - 7) / 12) }, { feature: 'tx_count_30d', value: recent, contribution: r6(-(recent - 6) / 6) }]
        .filter((r) => r.contribution !== 0)
        .sort((a, b) => Math.abs(b.contribution) - Math.abs(a.contribution));
      return { probability, modelVersion: 'dashboard-test', reasons: JSON.stringify({ method: 'linear', bias: r6(0.2 + 7 / 12 - 1), other: 0, top }) };
    });
  },
};

/** Customers written straight into the snapshot with reasons known in advance (`insertReasonsFixture`). */
export const WHY = {
  known: 'fixture-why-known',
  empty: 'fixture-why-empty',
  malformed: 'fixture-why-malformed',
  /** The known customer's reasons, largest |contribution| first, as the scorer stores them. */
  knownReasons: {
    method: 'path', bias: -3.364254, other: 0.41207,
    top: [
      { feature: 'recency_days', value: 41, contribution: 1.20731 },
      { feature: 'complaints_90d', value: 2, contribution: 0.8 },
      { feature: 'tenure_days', value: 95, contribution: -0.30871 },
      { feature: 'age_years', value: null, contribution: 0.05 },
    ],
  },
  /** How the at-risk table shows them. */
  knownText: 'recency_days 41 (+1.21), complaints_90d 2 (+0.8), tenure_days 95 (-0.31), age_years missing (+0.05)',
} as const;

/**
 * Three customers at risk with the most value at risk of the bank (so the at-risk table lists them first): one
 * with known reasons, one whose score carries none (`''`), one whose stored text is not JSON. Written into
 * `customer_state` like the scorer's snapshot rows; ids start with `fixture-`, so the pipeline never writes them.
 */
export async function insertReasonsFixture(ch: ClickHouseClient, db: string, customer: { branch_id: string; segment: string }, end: Date): Promise<void> {
  const row = (id: string, p: number, reasons: string, value: number): Record<string, unknown> => ({
    customer_id: id, version: 1, updated_at: end.toISOString(), segment: customer.segment, branch_id: customer.branch_id, opened_at: null, points_balance: 0,
    tier: '', churn_probability: p, model_version: 'dashboard-test', churn_reasons: reasons, lifecycle_stage: 'intensive_care', expected_value: value,
    value_at_risk: Math.round(p * value), tx_count_30d: 0, spend_30d_minor: 0, last_tx_at: null, features: '{}', recent_offers: '[]',
  });
  await ch.insert({
    table: `${db}.customer_state`, format: 'JSONEachRow',
    values: [row(WHY.known, 0.93, JSON.stringify(WHY.knownReasons), 3e9), row(WHY.empty, 0.92, '', 2e9), row(WHY.malformed, 0.91, '{"top":[{"feature":"recency_da', 1e9)],
  });
}

/** One stored reason, as the dashboards' views read it. */
export interface StoredReason { feature: string; value: number | null; contribution: number }

/** The `top` list of a stored `churn_reasons` text, read in JavaScript (the oracle for the views); `[]` if not JSON. */
export function parseReasons(text: string): StoredReason[] {
  try {
    const top = (JSON.parse(text) as { top?: unknown }).top;
    return Array.isArray(top) ? (top as StoredReason[]).filter((r) => typeof r === 'object' && r !== null && typeof r.feature === 'string' && r.feature !== '') : [];
  } catch {
    return [];
  }
}

/**
 * Access-audit rows of two made-up principals, a minute apart up to `now`: an analyst reading three customers
 * (one of them twice) and refused once, and an operator erasing a customer from the command line.
 */
export async function insertAuditFixture(ch: ClickHouseClient, db: string, now: Date): Promise<void> {
  const at = (minutesAgo: number): string => new Date(now.getTime() - minutesAgo * 60_000).toISOString().replace('T', ' ').replace('Z', '');
  const base = { method: 'GET', remote_addr: '10.1.2.3', user_agent: 'fixture', request_id: '', detail: '' };
  const rows = [
    { ...base, at: at(6), audit_id: 'fixture-audit-1', principal: 'fixture-analyst', via: 'bearer', action: 'customer.view', customer_id: 'C-A', route: '/v1/customers/:id', status: 200 },
    { ...base, at: at(5), audit_id: 'fixture-audit-2', principal: 'fixture-analyst', via: 'bearer', action: 'customer.ledger', customer_id: 'C-A', route: '/v1/customers/:id/ledger', status: 200 },
    { ...base, at: at(4), audit_id: 'fixture-audit-3', principal: 'fixture-analyst', via: 'bearer', action: 'customer.view', customer_id: 'C-B', route: '/v1/customers/:id', status: 200 },
    { ...base, at: at(3), audit_id: 'fixture-audit-4', principal: 'fixture-analyst', via: 'bearer', action: 'customer.view', customer_id: 'C-C', route: '/v1/customers/:id', status: 403 },
    { ...base, at: at(2), audit_id: 'fixture-audit-5', principal: 'cli:fixture-ops', via: 'cli', action: 'admin.erase', customer_id: 'erasure-fixture', method: 'CLI', route: 'vafa erase', status: 200, detail: 'reference FIX-1' },
  ];
  await ch.insert({ table: `${db}.access_audit`, values: rows, format: 'JSONEachRow' });
}

export const SIM_START = new Date('2026-03-01T00:00:00Z');
export const SIM_DAYS = 75;
export const SIM_CUSTOMERS = 45;

/**
 * Profiles of the simulated bank with opening dates of long-standing customers moved to at most two years
 * before the simulation: the first lifecycle rows are written at the opening date, and the contract tables
 * are partitioned by month, so a decade of openings in one insert would cross ClickHouse's limit of 100
 * partitions per insert block.
 */
export function simulatedBank(): { profiles: () => CustomerProfileV1[]; events: (filter?: (e: SimEvent) => boolean) => Iterable<SimEvent>; end: Date } {
  // Seed 24: like seed 11 under simulator version 1, a bank with a handful of customers quiet at the end (5 with
  // < 6 transactions in their last 30 days), which the at-risk panels need; seed 11 has 1 since version 2.
  const bank = createBank({ seed: 24, customers: SIM_CUSTOMERS, start: SIM_START, days: SIM_DAYS });
  const floor = SIM_START.getTime() - 700 * 86_400_000;
  return {
    end: bank.options.end,
    profiles: () => bank.profiles().map((p) => (Date.parse(p.opened_at) < floor ? { ...p, opened_at: new Date(floor + (Date.parse(p.opened_at) % 86_400_000)).toISOString() } : p)),
    events: function* (filter) {
      for (const e of bank.events()) if (!filter || filter(e)) yield e;
    },
  };
}

export function eventTime(e: SimEvent): number {
  return Date.parse(e.body.occurred_at ?? '');
}

/** Feeds the profiles and the events before `until` as fast as the API takes them; returns the transactions fed. */
export async function feedHistory(target: string, until: number): Promise<number> {
  const sim = simulatedBank();
  const s = await runFeeder({ target, bank: { profiles: sim.profiles, events: () => sim.events((e) => eventTime(e) < until) }, rate: 0, batchSize: 1000, concurrency: 4 });
  if (s.failed || s.invalid) throw new Error(`feeding history: ${s.failed} failed, ${s.invalid} invalid: ${s.problems.join('; ')}`);
  let transactions = 0;
  for (const e of sim.events((x) => eventTime(x) < until)) if (e.kind === 'transaction') transactions++;
  return transactions;
}

/** Waits until every fed transaction is scored and the dashboard copies stop changing (no replay in flight). */
export async function waitForQuiet(ch: ClickHouseClient, db: string, transactions: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  let stableSince = 0;
  while (Date.now() < deadline) {
    const { data } = await runQuery(ch, `SELECT (SELECT count() FROM ${db}.dash_tx_v1 FINAL) AS scored,
      (SELECT count() FROM ${db}.dash_tx_v1) + (SELECT count() FROM ${db}.dash_ledger_v1) + (SELECT count() FROM ${db}.dash_transitions_v1) + (SELECT count() FROM ${db}.customer_state) AS physical`);
    const row = data[0] as { scored: number; physical: number };
    const now = `${row.scored}/${row.physical}`;
    if (row.scored >= transactions && now === last) {
      if (Date.now() - stableSince >= 1500) return;
    } else stableSince = Date.now();
    last = now;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the pipeline did not settle within ${timeoutMs} ms (last ${last}, want ${transactions} transactions scored)`);
}

/**
 * Offers and conversions: the offers engine does not write them yet, so the fixture inserts a few
 * campaigns straight into the contract tables (`offers`, `offer_conversions`), with holdouts, in the last
 * 30 days of the simulated span; the materialized views copy them like any insert.
 */
export async function insertCampaignFixture(ch: ClickHouseClient, db: string, customers: { customer_id: string; branch_id: string; segment: string }[], end: Date): Promise<{ offers: number; conversions: number }> {
  const campaigns = [
    { id: 'welcome-billpay', code: 'BILLPAY_BONUS', channel: 'app', cost: 12_000, rate: 0.3, holdRate: 0.12 },
    { id: 'winback-fuel', code: 'FUEL_2X', channel: 'sms', cost: 8_000, rate: 0.18, holdRate: 0.1 },
    { id: 'tier-upgrade', code: 'GOLD_TRIAL', channel: 'email', cost: 5_000, rate: 0.12, holdRate: 0.09 },
  ];
  const offers: Record<string, unknown>[] = [];
  const conversions: Record<string, unknown>[] = [];
  let seq = 1;
  const day = 86_400_000;
  customers.forEach((c, i) => {
    campaigns.forEach((k, j) => {
      if ((i + j) % 3 === 2) return;
      const created = new Date(end.getTime() - ((i * 7 + j * 3) % 28 + 1) * day - ((i * 37) % 24) * 3_600_000);
      const holdout = (i + 2 * j) % 10 === 0 ? 1 : 0;
      const id = `fixture-${k.id}-${c.customer_id}`;
      offers.push({
        offer_id: id, customer_id: c.customer_id, offer_code: k.code, campaign_id: k.id, channel: k.channel, reason: 'dashboard test fixture',
        churn_probability: 0.4, lifecycle_stage: 'account_management', tier: '', segment: c.segment, branch_id: c.branch_id, triggered_by_tx_id: '',
        created_at: created.toISOString(), expires_at: new Date(created.getTime() + 14 * day).toISOString(), holdout, expected_value: 100_000,
        cost: holdout ? 0 : k.cost, kind: 'offer', stream_seq: seq++,
      });
      const threshold = holdout ? k.holdRate : k.rate;
      if (((i * 13 + j * 29) % 100) / 100 < threshold) {
        conversions.push({
          conversion_id: `${id}:conv`, offer_id: id, customer_id: c.customer_id, campaign_id: k.id, offer_code: k.code, channel: k.channel,
          branch_id: c.branch_id, holdout, goal: 'transaction', tx_id: '', offered_at: created.toISOString(),
          converted_at: new Date(created.getTime() + 2 * day).toISOString(), value_minor: 500_000, stream_seq: seq++,
        });
      }
    });
  });
  // Decisions the consent rules held back (offers_held): every fifth customer's, for the held-back panel.
  const held = offers.filter((_, i) => i % 5 === 0).map((o, i) => ({
    offer_id: `${String(o.offer_id)}:held`, customer_id: o.customer_id, offer_code: o.offer_code, campaign_id: o.campaign_id, channel: o.channel,
    reason: i % 3 === 0 ? 'not_member' : `no_consent:${String(o.channel)}`, kind: 'offer', lifecycle_stage: o.lifecycle_stage, tier: '', segment: o.segment,
    branch_id: o.branch_id, triggered_by_tx_id: '', held_at: o.created_at, stream_seq: seq++,
  }));
  await ch.insert({ table: `${db}.offers`, values: offers, format: 'JSONEachRow' });
  await ch.insert({ table: `${db}.offer_conversions`, values: conversions, format: 'JSONEachRow' });
  await ch.insert({ table: `${db}.offers_held`, values: held, format: 'JSONEachRow' });
  return { offers: offers.length, conversions: conversions.length };
}

/**
 * Satisfaction (issue 9): feedback, survey triggers and their answers, inserted straight into the contract
 * tables (`feedback`, `offers` of kind survey, `offer_conversions` with a score) in the last 28 days of the
 * simulated span, shaped as the scorer writes them: an answer is a survey feedback naming its trigger and
 * a conversion of the trigger. Ids start with `fixture-` so they never meet rows the pipeline writes.
 */
export async function insertSatisfactionFixture(ch: ClickHouseClient, db: string, customers: { customer_id: string; branch_id: string; segment: string }[], end: Date): Promise<{ feedback: number; surveys: number; answers: number }> {
  const hour = 3_600_000;
  const day = 24 * hour;
  const stages = ['welcome', 'getting_acquainted', 'account_management', 'intensive_care', 'potential_separation'];
  const channels = ['pos', 'online', 'atm', 'bill_pay'];
  const feedback: Record<string, unknown>[] = [];
  const surveys: Record<string, unknown>[] = [];
  const answers: Record<string, unknown>[] = [];
  let seq = 1;
  const fb = (id: string, c: { customer_id: string; branch_id: string }, at: number, kind: string, extra: Record<string, unknown> = {}): void => {
    feedback.push({
      feedback_id: id, customer_id: c.customer_id, occurred_at: new Date(at).toISOString(), kind, score: null, scale: '', resolves_feedback_id: '',
      campaign_id: '', offer_id: '', branch_id: c.branch_id, channel: '', text: '', lifecycle_stage: 'account_management', stream_seq: seq++, ...extra,
    });
  };
  customers.forEach((c, i) => {
    const stage = stages[i % stages.length]!;
    // A survey per customer: the onboarding CSAT survey in the app, or the branch-visit NPS survey by SMS.
    const nps = i % 2 === 1;
    const sentAt = end.getTime() - ((i * 5) % 27 + 1) * day - ((i * 11) % 24) * hour;
    const offerId = `fixture-survey-${c.customer_id}`;
    const survey = {
      offer_id: offerId, customer_id: c.customer_id, offer_code: nps ? 'SURVEY-BRANCH-VISIT' : 'SURVEY-FIRST-MONTH',
      campaign_id: nps ? 'satisfaction-branch' : 'satisfaction-onboarding', channel: nps ? 'sms' : 'app', reason: 'dashboard test fixture',
      churn_probability: 0.3, lifecycle_stage: stage, tier: '', segment: c.segment, branch_id: c.branch_id, triggered_by_tx_id: '',
      created_at: new Date(sentAt).toISOString(), expires_at: new Date(sentAt + 14 * day).toISOString(), holdout: 0, expected_value: 0, cost: 500,
      kind: 'survey', survey_scale: nps ? 'nps10' : 'csat5', stream_seq: seq++,
    };
    surveys.push(survey);
    if (i % 5 !== 4) {
      // Four in five answer, 1 to 40 hours later.
      const answeredAt = sentAt + ((i * 7) % 40 + 1) * hour;
      const score = nps ? (i * 3) % 11 : (i * 2) % 5 + 1;
      const feedbackId = `fixture-answer-${c.customer_id}`;
      answers.push({
        conversion_id: `${offerId}:survey_answered`, offer_id: offerId, customer_id: c.customer_id, campaign_id: survey.campaign_id, offer_code: survey.offer_code,
        channel: survey.channel, branch_id: c.branch_id, holdout: 0, goal: 'survey_answered', tx_id: feedbackId, offered_at: survey.created_at,
        converted_at: new Date(answeredAt).toISOString(), value_minor: 0, stream_seq: seq++, score, scale: survey.survey_scale,
      });
      fb(feedbackId, c, answeredAt, 'survey', { score, scale: survey.survey_scale, campaign_id: survey.campaign_id, offer_id: offerId, channel: channels[i % channels.length], lifecycle_stage: stage });
    }
    // Unsolicited feedback: a CSAT score at a branch for some, complaints (most resolved) and compliments.
    const at = end.getTime() - ((i * 3) % 26 + 1) * day - ((i * 5) % 24) * hour;
    if (i % 3 === 0) fb(`fixture-csat-${c.customer_id}`, c, at, 'survey', { score: (i % 5) + 1, scale: 'csat5', channel: channels[(i + 1) % channels.length], lifecycle_stage: stage });
    if (i % 3 === 1) {
      const id = `fixture-complaint-${c.customer_id}`;
      fb(id, c, at, 'complaint', { channel: channels[i % channels.length], lifecycle_stage: stage, text: 'fixture complaint' });
      if (i % 4 !== 1) fb(`${id}:resolution`, c, at + ((i % 6) * 8 + 2) * hour, 'resolution', { resolves_feedback_id: id });
    }
    if (i % 7 === 2) fb(`fixture-compliment-${c.customer_id}`, c, at, 'compliment', { channel: 'pos', lifecycle_stage: stage });
  });
  await ch.insert({ table: `${db}.offers`, values: surveys, format: 'JSONEachRow' });
  await ch.insert({ table: `${db}.offer_conversions`, values: answers, format: 'JSONEachRow' });
  await ch.insert({ table: `${db}.feedback`, values: feedback, format: 'JSONEachRow' });
  return { feedback: feedback.length, surveys: surveys.length, answers: answers.length };
}

// --- Running panels -----------------------------------------------------------------------------------------

export interface PanelRun {
  dashboard: string;
  panel: string;
  refId: string;
  sql: string;
  rows: number;
  rowsRead: number;
  rowsReadStrict: number;
  bound: number;
}

export async function runQuery(ch: ClickHouseClient, sql: string, settings: Record<string, string | number> = {}): Promise<{ data: Record<string, unknown>[]; rowsRead: number }> {
  const rs = await ch.query({ query: sql, format: 'JSON', clickhouse_settings: { output_format_json_quote_64bit_integers: 0, ...settings } });
  const j = await rs.json<Record<string, unknown>>();
  return { data: j.data, rowsRead: Number(j.statistics?.rows_read ?? NaN) };
}

/** Every `dash_*` relation a query names, once per mention. */
export function relationsOf(sql: string): string[] {
  return [...sql.matchAll(/\b(dash_[a-z0-9_]+)\b/g)].map((m) => m[1]!);
}

/**
 * A top-N of rows without aggregation (`ORDER BY … LIMIT n` at the end, no GROUP BY): ClickHouse's lazy
 * materialization sorts on the columns it needs for that, then reads the other columns of the rows kept in a
 * second pass, over the granules that hold them (far fewer bytes and, for computed columns such as the churn
 * reasons' text, far less work: the text of 100 customers instead of every one at risk).
 */
export function isTopN(sql: string): boolean {
  return /\bORDER BY\b[^]*\bLIMIT\s+\d+\s*$/i.test(sql) && !/\bGROUP BY\b/i.test(sql);
}

/**
 * The most rows a query on `relation` must read for the range: for a time-ordered copy, per data part,
 * the part's rows in the range plus two granules of 1,024 at its edges (never more than the part holds),
 * nothing of a part wholly before the range; for the snapshot and small tables,
 * every row they hold (a snapshot panel needs every customer), twice for a top-N (`isTopN`: the second
 * pass of lazy materialization reads at most the snapshot again). The range is open at the end: the data
 * ends at `range.to`, and some panels read from `from` onwards on purpose.
 */
export async function mustRead(ch: ClickHouseClient, db: string, relation: string, range: TimeRange, topN = false): Promise<number> {
  const def = dashboardRelation(relation);
  if (!def) throw new Error(`${relation} is not a dashboard relation`);
  if (!def.timeColumn) {
    const table = def.kind === 'view' ? def.source! : def.name;
    const rows = Number((await runQuery(ch, `SELECT count() AS n FROM ${db}.${table}`)).data[0]?.n ?? 0);
    return topN ? 2 * rows : rows;
  }
  const t = def.timeColumn;
  const lo = Math.floor(range.from.getTime() / 1000);
  const parts = (await runQuery(ch, `SELECT _part, count() AS total, countIf(${t} >= toDateTime(${lo})) AS inside FROM ${db}.${relation} GROUP BY _part`)).data as { total: number; inside: number }[];
  return parts.reduce((s, p) => s + (p.inside > 0 ? Math.min(p.total, p.inside + 2 * 1024) : 0), 0);
}

export interface VariableChoice {
  /** Selected values, or 'all'. */
  [name: string]: string[] | 'all';
}

/** Loads a dashboard's variables as Grafana would: query variables run their (expanded) SQL. */
export async function loadVariables(ch: ClickHouseClient, d: GrafanaDashboard, range: TimeRange, intervalMs: number, choice: VariableChoice = {}): Promise<{ vars: TemplateVariable[]; optionRows: Record<string, number> }> {
  const vars: TemplateVariable[] = [];
  const optionRows: Record<string, number> = {};
  for (const v of d.templating.list) {
    let options: string[];
    if (v.type === 'custom') options = v.query.split(',').map((s) => s.trim());
    else {
      const sql = expandPanelSql(v.query, { range, intervalMs, variables: vars });
      const { data } = await runQuery(ch, sql);
      options = data.map((r) => String(Object.values(r)[0]));
    }
    optionRows[v.name] = options.length;
    const c = choice[v.name];
    vars.push({ name: v.name, options, current: !c || c === 'all' ? ['$__all'] : c });
  }
  return { vars, optionRows };
}
