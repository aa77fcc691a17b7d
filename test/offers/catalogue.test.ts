/** The offer catalogue as validated config: the shipped file (the engine's default), and errors that name the line. */
import { readFileSync } from 'node:fs';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultEngineConfig, readPolicyFile, reloadPolicyFile } from '../../config/policy.js';
import { emptyCatalogue, parseOffers, OffersConfigError } from '../../config/schema/offers.js';
import { Driver, iso } from './helpers.js';

const DEFAULT_OFFERS = defaultEngineConfig().offers.catalogue;

const SHIPPED = path.resolve(import.meta.dirname, '../../config/offers.yaml');

function issues(text: string): OffersConfigError['issues'] {
  try {
    parseOffers(text, 'bad.yaml');
  } catch (err) {
    if (err instanceof OffersConfigError) return err.issues;
    throw err;
  }
  throw new Error('expected the catalogue to be refused');
}

const GOOD = `version: "x1"
bank_time_offset: "+03:30"
contact_policy:
  cooldown_days: 7
campaigns:
  - { id: onb }
offers:
  - code: A
    campaign: onb
    channels: [sms]
    when:
      features: { tenure_days: { max: 90 } }
    valid_days: 7
    expected_value: 10
    goal: { id: g, kind: transaction, channels: [bill_pay] }
`;

describe('the shipped catalogue', () => {
  it('parses and is exactly the default the engine uses', async () => {
    const shipped = await readPolicyFile('offers', SHIPPED);
    expect(DEFAULT_OFFERS).toEqual(shipped);
    expect(defaultEngineConfig().offers.partitions).toBe(8);
  });

  it('covers onboarding, retention, win-back, occasions, a branch prompt, service recovery and surveys', () => {
    const byCampaign = new Map<string, string[]>();
    for (const o of DEFAULT_OFFERS.offers) byCampaign.set(o.campaign, [...(byCampaign.get(o.campaign) ?? []), o.code]);
    expect([...byCampaign.keys()].sort()).toEqual([
      'branch-prompts', 'occasions', 'onboarding', 'retention', 'satisfaction-branch', 'satisfaction-onboarding', 'service-recovery', 'winback',
    ]);
    const surveys = DEFAULT_OFFERS.offers.filter((o) => o.purpose === 'survey');
    expect(surveys.map((o) => [o.code, o.survey?.scale, o.holdoutShare, o.goal.kind])).toEqual([
      ['SURVEY-FIRST-MONTH', 'csat5', 0, 'response'], ['SURVEY-BRANCH-VISIT', 'nps10', 0, 'response'],
    ]);
    const notHeld = DEFAULT_OFFERS.offers.flatMap((o) => o.notHeld);
    expect(notHeld).toEqual(expect.arrayContaining(['bill_pay', 'online_banking', 'debit_card']));
    expect(DEFAULT_OFFERS.offers.map((o) => o.occasion?.kind).filter(Boolean).sort()).toEqual(['birthday', 'tier_upgrade']);
    expect(DEFAULT_OFFERS.offers.some((o) => o.channels.includes('branch'))).toBe(true);
    const ret = DEFAULT_OFFERS.offers.find((o) => o.campaign === 'retention')!;
    expect(ret.churn?.min).toBeGreaterThan(0);
    expect(ret.valueAtRisk?.min).toBeGreaterThan(0);
  });
});

describe('a bad catalogue', () => {
  it('is refused with the line of every problem', () => {
    const bad = GOOD.replace('tenure_days', 'tenure_dayz').replace('channels: [sms]', 'channels: [fax]').replace('campaign: onb\n', 'campaign: nope\n');
    const found = issues(bad);
    const lines = bad.split('\n');
    const lineOf = (needle: string): number => lines.findIndex((l) => l.includes(needle)) + 1;
    expect(found.find((i) => i.path === 'offers[0].channels[0]')).toMatchObject({ line: lineOf('[fax]') });
    expect(found.find((i) => i.path === 'offers[0].channels[0]')?.message).toMatch(/sms, app, email, branch/);
    // schema errors come first; the semantic checks run on a file that passes the schema
    const semantic = issues(GOOD.replace('tenure_days', 'tenure_dayz').replace('campaign: onb\n', 'campaign: nope\n'));
    expect(semantic.find((i) => i.path === 'offers[0].campaign')).toMatchObject({ line: lineOf('campaign: nope'), message: expect.stringMatching(/unknown campaign "nope"/) });
    expect(semantic.find((i) => i.path === 'offers[0].when.features.tenure_dayz')).toMatchObject({ line: lineOf('tenure_dayz'), message: expect.stringMatching(/unknown feature/) });
  });

  it('names the line of a missing field, an unknown field, a duplicate code and a YAML syntax error', () => {
    const noGoal = GOOD.replace(/ {4}goal: .*\n/, '');
    expect(issues(noGoal)).toEqual([expect.objectContaining({ path: 'offers[0].goal', message: 'is required', line: 8 })]);
    const extra = GOOD.replace('valid_days: 7', 'valid_days: 7\n    colour: red');
    expect(issues(extra)).toEqual([expect.objectContaining({ path: 'offers[0].colour', message: 'is not a known field here', line: 14 })]);
    const dup = GOOD + GOOD.slice(GOOD.indexOf('  - code: A'));
    expect(issues(dup)).toEqual([expect.objectContaining({ path: 'offers[1].code', line: 16, message: 'offer "A" is defined twice' })]);
    const syntax = issues(GOOD.replace('channels: [sms]', 'channels: [sms'));
    expect(syntax[0]).toMatchObject({ path: '(yaml)' });
    expect(syntax[0]!.line).toBeGreaterThan(0);
    expect(() => parseOffers(noGoal, 'bad.yaml')).toThrow(/^bad\.yaml:8:\d+: offers\[0\]\.goal: is required/);
  });

  it('refuses contradictions: held and not held, a branch prompt on other channels, a product goal without products', () => {
    const both = GOOD.replace("features: { tenure_days: { max: 90 } }", 'held: [bill_pay]\n      not_held: [bill_pay]');
    expect(issues(both)[0]).toMatchObject({ path: 'offers[0].when.not_held[0]' });
    expect(issues(GOOD.replace('channels: [sms]', 'channels: [branch, sms]'))[0]).toMatchObject({ path: 'offers[0].channels' });
    expect(issues(GOOD.replace('kind: transaction, channels: [bill_pay]', 'kind: product'))[0]).toMatchObject({ path: 'offers[0].goal.products' });
    expect(issues(GOOD.replace('{ max: 90 }', '{ min: 9, max: 1 }'))[0]).toMatchObject({ path: 'offers[0].when.features.tenure_days.max' });
  });

  it('leaves the running catalogue in force on reload', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vafa-offers-'));
    try {
      const file = path.join(dir, 'offers.yaml');
      writeFileSync(file, GOOD.replace('valid_days: 7', 'valid_days: -1'));
      const r = await reloadPolicyFile('offers', file);
      expect(r.status).toBe('refused');
      expect(r.status === 'refused' && r.error).toMatch(/offers\.yaml:13:\d+: offers\[0\]\.valid_days/);
      writeFileSync(file, GOOD);
      expect((await reloadPolicyFile('offers', file)).status).toBe('applied');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('an empty catalogue', () => {
  it('decides nothing', () => {
    const d = new Driver(emptyCatalogue());
    d.tx({ tx_id: 't1', occurred_at: iso(Date.UTC(2026, 0, 10, 8)) });
    expect(d.offers).toHaveLength(0);
    expect(readFileSync(SHIPPED, 'utf8')).toContain('version:');
  });
});
