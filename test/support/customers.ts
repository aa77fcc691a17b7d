/** Customers as the core leaves them after a short simulated history, and damaged records of them (for the state codec's tests). */
import fc from 'fast-check';
import { expect } from 'vitest';
import type { TxMessage } from '../../contracts/events.js';
import { defaultEngineConfig } from '../../config/policy.js';
import { Engine } from '../../scorer/core/engine.js';
import { newPartitionState, type CustomerState } from '../../scorer/core/state.js';
import { Emit } from '../../scorer/core/types.js';
import { CodecError, decodeRecord, encodeRecord } from '../../scorer/runtime/store/codec.js';
import { createBank } from '../../simulator/mod.js';

/** The customers of a 40-customer, 150-day simulated bank (seed 3) after its events, each scored at 0.1. */
export function simulatedCustomers(): CustomerState[] {
  const bank = createBank({ seed: 3, customers: 40, start: new Date('2025-01-01T00:00:00Z'), days: 150 });
  const messages: TxMessage[] = [];
  for (const { cards: _cards, ...profile } of bank.profiles()) messages.push({ kind: 'profile', body: profile });
  for (const ev of bank.events()) messages.push(ev.kind === 'redemption' ? { kind: 'redemption', body: { ...ev.body, occurred_at: ev.body.occurred_at ?? '2025-01-01T00:00:00Z' } } : ev);
  const engine = new Engine(defaultEngineConfig());
  const state = newPartitionState(0);
  for (const msg of messages) {
    const emit = new Emit();
    const pending = engine.apply(state, { seq: state.seq + 1, partition: 0, msg }, emit);
    if (pending) engine.complete(state, pending, { probability: 0.1, modelVersion: 'test' }, emit);
  }
  return Object.values(state.customers);
}

/** Every truncation, and any byte flipped, of `c`'s record of codec `version` decodes or is refused with CodecError, never another error. */
export function expectRefusesDamage(c: CustomerState | undefined, version: number): void {
  const bytes = encodeRecord('customer', c, version);
  expect(bytes[0]).toBe(version);
  for (let cut = 2; cut < bytes.length; cut += Math.max(1, Math.floor(bytes.length / 300))) {
    expect(() => decodeRecord('customer', bytes.subarray(0, cut), `cut ${cut}`)).toThrow(CodecError);
  }
  fc.assert(fc.property(fc.nat({ max: bytes.length - 3 }), fc.integer({ min: 1, max: 255 }), (at, flip) => {
    const damaged = Buffer.from(bytes);
    damaged[2 + at] = damaged[2 + at]! ^ flip;
    try {
      decodeRecord('customer', damaged, 'damaged');
    } catch (err) {
      expect(err).toBeInstanceOf(CodecError);
    }
  }), { numRuns: 500 });
}
