/** The rules file: validation errors that name the line, the shipped defaults, and reloading a file. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultEngineConfig, readPolicyFile, shippedPolicy } from '../../config/policy.js';
import { parseRules, RulesError } from '../../config/schema/loyalty-rules.js';
import { RulesTimeline } from '../../config/schema/rules-timeline.js';
import { reloadRulesFile } from '../../scorer/runtime/rules-file.js';
import { Driver } from './helpers.js';

const SHIPPED = path.resolve(import.meta.dirname, '../../config/loyalty-rules.yaml');

const GOOD = `version: "g1"
bank_time_offset: "+03:30"
tiers:
  window_months: 12
  levels:
    - { id: bronze, min_points: 0, multiplier: 1, expiry_days: 365 }
rules:
  - id: pos
    when: { channels: [pos] }
    award: { per_amount: { points: 1, per_minor: 1000000 } }
`;

function issues(text: string): { line: number; path: string; message: string }[] {
  try {
    parseRules(text, 'x.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(RulesError);
    return (err as RulesError).issues.map(({ line, path: p, message }) => ({ line, path: p, message }));
  }
  throw new Error('expected the rules to be refused');
}

describe('rules file validation names the line', () => {
  it('accepts a minimal file', () => {
    expect(parseRules(GOOD).bank.map((r) => r.id)).toEqual(['pos']);
  });

  it('YAML syntax errors', () => {
    const e = issues(GOOD.replace('award: { per_amount', 'award: [ per_amount'));
    expect(e[0]).toMatchObject({ line: 10, path: '(yaml)' });
    expect(issues(`${GOOD}rules: []\n`)[0]).toMatchObject({ line: 11, path: '(yaml)', message: expect.stringMatching(/unique/i) });
  });

  it('schema errors: wrong type, unknown field, bad value, missing field', () => {
    const text = GOOD
      .replace('points: 1, per_minor', 'points: 1.5, per_minor')
      .replace('    when: { channels: [pos] }', '    when: { channels: [pos, cash] }\n    colour: red')
      .replace('window_months: 12', 'window_months: "twelve"');
    expect(issues(text)).toEqual([
      { line: 4, path: 'tiers.window_months', message: 'expected integer' },
      { line: 9, path: 'rules[0].when.channels[1]', message: 'must be one of: pos, atm, bill_pay, installment, online, fuel, transfer, deposit' },
      { line: 10, path: 'rules[0].colour', message: 'is not a known field here' },
      { line: 11, path: 'rules[0].award.per_amount.points', message: 'expected integer' },
    ]);
    expect(issues(GOOD.replace('    award: { per_amount: { points: 1, per_minor: 1000000 } }\n', ''))).toEqual([
      { line: 8, path: 'rules[0].award', message: 'is required' },
    ]);
    expect(issues(GOOD.replace('version: "g1"', 'version: 2026.1'))[0]).toMatchObject({ line: 1, path: 'version' });
  });

  it('meaning errors: references, tier order, decimals, empty awards, windows', () => {
    const text = `version: "m"
bank_time_offset: "+03:30"
tiers:
  window_months: 12
  levels:
    - { id: a, min_points: 10, multiplier: 1.00001, expiry_days: 30 }
    - { id: b, min_points: 5, multiplier: 1, expiry_days: 30 }
campaigns:
  - { id: c, from: "2026-02-01T00:00:00Z", to: "2026-01-01T00:00:00Z" }
rules:
  - id: r
    when: { mcc_sets: [nope], tiers: [z], campaign: none, amount_minor: { min: 5, max: 1 }, time_of_day: { from: "10:00", to: "10:00" } }
    award: { fixed: 0 }
  - id: r
    award: { fixed: 1 }
branches:
  "0231":
    disable: [ghost]
`;
    expect(issues(text).map((i) => `${i.line} ${i.path}: ${i.message}`)).toEqual([
      '6 tiers.levels[0].min_points: the first (lowest) tier must start at 0 points',
      '6 tiers.levels[0].multiplier: has more than 4 decimal places',
      '7 tiers.levels[1].min_points: tiers must be listed in strictly increasing min_points',
      '9 campaigns[0].to: must be after from',
      '12 rules[0].when.mcc_sets[0]: unknown MCC set "nope" (define it under mcc_sets)',
      '12 rules[0].when.tiers[0]: unknown tier "z"',
      '12 rules[0].when.campaign: unknown campaign "none" (define it under campaigns)',
      '12 rules[0].when.amount_minor.max: must be ≥ min',
      '12 rules[0].when.time_of_day.to: must differ from from (an empty window)',
      '13 rules[0].award: awards nothing: give per_amount and/or fixed',
      '14 rules[1].id: rule "r" is defined twice',
      '18 branches.0231.disable[0]: no bank-wide rule "ghost"',
    ]);
  });

  it('the error message names file, line and column', () => {
    try {
      parseRules(GOOD.replace('expiry_days: 365', 'expiry_days: 0'), 'config/loyalty-rules.yaml');
      throw new Error('not refused');
    } catch (err) {
      expect((err as Error).message).toMatch(/^config\/loyalty-rules\.yaml:6:\d+: tiers\.levels\[0\]\.expiry_days: /);
    }
  });
});

describe('shipped rules', () => {
  it('config/loyalty-rules.yaml is valid and is what the engine starts with by default', async () => {
    const shipped = await readPolicyFile('rules', SHIPPED);
    expect(defaultEngineConfig().loyalty).toBe(shippedPolicy().loyalty);
    expect(shippedPolicy().loyalty.timeline.latest.rules).toEqual(shipped);
    expect(shippedPolicy().calendar).toEqual({ offsetMin: shipped.offsetMin, weekStart: shipped.weekStart });
  });

  it('reproduce the practices: POS, online with a cap, non-branch bills and installments, early payment, fuel, tiers', async () => {
    const d = new Driver(await readPolicyFile('rules', SHIPPED), { partitions: 8 });
    d.profile({ opened_at: '2025-01-01T00:00:00Z' });
    const at = (day: number, hh = '10:00'): string => `2026-06-${String(day).padStart(2, '0')}T${hh}:00+03:30`;
    d.tx({ tx_id: 'pos', occurred_at: at(1), channel: 'pos', amount_minor: 25_000_000, mcc: '5311' });
    d.tx({ tx_id: 'fuel', occurred_at: at(2), channel: 'pos', amount_minor: 8_000_000, mcc: '5541' });
    d.tx({ tx_id: 'bill-app', occurred_at: at(3), channel: 'bill_pay', amount_minor: 4_000_000, due_date: '2026-06-10', biller_id: 'water' });
    d.tx({ tx_id: 'bill-branch', occurred_at: at(3, '11:00'), channel: 'bill_pay', amount_minor: 4_000_000, branch_id: '0231' });
    d.tx({ tx_id: 'inst', occurred_at: at(4), channel: 'installment', amount_minor: 50_000_000, due_date: '2026-06-05' });
    for (let i = 0; i < 6; i++) d.tx({ tx_id: `web${i}`, occurred_at: at(5 + i), channel: 'online', amount_minor: 400_000_000 });
    const by = (id: string): unknown[] => d.rows().filter((r) => r.source_id === id).map((r) => `${String(r.rule_id)}=${String(r.points)}`);
    expect(by('pos')).toEqual(['pos-purchase=25']);
    expect(by('fuel')).toEqual(['fuel-at-pos=24']);
    expect(by('bill-app')).toEqual(['bill-payment=12', 'early-payment=50']);
    expect(by('bill-branch')).toEqual([]); // paid at a branch: not a non-branch payment
    expect(by('inst')).toEqual(['installment-payment=30']); // 1 day early: no bonus
    // online: 300 per transaction, 1,500 a month
    expect(['web0', 'web1', 'web2', 'web3', 'web4', 'web5'].map((id) => by(id))).toEqual([
      ['online-purchase=300'], ['online-purchase=300'], ['online-purchase=300'], ['online-purchase=300'], ['online-purchase=300'], [],
    ]);
    expect(d.customer().loyalty.tier).toBe('bronze');
    expect(d.balance()).toBe(25 + 24 + 62 + 30 + 1500);
  });
});

describe('reloading the rules file', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vafa-rules-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'rules.yaml');

  it('applies a good file from the recorded position, refuses a bad one and keeps the running rules', async () => {
    fs.writeFileSync(file, GOOD);
    const timeline = RulesTimeline.of(await readPolicyFile('rules', file));
    expect(await reloadRulesFile(file, timeline, 10)).toEqual({ status: 'unchanged', version: 'g1' });

    fs.writeFileSync(file, GOOD.replace('version: "g1"', 'version: "g2"').replace('expiry_days: 365', 'expiry_days: -1'));
    const bad = await reloadRulesFile(file, timeline, 10);
    expect(bad).toMatchObject({ status: 'refused', error: expect.stringContaining(`${file}:6:`) });
    expect(timeline.entries.map((e) => e.version)).toEqual(['g1']);

    fs.writeFileSync(file, GOOD.replace('points: 1, per_minor', 'points: 2, per_minor'));
    expect(await reloadRulesFile(file, timeline, 10)).toMatchObject({ status: 'refused', error: expect.stringMatching(/already in force with other content/) });

    fs.writeFileSync(file, GOOD.replace('version: "g1"', 'version: "g2"').replace('points: 1, per_minor', 'points: 2, per_minor'));
    expect(await reloadRulesFile(file, timeline, 10)).toEqual({ status: 'applied', version: 'g2', fromSeq: 10 });
    expect(await reloadRulesFile(file, timeline, 5)).toEqual({ status: 'unchanged', version: 'g2' });
    expect(timeline.entries.map((e) => [e.version, e.fromSeq])).toEqual([['g1', 0], ['g2', 10]]);

    expect(await reloadRulesFile(path.join(dir, 'missing.yaml'), timeline, 20)).toMatchObject({ status: 'refused', error: expect.stringMatching(/ENOENT/) });
  });
});
