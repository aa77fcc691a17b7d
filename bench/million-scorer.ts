/**
 * The scorer side of `vafa bench --only million` (bench/million.ts), in its own process so that its RSS
 * is its own and it can be killed with SIGKILL: opens the built store, loads every partition (lazily,
 * with the cache of `--cache` customers per process split over the partitions, or whole with
 * `--cache 0`), then runs the worker's loop without NATS and ClickHouse: per partition a batch of
 * generated transactions of random customers (phase 1, then phase 2 with a constant score), committed
 * before the next. The stream is a function of (partition, seq), so a restarted process replays exactly
 * what the killed one had not committed. Prints JSON lines: `started`, `progress`, `caught_up`.
 *
 *   node --import tsx bench/million-scorer.ts --store DIR [--cache 200000] [--cache-mb 256] [--batch 1000] [--until P:SEQ,...] [--reach P:SEQ:TIMERS,...] [--from SEQ] [--load-only] [--no-prefetch] [--map-whole]
 *
 * The next partition's batch is prefetched (`LmdbStateStore.prefetch`) while one is applied and committed,
 * as the worker does; `--no-prefetch` reads each cold customer when the core reaches it. `--from SEQ`: every
 * partition's stream jumps to SEQ first (a later event time: e.g. just before an end-of-day timer storm,
 * without processing the events before it; for profiling, the state then differs from a run through them).
 * `--reach`: print a `reached` line once every partition P is one batch past SEQ, or at SEQ or later with at
 * most TIMERS − one timer slice timers due (a slice past a killed scorer stopped inside a timer storm; the
 * `pending` of a progress line gives each partition's SEQ:TIMERS). `--map-whole`: the store's file mapped whole
 * (`VAFA_STATE_MAP_CHUNKS=0`), not in chunks.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import type { TransactionV1, TxMessage } from '../contracts/events.js';
import { Engine, type Pending, newPartitionState, type PartitionState, Emit, item } from '../scorer/core/mod.js';
import { tableRows } from '../sinks/mod.js';
import { LmdbStateStore, partitionCacheBounds, type ChangeTracker } from '../scorer/runtime/store/mod.js';
import { DEFAULT_TIMER_SLICE } from '../scorer/runtime/mod.js';
import { defaultEngineConfig } from '../config/mod.js';

/** What the build left next to the store (bench/million.ts). */
export interface BuiltStore {
  customers: number;
  partitions: number;
  /** Stream position of every partition as built: generated events follow it. */
  seq: number;
  /** The partitions' largest event time as built, epoch ms: generated events are later. */
  maxEventTime: number;
  /** A simulated transaction: generated ones are copies with another customer, id and time. */
  template: TransactionV1;
  build_s: number;
  templates: number;
}

/** Event time between two generated events of a partition, ms. */
const EVENT_SPACING_MS = 2_000;

export const customerId = (index: number): string => `M${String(index).padStart(7, '0')}`;

/** The generated event at `seq` of `partition`: a transaction of a customer drawn from the partition's. */
export function generatedEvent(built: BuiltStore, partition: number, seq: number): TxMessage {
  const perPartition = Math.floor(built.customers / built.partitions);
  const draw = Math.imul(seq ^ (partition * 0x9e3779b1), 0x85ebca6b) >>> 0;
  const id = customerId(partition + built.partitions * (draw % perPartition));
  const at = new Date(built.maxEventTime + (seq - built.seq) * EVENT_SPACING_MS).toISOString();
  return { kind: 'transaction', body: { ...built.template, tx_id: `m-${partition}-${seq}`, customer_id: id, occurred_at: at } };
}

function parseUntil(text: string | undefined): Map<number, number> | undefined {
  if (!text) return undefined;
  return new Map(text.split(',').map((pair) => pair.split(':').map(Number) as [number, number]));
}

/** The process's memory as V8 and Node see it, bytes: what the parent reports beside /proc's RSS. */
export interface MemoryLine {
  heap_used: number;
  heap_total: number;
  /** Old space (long-lived objects: cached customers, timers), in use and reserved. */
  old_used: number;
  old_size: number;
  /** The young generation (semi-spaces), reserved. */
  new_size: number;
  large_object_used: number;
  /** Memory V8 knows of outside its heap (buffers: lmdb's, LZ4's). */
  external: number;
  array_buffers: number;
}

function memoryNow(): MemoryLine {
  const usage = process.memoryUsage();
  const space = (name: string): v8.HeapSpaceInfo | undefined => v8.getHeapSpaceStatistics().find((s) => s.space_name === name);
  return {
    heap_used: usage.heapUsed, heap_total: usage.heapTotal, old_used: space('old_space')?.space_used_size ?? 0, old_size: space('old_space')?.space_size ?? 0,
    new_size: space('new_space')?.space_size ?? 0, large_object_used: space('large_object_space')?.space_used_size ?? 0,
    external: usage.external, array_buffers: usage.arrayBuffers,
  };
}

/** Timers of the partition due by its watermark and not fired yet (the rest of a timer storm). */
const dueTimers = (state: PartitionState): number => {
  let due = 0;
  for (const timer of state.timers) if (timer.due <= state.watermark) due++;
  return due;
};

/** CPU time of the process so far (user and system, every thread), ms. */
const cpuMs = (): number => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

const out = (line: object): boolean => process.stdout.write(`${JSON.stringify(line)}\n`);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      store: { type: 'string' }, cache: { type: 'string', default: '200000' }, 'cache-mb': { type: 'string', default: '0' }, batch: { type: 'string', default: '1000' },
      until: { type: 'string' }, reach: { type: 'string' }, from: { type: 'string' }, seconds: { type: 'string' }, 'load-only': { type: 'boolean', default: false }, 'no-prefetch': { type: 'boolean', default: false },
      'map-whole': { type: 'boolean', default: false },
    },
  });
  if (!values.store) throw new Error('--store DIR is required');
  const built = JSON.parse(readFileSync(path.join(values.store, 'built.json'), 'utf8')) as BuiltStore;
  const cache = Number(values.cache);
  const batchSize = Number(values.batch);
  const until = parseUntil(values.until);
  const reach = values.reach?.split(',').map((triple) => triple.split(':').map(Number) as [number, number, number]);
  const prefetch = !values['no-prefetch'];
  const cacheMiB = Number(values['cache-mb']);
  const store = LmdbStateStore.open({ path: path.join(values.store, 'state'), remapChunks: !values['map-whole'], ...partitionCacheBounds(cache, cacheMiB, built.partitions) });
  const partitions: ScoredPartition[] = [];
  const loadStart = performance.now();
  for (let p = 0; p < (values['load-only'] ? 1 : built.partitions); p++) {
    const state = (await store.load(p)) ?? newPartitionState(p);
    partitions.push({ state, tracker: store.track(state) });
  }
  const from = values.from === undefined ? undefined : Number(values.from);
  if (from !== undefined) for (const { state } of partitions) state.seq = Math.max(state.seq, from - 1);
  const timers = partitions.reduce((n, { state }) => n + state.timers.length, 0);
  out({ type: 'started', load_ms: performance.now() - loadStart, since_process_start_ms: performance.now(), rss: process.memoryUsage().rss, timers, heap_limit: v8.getHeapStatistics().heap_size_limit });
  if (values['load-only']) {
    await store.close();
    return;
  }
  // As the worker bounds it, with one batch in flight (each is committed before the next).
  const timerSlice = cache > 0 ? Math.max(1, Math.min(DEFAULT_TIMER_SLICE, Math.ceil(cache / built.partitions))) : DEFAULT_TIMER_SLICE;
  const run = new MillionRun({ built, store, partitions, batchSize, until, prefetch, timerSlice });
  let lastReport = 0;
  let reached = false;
  for (;;) {
    for (let i = 0; i < partitions.length; i++) await run.step(i);
    if (reach && !reached && run.hasReached(reach)) {
      await run.settled();
      reached = true;
      out({ type: 'reached', since_process_start_ms: performance.now(), seqs: partitions.map(({ state }) => `${state.partition}:${state.seq}`).join(',') });
    }
    const caughtUp = until !== undefined && partitions.every(({ state }) => state.seq >= (until.get(state.partition) ?? 0));
    if (caughtUp || performance.now() - lastReport >= 250) {
      await run.settled(); // what the line reports is committed
      lastReport = performance.now();
      out(run.progressLine(caughtUp));
    }
    if (caughtUp || (values.seconds !== undefined && performance.now() - loadStart > Number(values.seconds) * 1000)) break;
  }
  await run.finish();
  await store.close();
}

/** A partition as the loop runs it: its state and the tracker of what changed since its last commit. */
interface ScoredPartition { state: PartitionState; tracker: ChangeTracker }

/** A partition's next batch: its generated events from seq `from`, and the prefetch of its customers' records. */
interface Batch { messages: TxMessage[]; from: number; prefetched: Promise<number> }

/**
 * The worker's loop without NATS and ClickHouse: a batch per partition in turn, the next partition's batch
 * prefetched while one is applied and committed; what it did, and where the time went, for the progress lines.
 */
class MillionRun {
  private readonly engine = new Engine(defaultEngineConfig());
  private events = 0;
  private timersFired = 0;
  /** Pauses for garbage collection, ms: scavenges (young generation) and the rest (mark-compact, incremental steps). */
  private readonly gcMs = { minor: 0, major: 0 };
  private readonly gcObserver: PerformanceObserver;
  /** Wall time by step of the loop, ms: waiting for the prefetch, applying, encoding the commit, waiting for it. */
  private readonly stages: Record<string, number> = { prefetch_wait: 0, apply: 0, encode: 0, commit_wait: 0 };
  /**
   * Each partition's commit in flight: the next partition is applied while it is written, as the service's
   * partition workers run side by side; a partition's next batch waits for its own commit (with a bounded
   * cache nothing of a partition is applied between its commit and the eviction that follows it).
   */
  private readonly inFlight: (Promise<void> | undefined)[];
  private upcoming: Batch;

  constructor(private readonly r: {
    built: BuiltStore; store: LmdbStateStore; partitions: ScoredPartition[]; batchSize: number;
    until: Map<number, number> | undefined; prefetch: boolean; timerSlice: number;
  }) {
    this.gcObserver = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        const kind = (entry as { detail?: { kind?: number } }).detail?.kind;
        if (kind === constants.NODE_PERFORMANCE_GC_MINOR) this.gcMs.minor += entry.duration;
        else this.gcMs.major += entry.duration;
      }
    });
    this.gcObserver.observe({ entryTypes: ['gc'] });
    this.upcoming = this.nextBatch(0);
    this.inFlight = r.partitions.map(() => undefined);
  }

  private stage(name: string, since: number): number {
    const now = performance.now();
    this.stages[name] = (this.stages[name] ?? 0) + now - since;
    return now;
  }

  private nextBatch(i: number): Batch {
    const { built, batchSize, until, prefetch, timerSlice } = this.r;
    const { state } = item(this.r.partitions, i);
    const target = until?.get(state.partition);
    const end = target === undefined ? state.seq + batchSize : Math.min(target, state.seq + batchSize);
    const messages: TxMessage[] = [];
    for (let seq = state.seq + 1; seq <= end; seq++) messages.push(generatedEvent(built, state.partition, seq));
    // The batch's customers and those of the timers its events make due, as the worker reads ahead.
    const ids = messages.map((m) => m.body.customer_id);
    if (prefetch) for (const id of this.engine.timerCustomersDue(state, messages, timerSlice)) ids.push(id);
    const prefetched = prefetch ? this.r.store.prefetch(state, ids) : Promise.resolve(0);
    return { messages, from: state.seq + 1, prefetched };
  }

  /** Waits for every commit in flight. */
  async settled(): Promise<void> {
    const t = performance.now();
    await Promise.all(this.inFlight);
    this.stage('commit_wait', t);
  }

  /** Partition `i`'s turn: waits for its last commit and its prefetch, applies its batch, starts its commit. */
  async step(i: number): Promise<void> {
    const { partitions, store } = this.r;
    const { state, tracker } = item(partitions, i);
    const batch = this.upcoming;
    let t = performance.now();
    await this.inFlight[i];
    t = this.stage('commit_wait', t);
    await batch.prefetched;
    t = this.stage('prefetch_wait', t);
    // The next partition's batch is read from disk while this one is applied and committed (the worker's pipeline does the same).
    const single = partitions.length === 1;
    if (!single) this.upcoming = this.nextBatch((i + 1) % partitions.length);
    if (batch.messages.length === 0) {
      if (single) this.upcoming = this.nextBatch(i);
      return;
    }
    this.apply(state, batch);
    t = this.stage('apply', t);
    this.inFlight[i] = store.commit(state, tracker.take());
    this.stage('encode', t);
    if (single) {
      await this.settled();
      this.upcoming = this.nextBatch(i);
    }
  }

  /**
   * Applies a batch as the worker does, with its timer slice: a batch fires at most `timerSlice` timers and
   * ends before the event whose timers are left; the next batch of the partition starts with it.
   */
  private apply(state: PartitionState, batch: Batch): void {
    const { engine } = this;
    const emit = new Emit();
    const pendings: Pending[] = [];
    let timers = 0;
    for (const [k, msg] of batch.messages.entries()) {
      const event = { seq: batch.from + k, partition: state.partition, msg };
      const room = this.r.timerSlice - timers;
      const fired = engine.fireDue(state, event, emit, room);
      timers += fired;
      if (fired === room) break;
      const pending = engine.apply(state, event, emit);
      if (pending) pendings.push(pending);
      this.events++;
    }
    this.timersFired += timers;
    for (const pending of pendings) engine.complete(state, pending, { probability: 0.1, modelVersion: 'bench' }, emit);
    tableRows(emit);
  }

  /** Every partition P of `reach` is one batch past SEQ, or at SEQ or later with at most TIMERS − one slice timers due. */
  hasReached(reach: [number, number, number][]): boolean {
    const { partitions, batchSize, timerSlice } = this.r;
    return reach.every(([p, seq, pending]) => {
      const scored = partitions.find((x) => x.state.partition === p);
      if (!scored) throw new Error(`reach names partition ${p}, which this process does not score`);
      const { state } = scored;
      return state.seq >= seq + batchSize || (state.seq >= seq && dueTimers(state) <= pending - timerSlice);
    });
  }

  progressLine(caughtUp: boolean): object {
    const { partitions } = this.r;
    const stats = partitions.map(({ tracker }) => tracker.stats());
    return {
      type: caughtUp ? 'caught_up' : 'progress', since_process_start_ms: performance.now(), events: this.events,
      seqs: partitions.map(({ state }) => `${state.partition}:${state.seq}`).join(','),
      pending: partitions.map(({ state }) => `${state.partition}:${state.seq}:${dueTimers(state)}`).join(','),
      cached: stats.reduce((n, s) => n + s.cached, 0), cached_bytes: stats.reduce((n, s) => n + s.cachedBytes, 0), lookups: stats.reduce((n, s) => n + s.lookups, 0), misses: stats.reduce((n, s) => n + s.misses, 0),
      timers: partitions.reduce((n, { state }) => n + state.timers.length, 0), timers_fired: this.timersFired, cpu_ms: cpuMs(), gc_ms: { ...this.gcMs }, stages_ms: this.stages, memory: memoryNow(),
    };
  }

  /** Stops observing GC and waits for the commits and the last prefetch. */
  async finish(): Promise<void> {
    this.gcObserver.disconnect();
    await this.settled();
    await this.upcoming.prefetched;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: Error) => {
    process.stderr.write(`${err.stack ?? err.message}\n`);
    process.exit(1);
  });
}
