/**
 * A customer restored from the state store behaves exactly as the one the scorer kept in memory. The core
 * may keep derived data about a customer's state outside the state (caches keyed by its objects, never
 * stored); a restored customer is made of new objects, so it has none. This replays a simulated history
 * twice through the pure core — once straight, once with each event's customer replaced by its store round
 * trip (`decodeRecord(encodeRecord(c))`) just before the event, and every customer of the partition so every
 * 200 events — and expects the same rows, in the same order, and the same customers at the end.
 */
import { describe, expect, it } from 'vitest';
import type { TxMessage } from '../../contracts/events.js';
import { Emit, Engine, newPartitionState, sealedEarned, sealedLots, type CustomerState, type PartitionState } from '../../scorer/core/mod.js';
import { decodeRecord, encodeRecord } from '../../scorer/runtime/store/codec.js';
import { messagesOf, tableRows } from '../../sinks/mod.js';
import { createBank } from '../../simulator/mod.js';
import { defaultEngineConfig } from '../../config/mod.js';
import { loyaltyConfig, type EngineConfig } from '../../config/schema/engine.js';
import { parseRules } from '../../config/schema/loyalty-rules.js';
import { readFileSync } from 'node:fs';

/** A simulated history, with one transaction in 40 held back 25 messages (it arrives after later events: late or out of order). */
function history(): TxMessage[] {
  const bank = createBank({ seed: 11, customers: 30, start: new Date('2025-01-01T00:00:00Z'), days: 200, feedback: 1 });
  const messages: TxMessage[] = [];
  for (const { cards: _cards, ...profile } of bank.profiles()) messages.push({ kind: 'profile', body: profile });
  const held: { due: number; msg: TxMessage }[] = [];
  let n = 0;
  for (const ev of bank.events()) {
    const msg: TxMessage = ev.kind === 'redemption' ? { kind: 'redemption', body: { ...ev.body, occurred_at: ev.body.occurred_at ?? '2025-01-01T00:00:00Z' } } : ev;
    n++;
    if (msg.kind === 'transaction' && n % 40 === 0) held.push({ due: n + 25, msg });
    else messages.push(msg);
    while (held.length > 0 && (held[0]?.due ?? Infinity) <= n) messages.push(held.shift()!.msg);
  }
  for (const h of held) messages.push(h.msg);
  return messages;
}

const customerOf = (msg: TxMessage): string => msg.body.customer_id;

/**
 * The customer as a restore gives it: new objects, decoded from the record the store would hold;
 * `sealed`: its lots and earning records left encoded until the core needs them, as the scorer restores it.
 */
function restored(c: CustomerState, sealed = false): CustomerState {
  return decodeRecord<CustomerState>('customer', encodeRecord('customer', c), c.id, { sealed });
}

/**
 * The shipped rules with every horizon inside the simulated 200 days: lots expire after 45 to 90 days and a
 * reversal is accepted for 40, so expiry, the merge of lots past the window and pruning all happen.
 */
function shortHorizons(): EngineConfig {
  const shipped = readFileSync(new URL('../../config/loyalty-rules.yaml', import.meta.url), 'utf8');
  let tier = 0;
  const yaml = shipped.replace(/expiry_days: \d+/g, () => `expiry_days: ${45 + 15 * tier++}`).replace(/(reversals:\s*\n\s*window_days:) \d+/, '$1 40');
  expect(tier, 'tiers in the shipped rules').toBeGreaterThan(1);
  expect(yaml).toContain('window_days: 40');
  return { ...defaultEngineConfig(), loyalty: loyaltyConfig(parseRules(yaml, 'short-horizons.yaml'), 1) };
}

function replay(messages: readonly TxMessage[], restore: boolean, sealed = false, config: EngineConfig = defaultEngineConfig()): { rows: string[]; state: PartitionState } {
  const engine = new Engine(config);
  const state = newPartitionState(0);
  const rows: string[] = [];
  messages.forEach((msg, i) => {
    if (restore) {
      const id = customerOf(msg);
      if (Object.hasOwn(state.customers, id)) state.customers[id] = restored(state.customers[id]!, sealed);
      if (i % 200 === 0) for (const [cid, c] of Object.entries(state.customers)) state.customers[cid] = restored(c, sealed);
    }
    const emit = new Emit();
    const pending = engine.apply(state, { seq: i + 1, partition: 0, msg }, emit);
    if (pending) engine.complete(state, pending, { probability: 0.2, modelVersion: 'test' }, emit);
    for (const [table, list] of tableRows(emit)) for (const row of list) rows.push(`${table} ${JSON.stringify(row)}`);
    for (const p of messagesOf(emit)) rows.push(`publish ${JSON.stringify(p)}`);
  });
  return { rows, state };
}

/** The same rows in the same order, and the same customers at the end (as the store would hold them). */
function expectSameRun(fromStore: ReturnType<typeof replay>, kept: ReturnType<typeof replay>): void {
    expect(fromStore.rows.length).toBe(kept.rows.length);
    const firstDifference = kept.rows.findIndex((row, i) => row !== fromStore.rows[i]);
    expect(firstDifference, firstDifference >= 0 ? `row ${firstDifference}: ${kept.rows[firstDifference]} vs ${fromStore.rows[firstDifference]}` : '').toBe(-1);
    const customers = (s: PartitionState): string => JSON.stringify(Object.values(s.customers).map((c) => restored(c)).sort((a, b) => (a.id < b.id ? -1 : 1)));
    expect(customers(fromStore.state)).toBe(customers(kept.state));
}

describe('a customer restored from the store', () => {
  it('gives the same rows and ends in the same state as the one kept in memory, over a simulated history with late events', () => {
    const messages = history();
    const kept = replay(messages, false);
    const fromStore = replay(messages, true);
    expect(kept.rows.length).toBeGreaterThan(messages.length);
    expect(kept.state.stats.late, 'the history has late events').toBeGreaterThan(0);
    expectSameRun(fromStore, kept);
  }, 120_000);

  it('does so with its lots and earning records left sealed until the core needs them, and opens them only for what needs them', () => {
    const messages = history();
    const kept = replay(messages, false);
    const fromStore = replay(messages, true, true);
    expectSameRun(fromStore, kept);
    const stillSealed = Object.values(fromStore.state.customers).filter((c) => sealedLots(c.loyalty) !== undefined && sealedEarned(c.loyalty) !== undefined);
    expect(stillSealed.length, 'customers whose last events left both parts sealed').toBeGreaterThan(0);
  }, 120_000);

  it('does so sealed with lots expiring, merged past a short reversal window and pruned inside the history', () => {
    const messages = history();
    const config = shortHorizons();
    const kept = replay(messages, false, false, config);
    const fromStore = replay(messages, true, true, config);
    expect(kept.rows.filter((row) => row.includes('"kind":"expire"')).length, 'expiries in the history').toBeGreaterThan(20);
    expectSameRun(fromStore, kept);
  }, 120_000);
});
