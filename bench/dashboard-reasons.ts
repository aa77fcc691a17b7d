/**
 * Measures what the churn-reason panels of the Retention dashboard cost, in the embedded engine (chdb):
 * `npx tsx bench/dashboard-reasons.ts [--customers 200000] [--runs 5]`.
 *
 * Fills a scratch snapshot (`customer_state`, a temporary directory, removed after) in two shapes — the
 * shipped model's (1 % of customers at risk, 5.5 % with reasons) and a worst case (every customer with 3
 * reasons, 75 % at risk) — and runs the panels as Grafana would, with the *Customers at risk* stat beside them
 * and, for the at-risk table, the same query grouped by customer (which formats the text of every customer at
 * risk instead of the 100 kept). Prints CPU time of this process per query (chdb runs in it; mean of the runs),
 * median wall time, rows and bytes read. On a loaded machine quote the CPU times and their ratios.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Session } from 'chdb';
import { createTableSql, TABLES, dashboardStatements } from '../sinks/mod.js';
import { expandPanelSql, AT_RISK_PROBABILITY, DASHBOARDS } from '../dashboards/mod.js';
import { num } from '../scorer/core/mod.js';

const MAX_CUSTOMERS = 5_000_000;
const MAX_RUNS = 100;

interface Shape { name: string; probability: string; reasons: string }

/** `n` is the row number; a third of the reasons lower the risk, as the shipped model's do. */
const REASONS = `concat('{"method":"path","bias":-3.36,"other":0.41,"top":[{"feature":"recency_days","value":', toString(number % 60),
  ',"contribution":', toString((number % 97) / 50), '},{"feature":"mix_pos","value":0.12,"contribution":0.402114},{"feature":"tenure_days","value":95,"contribution":-0.30871}]}')`;

const SHAPES: Shape[] = [
  { name: 'shipped model: 1 % at risk, 5.5 % with reasons', probability: 'multiIf(number % 1000 < 10, 0.3, number % 1000 < 55, 0.1, 0.02)', reasons: `if(number % 1000 < 55, ${REASONS}, '')` },
  { name: 'worst case: 75 % at risk, every customer with 3 reasons', probability: '(number % 100) / 100', reasons: REASONS },
];

function panelSql(title: string): string {
  const retention = DASHBOARDS.find((d) => d.uid === 'vafa-retention');
  if (!retention) throw new Error('no Retention dashboard (uid vafa-retention)');
  const panel = retention.panels.find((p) => p.title === title);
  if (!panel) throw new Error(`no Retention panel "${title}"`);
  const [sql] = panel.sql;
  if (sql === undefined) throw new Error(`the Retention panel "${title}" has no query`);
  const variables = ['branch', 'segment', 'channel'].map((name) => ({ name, current: ['$__all'], options: [] }));
  return expandPanelSql(sql, { range: { from: new Date(0), to: new Date() }, intervalMs: 3_600_000, variables });
}

const GROUPED = `SELECT customer_id AS customer, any(if(branch_id = '', '(none)', branch_id)) AS branch, any(lifecycle_stage) AS stage,
  round(any(churn_probability), 3) AS churn_risk, round(any(value_at_risk)) AS value_at_risk, any(churn_reasons_text) AS why_at_risk
FROM dash_customers
WHERE churn_probability >= ${AT_RISK_PROBABILITY}
GROUP BY customer
ORDER BY value_at_risk DESC, churn_risk DESC, customer
LIMIT 100`;

function measure(session: Session, label: string, sql: string, runs: number): void {
  const walls: number[] = [];
  let cpuMs = 0;
  let stats = { rows_read: 0, bytes_read: 0 };
  for (let i = 0; i < runs; i++) {
    const cpu = process.cpuUsage();
    const start = performance.now();
    const answer = JSON.parse(session.query(sql, 'JSON')) as { statistics: { rows_read: number; bytes_read: number } };
    walls.push(performance.now() - start);
    const used = process.cpuUsage(cpu);
    cpuMs += (used.user + used.system) / 1000;
    stats = answer.statistics;
  }
  walls.sort((a, b) => a - b);
  console.log(`  ${label.padEnd(44)} ${(cpuMs / runs).toFixed(1).padStart(7)} ms CPU  ${num(walls, Math.floor(runs / 2)).toFixed(1).padStart(7)} ms wall  `
    + `${stats.rows_read.toLocaleString('en')} rows, ${(stats.bytes_read / 1e6).toFixed(1)} MB read`);
}

function main(argv: string[]): void {
  const { values } = parseArgs({ args: argv, options: { customers: { type: 'string', default: '200000' }, runs: { type: 'string', default: '5' } } });
  const customers = Number(values.customers);
  const runs = Number(values.runs);
  if (!Number.isInteger(customers) || customers < 1 || customers > MAX_CUSTOMERS) throw new Error(`--customers: an integer from 1 to ${MAX_CUSTOMERS}`);
  if (!Number.isInteger(runs) || runs < 1 || runs > MAX_RUNS) throw new Error(`--runs: an integer from 1 to ${MAX_RUNS}`);
  console.log(`${customers.toLocaleString('en')} customers, ${runs} runs each, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} on ${os.cpus().length} cores`);
  for (const shape of SHAPES) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vafa-measure-reasons-'));
    try {
      const session = new Session(dir);
      session.query('CREATE DATABASE vafa');
      for (const t of TABLES) session.query(createTableSql(t, 'vafa'));
      for (const { sql } of dashboardStatements('vafa')) session.query(sql);
      session.query('USE vafa');
      session.query(`INSERT INTO customer_state (customer_id, version, churn_probability, value_at_risk, branch_id, segment, lifecycle_stage, churn_reasons)
SELECT concat('C', toString(number)), 1, ${shape.probability}, number % 1000, concat('BR', toString(number % 20)), 'mass', 'intensive_care', ${shape.reasons}
FROM numbers(${customers})`);
      session.query('OPTIMIZE TABLE customer_state FINAL');
      console.log(shape.name);
      measure(session, 'Customers at risk (stat)', panelSql('Customers at risk'), runs);
      measure(session, 'At-risk customers and why (top-N)', panelSql('At-risk customers and why'), runs);
      measure(session, '  the same grouped by customer', GROUPED, runs);
      measure(session, 'What drives the risk', panelSql('What drives the risk'), runs);
      session.cleanup();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) main(process.argv.slice(2));
