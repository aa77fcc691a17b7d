// Lifecycle stages: config, transitions, dormancy by event-time timers with no event from the customer,
// win-back, closing, intensive care, batch = one event at a time, and the value estimate.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { StoredProfileV1, TransactionV1, TxMessage } from '../../contracts/events.js';
import { Engine, type Pending } from '../../scorer/core/engine.js';
import {
  LifecycleConfigError, expectedValue, parseLifecycleConfig,
} from '../../scorer/core/lifecycle/engine.js';
import { newPartitionState, type PartitionState } from '../../scorer/core/state.js';
import { DAY_MS, type Score } from '../../scorer/core/types.js';
import { OutputEmit, type Row } from '../../sinks/mapping.js';
import { defaultEngineConfig } from '../../config/policy.js';

const T0 = Date.UTC(2026, 0, 1, 9);
const HOUR = 3_600_000;
const SHIPPED = readFileSync(new URL('../../config/lifecycle.yaml', import.meta.url), 'utf8');

let txn = 0;
const txMsg = (customer: string, at: number, extra: Partial<TransactionV1> = {}): TxMessage => ({
  kind: 'transaction',
  body: { tx_id: `T${txn++}`, customer_id: customer, channel: 'pos', amount_minor: 50_000, currency: 'IRR', occurred_at: new Date(at).toISOString(), ...extra },
});
const profileMsg = (customer: string, opened: number, extra: Partial<StoredProfileV1> = {}): TxMessage => ({
  kind: 'profile', body: { customer_id: customer, opened_at: new Date(opened).toISOString(), ...extra },
});

/** Runs messages through one partition, one event at a time (or as one micro-batch), collecting every output. */
class Run {
  readonly engine: Engine;
  readonly state: PartitionState = newPartitionState(0);
  readonly transitions: Row[] = [];
  readonly customerRows = new Map<string, Row>();
  private seq = 0;

  constructor(engine = new Engine(defaultEngineConfig()), warm = true) {
    this.engine = engine;
    // The bank's traffic is already flowing when these customers' profiles arrive.
    if (warm) this.one(txMsg('BEAT', T0 - DAY_MS));
  }

  private collect(emit: OutputEmit): void {
    this.transitions.push(...(emit.rows.get('lifecycle_transitions') ?? []));
    for (const [id, row] of emit.customerRows) this.customerRows.set(id, row);
  }

  one(msg: TxMessage, score?: (p: Pending) => Score | undefined): void {
    const emit = new OutputEmit();
    const p = this.engine.apply(this.state, { seq: ++this.seq, partition: 0, msg }, emit);
    if (p) this.engine.complete(this.state, p, score?.(p), emit);
    this.collect(emit);
  }

  batch(msgs: TxMessage[], score?: (p: Pending) => Score | undefined): void {
    const emit = new OutputEmit();
    const pendings: Pending[] = [];
    for (const msg of msgs) {
      const p = this.engine.apply(this.state, { seq: ++this.seq, partition: 0, msg }, emit);
      if (p) pendings.push(p);
    }
    for (const p of pendings) this.engine.complete(this.state, p, score?.(p), emit);
    this.collect(emit);
  }

  stage(id: string): string {
    return this.state.customers[id]!.lifecycle.stage;
  }

  path(id: string): string[] {
    return this.transitions.filter((t) => t.customer_id === id).map((t) => String(t.to_stage));
  }
}

/** Daily transactions of a "heartbeat" customer that keep the partition's watermark moving. */
function heartbeat(from: number, days: number): TxMessage[] {
  return Array.from({ length: days }, (_, d) => txMsg('BEAT', from + d * DAY_MS + 12 * HOUR));
}

describe('lifecycle config', () => {
  it('the shipped config/lifecycle.yaml is the default the engine uses', () => {
    expect(defaultEngineConfig().lifecycle).toEqual(parseLifecycleConfig(SHIPPED, 'config/lifecycle.yaml'));
  });

  it('a bad value is refused with its line, column and path', () => {
    const bad = SHIPPED.replace('separation_days: 120 ', 'separation_days: "soon" ');
    const line = bad.split('\n').findIndex((l) => l.includes('"soon"')) + 1;
    try {
      parseLifecycleConfig(bad, 'lifecycle.yaml');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(LifecycleConfigError);
      const e = err as LifecycleConfigError;
      expect(e.issues[0]).toMatchObject({ line, path: 'stages.separation_days' });
      expect(e.message).toContain(`lifecycle.yaml:${line}:`);
    }
  });

  it('cross-field rules, unknown fields and YAML syntax errors name the line', () => {
    const swapped = SHIPPED.replace('separation_days: 120 ', 'separation_days: 30  ');
    expect(() => parseLifecycleConfig(swapped)).toThrow(/:\d+:\d+: stages\.separation_days: must be greater than potential_separation_days \(45\)/);
    const extra = SHIPPED.replace('  win_back_days: 90', '  win_back_days: 90\n  winback_days: 80');
    expect(() => parseLifecycleConfig(extra)).toThrow(/:\d+:\d+: stages\.winback_days: is not a known field here/);
    expect(() => parseLifecycleConfig('stages: [1, 2\n')).toThrow(LifecycleConfigError);
    const hysteresis = SHIPPED.replace('exit_probability: 0.15 ', 'exit_probability: 0.5  ');
    expect(() => parseLifecycleConfig(hysteresis)).toThrow(/exit_probability: must not exceed enter_probability/);
  });
});

describe('stages on tenure', () => {
  it('acquisition → welcome → getting acquainted → account management, one transition row per change', () => {
    const r = new Run();
    r.one(profileMsg('C1', T0));
    expect(r.stage('C1')).toBe('welcome');
    r.one(txMsg('C1', T0 + DAY_MS));
    r.one(txMsg('C1', T0 + 40 * DAY_MS));
    expect(r.stage('C1')).toBe('getting_acquainted');
    r.one(txMsg('C1', T0 + 80 * DAY_MS));
    r.one(txMsg('C1', T0 + 100 * DAY_MS));
    expect(r.path('C1')).toEqual(['welcome', 'getting_acquainted', 'account_management']);
    const welcome = r.transitions.find((t) => t.to_stage === 'getting_acquainted')!;
    expect(welcome).toMatchObject({ from_stage: 'welcome', customer_id: 'C1' });
    // The tenure milestone is reached by the timer, at the exact moment, between the events.
    expect(welcome.occurred_at).toBe(new Date(T0 + 30 * DAY_MS).toISOString());
  });

  it('a profile opened in the future is acquisition until the opening', () => {
    const r = new Run();
    r.one(profileMsg('C2', T0 + 10 * DAY_MS));
    // the profile's event time is its opening, in the future; the stage follows the watermark's timers
    r.batch(heartbeat(T0 + DAY_MS, 12));
    expect(r.path('C2')).toContain('welcome');
  });
});

describe('dormancy without events from the customer', () => {
  it('potential separation after 45 idle days and separation after 120, by timers, then win-back on return', () => {
    const r = new Run();
    r.one(profileMsg('A', T0 - 400 * DAY_MS));
    r.one(txMsg('A', T0));
    expect(r.stage('A')).toBe('account_management');
    for (const m of heartbeat(T0 + DAY_MS, 130)) r.one(m); // only BEAT transacts
    expect(r.path('A')).toEqual(['account_management', 'potential_separation', 'separation']);
    const [, potential, separation] = r.transitions.filter((t) => t.customer_id === 'A');
    expect(potential!.occurred_at).toBe(new Date(T0 + 45 * DAY_MS).toISOString());
    expect(potential!.reason).toBe('no transaction for 45 days');
    expect(potential!.source_id).toBe(`timer:lifecycle:${T0 + 45 * DAY_MS}`);
    expect(separation!.occurred_at).toBe(new Date(T0 + 120 * DAY_MS).toISOString());
    // the customer_state row follows, with the features as of the timer
    const row = r.customerRows.get('A')!;
    expect(row.lifecycle_stage).toBe('separation');
    expect(JSON.parse(String(row.features)).recency_days).toBe(120);

    r.one(txMsg('A', T0 + 131 * DAY_MS));
    expect(r.stage('A')).toBe('win_back');
    for (const d of [150, 190]) r.one(txMsg('A', T0 + d * DAY_MS));
    expect(r.stage('A')).toBe('win_back');
    r.one(txMsg('A', T0 + 230 * DAY_MS));
    expect(r.path('A').slice(-2)).toEqual(['win_back', 'account_management']);
  });

  it('a customer who returns before separation goes back to the usual stage, not win-back', () => {
    const r = new Run();
    r.one(profileMsg('A', T0 - 400 * DAY_MS));
    r.one(txMsg('A', T0));
    for (const m of heartbeat(T0 + DAY_MS, 60)) r.one(m);
    expect(r.stage('A')).toBe('potential_separation');
    r.one(txMsg('A', T0 + 61 * DAY_MS));
    expect(r.stage('A')).toBe('account_management');
  });

  it('a customer who never transacts is idle from the opening', () => {
    const r = new Run();
    r.one(profileMsg('N', T0 + HOUR));
    for (const m of heartbeat(T0 + DAY_MS, 50)) r.one(m);
    expect(r.path('N')).toEqual(['welcome', 'getting_acquainted', 'potential_separation']);
    expect(r.transitions.at(-1)!.occurred_at).toBe(new Date(T0 + HOUR + 45 * DAY_MS).toISOString());
  });

  it('a customer on the book before the data starts is idle from when the scorer learned of them, not from the opening', () => {
    const r = new Run();
    r.one(profileMsg('OLD', T0 - 3 * 365 * DAY_MS));
    expect(r.stage('OLD')).toBe('account_management');
    for (const m of heartbeat(T0, 44)) r.one(m);
    expect(r.stage('OLD')).toBe('account_management');
    for (const m of heartbeat(T0 + 44 * DAY_MS, 2)) r.one(m);
    expect(r.stage('OLD')).toBe('potential_separation');
  });

  it('closed_at separates at the closing time, by timer', () => {
    const r = new Run();
    r.one(profileMsg('A', T0 - 400 * DAY_MS));
    r.one(txMsg('A', T0));
    r.one(profileMsg('A', T0 - 400 * DAY_MS, { closed_at: new Date(T0 + 5 * DAY_MS).toISOString() }));
    for (const m of heartbeat(T0 + DAY_MS, 10)) r.one(m);
    const last = r.transitions.filter((t) => t.customer_id === 'A').at(-1)!;
    expect(last).toMatchObject({ to_stage: 'separation', occurred_at: new Date(T0 + 5 * DAY_MS).toISOString() });
    expect(String(last.reason)).toContain('account closed');
  });

  it('only one live timer per customer however many transactions', () => {
    const r = new Run();
    r.one(profileMsg('A', T0 - 400 * DAY_MS));
    for (let i = 0; i < 500; i++) r.one(txMsg('A', T0 + i * HOUR));
    expect(r.state.timers.filter((t) => t.customerId === 'A' && t.kind === 'lifecycle').length).toBeLessThanOrEqual(2);
  });
});

describe('intensive care', () => {
  it('enters at P ≥ 0.25, stays at least 30 days and while P ≥ 0.15, leaves below', () => {
    const r = new Run();
    r.one(profileMsg('A', T0 - 400 * DAY_MS));
    const steps: [number, number][] = [[0, 0.05], [1, 0.25], [2, 0.05], [35, 0.15], [40, 0.1]];
    const stages: string[] = [];
    for (const [day, p] of steps) {
      r.one(txMsg('A', T0 + day * DAY_MS), () => ({ probability: p, modelVersion: 'm1' }));
      stages.push(r.stage('A'));
    }
    expect(stages).toEqual(['account_management', 'intensive_care', 'intensive_care', 'intensive_care', 'account_management']);
    const t = r.transitions.find((x) => x.to_stage === 'intensive_care')!;
    expect(t.churn_probability).toBe(0.25);
    expect(String(t.reason)).toContain('churn probability 0.250');
  });

  it('declines and open complaints put a customer in intensive care', () => {
    const r = new Run();
    r.one(profileMsg('A', T0 - 400 * DAY_MS));
    for (let i = 0; i < 5; i++) r.one(txMsg('A', T0 + i * HOUR, { status: 'declined' }));
    expect(r.stage('A')).toBe('account_management');
    r.one(txMsg('A', T0 + 6 * HOUR, { status: 'declined' }));
    expect(r.stage('A')).toBe('intensive_care');
    expect(r.transitions.at(-1)!.reason).toBe('6 declined transactions in 30 days');
    const r2 = new Run();
    r2.one(profileMsg('B', T0 - 400 * DAY_MS));
    r2.one(txMsg('B', T0));
    r2.one({ kind: 'feedback', body: { feedback_id: 'F1', customer_id: 'B', occurred_at: new Date(T0 + HOUR).toISOString(), kind: 'complaint' } });
    expect(r2.stage('B')).toBe('intensive_care');
    r2.one({ kind: 'feedback', body: { feedback_id: 'F2', customer_id: 'B', occurred_at: new Date(T0 + 2 * HOUR).toISOString(), kind: 'resolution', resolves_feedback_id: 'F1' } });
    expect(r2.stage('B')).toBe('intensive_care'); // at least 30 days
    r2.one(txMsg('B', T0 + 31 * DAY_MS));
    expect(r2.stage('B')).toBe('account_management');
  });
});

describe('a micro-batch decides as one event at a time', () => {
  it('a dormancy timer fired inside the batch that holds the customer\'s earlier event waits for its phase 2', () => {
    const msgs: TxMessage[] = [
      profileMsg('A', T0 - 400 * DAY_MS), txMsg('A', T0), txMsg('A', T0 + 10 * DAY_MS),
      txMsg('B', T0 + 200 * DAY_MS), // fires A's timers (potential, separation) while A's events wait for phase 2
      txMsg('A', T0 + 201 * DAY_MS), // and A comes back: win-back
    ];
    const score = (p: Pending): Score => ({ probability: p.features.tx_count_30d! > 1 ? 0.05 : 0.1, modelVersion: 'm' });
    const single = new Run();
    for (const m of msgs) single.one(m, score);
    const batched = new Run();
    batched.batch(msgs, score);
    expect(batched.state.customers.A!.lifecycle.deferred).toEqual([]);
    expect(single.path('A')).toEqual(['account_management', 'potential_separation', 'separation', 'win_back']);
    expect(batched.path('A')).toEqual(single.path('A'));
    // The same rows (written in another order within the batch: ids make the writes idempotent).
    expect(batched.transitions.map((t) => t.transition_id).sort()).toEqual(single.transitions.map((t) => t.transition_id).sort());
    expect(batched.customerRows.get('A')).toEqual(single.customerRows.get('A'));
    expect(JSON.parse(JSON.stringify(batched.state.customers.A))).toEqual(JSON.parse(JSON.stringify(single.state.customers.A)));
    expect(batched.state.timers.filter((t) => t.customerId === 'A')).toEqual(single.state.timers.filter((t) => t.customerId === 'A'));
    expect(batched.state.customers.A!.lifecycle.deferred).toEqual([]);
    expect(batched.state.customers.A!.lifecycle.inflight).toBe(0);
  });
});

describe('expected lifetime value', () => {
  it('follows the documented formula', () => {
    const v = defaultEngineConfig().lifecycle.value;
    const features = { spend_90d_minor: 90_000_000, inflow_90d_minor: 300_000_000, sticky_products: 2, tenure_days: 500 };
    const m = (30_000_000 * v.spendMargin + 100_000_000 * v.inflowMargin) / v.minorPerMajor + 2 * v.productMargin;
    const q = (1 - v.establishedChurn) ** (1 / 12) / (1 + v.annualDiscount) ** (1 / 12);
    let sum = 0;
    for (let k = 1; k <= v.horizonMonths; k++) sum += q ** k;
    expect(expectedValue(features, v)).toBeCloseTo(m * sum, 6);
    // A new customer is worth less (higher first-year churn); no activity and no products is worth nothing.
    expect(expectedValue({ ...features, tenure_days: 100 }, v)).toBeLessThan(expectedValue(features, v));
    expect(expectedValue({}, v)).toBe(0);
  });

  it('customer_state carries expected_value and value_at_risk = p × value', () => {
    const r = new Run(new Engine({ ...defaultEngineConfig() }));
    r.one(profileMsg('A', T0 - 400 * DAY_MS, { products: ['bill_pay'] }));
    r.one(txMsg('A', T0, { amount_minor: 9_000_000 }), () => ({ probability: 0.2, modelVersion: 'm' }));
    const row = r.customerRows.get('A')!;
    const features = JSON.parse(String(row.features)) as Record<string, number>;
    expect(row.expected_value).toBeCloseTo(expectedValue(features, defaultEngineConfig().lifecycle.value), 9);
    expect(row.value_at_risk).toBeCloseTo(0.2 * Number(row.expected_value), 9);
    expect(Number(row.expected_value)).toBeGreaterThan(0);
  });
});
