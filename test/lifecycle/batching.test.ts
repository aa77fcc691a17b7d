/**
 * Regression: lifecycle timers that the watermark fires while an event is applied must be decided
 * before that event's own decision, in a micro-batch exactly as one event at a time (a profile opened
 * long before its first transaction, then a complaint).
 */
import { describe, expect, it } from 'vitest';
import { Engine, type Pending } from '../../scorer/core/engine.js';
import { newPartitionState } from '../../scorer/core/state.js';
import { OutputEmit } from '../../sinks/mapping.js';
import { loadSettings } from '../../config/settings.js';
import type { CoreMessage } from '../../contracts/events.js';
import { buildEngineConfig } from '../../config/policy.js';

const T0 = Date.parse('2026-03-01T08:00:00Z');
const H = 3_600_000;
const tx = (i: number, at: number): CoreMessage => ({ kind: 'transaction', body: { tx_id: `t${i}`, customer_id: 'FB', channel: 'pos', amount_minor: 2_000_000, currency: 'IRR', occurred_at: new Date(at).toISOString(), status: 'approved' } });
const MSGS: CoreMessage[] = [
  { kind: 'profile', body: { customer_id: 'FB', opened_at: new Date(T0 - 200 * 24 * H).toISOString(), products: ['debit_card'] } },
  ...Array.from({ length: 6 }, (_, i) => tx(i, T0 + i * H)),
  { kind: 'feedback', body: { feedback_id: 'f1', customer_id: 'FB', occurred_at: new Date(T0 + 7 * H).toISOString(), kind: 'complaint' } },
  ...Array.from({ length: 4 }, (_, i) => tx(6 + i, T0 + (8 + i) * H)),
];

function transitions(batch: number): string[] {
  const engine = new Engine(buildEngineConfig({ ...loadSettings({}), partitions: 1 }));
  const state = newPartitionState(0);
  const out: string[] = [];
  for (let i = 0; i < MSGS.length; i += batch) {
    const emit = new OutputEmit();
    const pending: Pending[] = [];
    MSGS.slice(i, i + batch).forEach((m, k) => {
      const p = engine.apply(state, { seq: i + k + 1, partition: 0, msg: m }, emit);
      if (p) pending.push(p);
    });
    for (const p of pending) engine.complete(state, p, { probability: 0.05, modelVersion: 'test' }, emit);
    for (const r of emit.rows.get('lifecycle_transitions') ?? []) out.push(`${String(r.from_stage)}→${String(r.to_stage)} @${String(r.occurred_at)} by ${String(r.source_id)}`);
  }
  return out;
}

describe('lifecycle decisions in micro-batches', () => {
  it('are the same for every batch size', () => {
    const one = transitions(1);
    expect(one.length).toBeGreaterThan(3);
    expect(one[one.length - 1]).toMatch(/→intensive_care .* by f1$/);
    for (const size of [2, 3, 5, 100]) expect(transitions(size)).toEqual(one);
  });
});
