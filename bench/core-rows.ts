/**
 * What the scorer core emits for a small simulated history, mapped to rows (sinks/mapping.ts), for the ClickHouse benches that need real
 * rows to insert (`insert-formats.ts`, `small-inserts.ts`).
 */
import type { TxMessage } from '../contracts/events.js';
import { Engine, newPartitionState } from '../scorer/core/mod.js';
import { OutputEmit } from '../sinks/mod.js';
import { createBank } from '../simulator/mod.js';
import { defaultEngineConfig } from '../config/mod.js';

/**
 * The core's output, message by message, for `customers` simulated customers over the last 60 days
 * (recent event times: the tables' retention (TTL) drops older rows): their profiles, then their
 * transactions, each completed with a fixed churn probability. Stop early by leaving the loop.
 */
export function* recentCoreEmits(customers: number): Generator<OutputEmit> {
  const bank = createBank({ seed: 7, customers, start: new Date(Math.floor(Date.now() / 86_400_000 - 61) * 86_400_000), days: 60 });
  const engine = new Engine(defaultEngineConfig());
  const state = newPartitionState(0);
  const messages: TxMessage[] = [];
  for (const { cards: _cards, ...profile } of bank.profiles()) messages.push({ kind: 'profile', body: profile });
  for (const ev of bank.events()) if (ev.kind === 'transaction') messages.push(ev);
  for (const msg of messages) {
    const emit = new OutputEmit();
    const pending = engine.apply(state, { seq: state.seq + 1, partition: 0, msg }, emit);
    if (pending) engine.complete(state, pending, { probability: 0.05, modelVersion: 'bench' }, emit);
    yield emit;
  }
}
