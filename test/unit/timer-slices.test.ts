/**
 * A watermark that crosses a moment many timers share (every customer's points expiring at the end of
 * the same bank day) fires them over several batches (`Engine.fireDue`, the worker's `timerSlice`), so
 * no commit has to hold every customer those timers reach. Cutting a batch there gives the same state
 * and the same rows as firing them all at once: the same ledger, transitions, scored transactions and
 * offers, and the same latest `customer_state` row per customer.
 */
import { describe, expect, it } from 'vitest';
import type { TxMessage } from '../../contracts/events.js';
import { Engine, type Pending } from '../../scorer/core/engine.js';
import { newPartitionState, type PartitionState } from '../../scorer/core/state.js';
import { OutputEmit, type Row, type TableName } from '../../sinks/mapping.js';
import { ChangeTracker } from '../../scorer/runtime/store/changes.js';
import { createBank } from '../../simulator/mod.js';
import { defaultEngineConfig } from '../../config/policy.js';

const PARTITION = 0;
const BATCH = 100;
const DAY = 86_400_000;

/** 200 simulated customers over 90 days, then one transaction two years later: every pending timer is due when it arrives. */
function traffic(seed: number): TxMessage[] {
  const bank = createBank({ seed, customers: 200, start: new Date('2025-01-01T00:00:00Z'), days: 90 });
  const out: TxMessage[] = [];
  for (const { cards: _cards, ...profile } of bank.profiles()) out.push({ kind: 'profile', body: profile });
  for (const ev of bank.events()) out.push(ev.kind === 'redemption' ? { kind: 'redemption', body: { ...ev.body, occurred_at: ev.body.occurred_at ?? '2025-01-01T00:00:00Z' } } : ev);
  const late = new Date(Date.parse('2025-01-01T00:00:00Z') + 800 * DAY).toISOString();
  out.push({ kind: 'transaction', body: { tx_id: 'storm', customer_id: 'C-late', channel: 'pos', amount_minor: 500_000, currency: 'IRR', occurred_at: late, status: 'approved' } });
  return out;
}

interface Run {
  state: PartitionState;
  rows: Map<TableName, Row[]>;
  /** Batches that ended early because their timer slice was spent. */
  cuts: number;
  /** Most timers fired by one batch. */
  mostTimers: number;
}

/** Phase 2 of a batch's pending events and its rows, as the worker does. */
function finish(engine: Engine, state: PartitionState, pendings: readonly Pending[], emit: OutputEmit, into: Map<TableName, Row[]>): void {
  for (const p of pendings) engine.complete(state, p, { probability: (p.ctx.seq % 10) / 10, modelVersion: 't' }, emit);
  for (const [table, rows] of emit.tableRows()) {
    // Appended in place: copying the rows so far at every batch made the one-event batches quadratic.
    let list = into.get(table);
    if (list === undefined) into.set(table, (list = []));
    for (const row of rows) list.push(row);
  }
}

/** Batches of `batch` events; with `slice`, a batch fires at most that many timers and ends before the event whose timers are left (the worker's rule). */
function run(msgs: readonly TxMessage[], batch: number, slice?: number): Run {
  const engine = new Engine(defaultEngineConfig());
  const state = newPartitionState(PARTITION);
  const rows = new Map<TableName, Row[]>();
  let next = 0;
  let cuts = 0;
  let mostTimers = 0;
  while (next < msgs.length) {
    const emit = new OutputEmit();
    const pendings: Pending[] = [];
    const end = Math.min(msgs.length, next + batch);
    let timers = 0;
    while (next < end) {
      const event = { seq: next + 1, partition: PARTITION, msg: msgs[next]! };
      if (slice !== undefined) {
        const room = slice - timers;
        const fired = engine.fireDue(state, event, emit, room);
        timers += fired;
        if (fired === room) {
          cuts++;
          break;
        }
      }
      const pending = engine.apply(state, event, emit);
      if (pending) pendings.push(pending);
      next++;
    }
    mostTimers = Math.max(mostTimers, timers);
    finish(engine, state, pendings, emit, rows);
  }
  return { state, rows, cuts, mostTimers };
}

/** Equal state and rows: every table's rows as a multiset, `customer_state` as the latest row per customer. */
function expectSame(run: Run, reference: Run): void {
  expect(run.state).toEqual(reference.state);
  for (const table of new Set([...reference.rows.keys(), ...run.rows.keys()])) {
    if (table === 'customer_state') continue;
    expect(sorted(run.rows.get(table)), table).toEqual(sorted(reference.rows.get(table)));
  }
  const latest = latestPerCustomer(run.rows.get('customer_state'));
  const expected = latestPerCustomer(reference.rows.get('customer_state'));
  expect([...latest.keys()].sort()).toEqual([...expected.keys()].sort());
  for (const [id, row] of expected) expect(latest.get(id), id).toBe(row);
}

const sorted = (rows: readonly Row[] = []): string[] => rows.map((r) => JSON.stringify(r)).sort();

/** The last row of each customer, in the order they were written (a ReplacingMergeTree keeps the last of equal versions). */
function latestPerCustomer(rows: readonly Row[] = []): Map<string, string> {
  const latest = new Map<string, string>();
  for (const r of rows) latest.set(String(r.customer_id), JSON.stringify(r));
  return latest;
}

describe('timers fired in slices', () => {
  const msgs = traffic(5);
  const oneAtATime = run(msgs, 1);

  it('have a storm to slice, and batches equal one event at a time', () => {
    const once = run(msgs, BATCH, 1_000_000);
    expect(once.cuts).toBe(0);
    expect(once.mostTimers).toBeGreaterThan(200);
    expect(sorted(once.rows.get('points_ledger')).some((r) => r.includes('"kind":"expire"'))).toBe(true);
    // Points expiring while the customer's earlier events of the batch wait for phase 2: their rows first.
    expectSame(once, oneAtATime);
  });

  it('name ahead the customers the next timers will read (what the worker prefetches)', () => {
    const engine = new Engine(defaultEngineConfig());
    const state = newPartitionState(PARTITION);
    const emit = new OutputEmit();
    msgs.slice(0, -1).forEach((msg, i) => engine.apply(state, { seq: i + 1, partition: PARTITION, msg }, emit));
    const storm = msgs[msgs.length - 1]!;
    expect(engine.timerCustomersDue(state, [msgs[msgs.length - 2]!], 100)).toEqual([]);
    const all = new Set(engine.timerCustomersDue(state, [storm], 1_000_000));
    const ahead = engine.timerCustomersDue(state, [storm], 150);
    expect(ahead.length).toBe(150);
    expect(ahead.filter((id) => !all.has(id))).toEqual([]);
    const tracker = new ChangeTracker(state); // notes every customer the core reads
    engine.fireDue(state, { seq: msgs.length, partition: PARTITION, msg: storm }, new OutputEmit(), Number.MAX_SAFE_INTEGER);
    // Timers re-armed while firing belong to customers already named.
    expect([...tracker.take().changed].sort()).toEqual([...all].sort());
  });

  for (const slice of [1, 7, 64]) {
    it(`give the same state and rows with at most ${slice} timer(s) a batch`, () => {
      const sliced = run(msgs, BATCH, slice);
      expect(sliced.cuts).toBeGreaterThan(200 / slice);
      expect(sliced.mostTimers).toBeLessThanOrEqual(slice);
      expectSame(sliced, oneAtATime);
    });
  }
});

describe('timers deferred behind a phase 2', () => {
  // Seed 1 has customers whose tier review (a downgrade) fires in the storm while an earlier event of theirs
  // waits for phase 2: their deferred rows carry the tier as the timer fired, not that event's.
  it('read the customer as the timer fired: a batch ends as one event at a time', () => {
    const msgs = traffic(1);
    expectSame(run(msgs, BATCH, 1_000_000), run(msgs, 1));
  });
});
