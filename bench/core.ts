/**
 * `vafa bench --only core` (and `node --import tsx bench/core.ts`): the scorer's pure core alone, on one
 * core, over a simulated year. No NATS, ClickHouse or ONNX: the stream is pre-encoded as the `TX`
 * messages ingest would publish, then replayed as the runtime does it (decode, `Engine.apply` per event,
 * one stand-in "model call" per micro-batch, `Engine.complete` per pending). Reports events/s, µs an
 * event and the encoded state per customer at the end of the replay.
 *
 * `--dump DIR` also writes every emitted row per table and every publish as NDJSON in emission order
 * (`<table>.ndjson`, `publishes.ndjson`, `SHA256SUMS`), to compare two versions of the core.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync, createWriteStream, type WriteStream } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { txSubject, partitionOf } from '../contracts/subjects.js';
import { ChangeTracker, CODEC_VERSION, customerRecordParts, decodeRecord, encodeRecord, rawCustomers, type RecordParts } from '../scorer/runtime/store/mod.js';
import type { TxMessage } from '../contracts/events.js';
import { Engine, type Pending, newPartitionState, type CustomerState, type PartitionState, Emit, type Score, item, num, seenDay } from '../scorer/core/mod.js';
import type { EngineConfig } from '../config/schema/mod.js';
import { FEATURE_NAMES } from '../contracts/features.js';
import { messagesOf, tableRows } from '../sinks/mod.js';
import { decodeTx } from '../scorer/runtime/mod.js';
import { createBank, readHistory, SIMULATOR_VERSION, writeHistory } from '../simulator/mod.js';
import { historyMessages, type HistoryEvent } from '../training/mod.js';
import { median, percentile } from './stats.js';
import { defaultEngineConfig } from '../config/mod.js';

/** What to replay and how. */
export interface CorePlan {
  /** Simulated customers. Default 1,000. */
  customers: number;
  /** Simulated days. Default 365. */
  days: number;
  /** Simulator seed. Default 7. */
  seed: number;
  /** Partitions of `tx.>` (state per partition, as the runtime keeps it). Default 8. */
  partitions: number;
  /** Events per micro-batch (one model call each). Default 500 (the scorer's default batch). */
  batch: number;
  /** Where simulated histories are cached, keyed by customers, days, seed and simulator version. Default `$TMPDIR/vafa-bench-core`. */
  dataDir: string;
}

export const DEFAULT_CORE_PLAN: CorePlan = {
  customers: 1_000, days: 365, seed: 7, partitions: 8, batch: 500, dataDir: path.join(os.tmpdir(), 'vafa-bench-core'),
};

/** Encodes one customer's state as it would be stored; its byte length is what the report counts. */
export type StateEncoder = (c: CustomerState) => Uint8Array | string;

export const jsonEncoder: StateEncoder = (c) => JSON.stringify(c);

/** The state store's record of a customer, as committed to LMDB (scorer/runtime/store/codec.ts, current version). */
export const storeEncoder: StateEncoder = (c) => encodeRecord('customer', c);

/** The stream, pre-encoded: subjects and payloads in stream order (index + 1 = stream sequence). */
export interface CoreInput {
  subjects: string[];
  payloads: Uint8Array[];
  history: string;
}

/** A record's median bytes by part (`state.parts_median`): the lots, earning-records, remembered-ids and feature-buckets sections, and the rest. */
export interface StateParts {
  lots_section: number;
  earned_section: number;
  seen_section: number;
  buckets_section: number;
  generic: number;
}

export interface CoreResult {
  id: 'scorer_core';
  events: number;
  pendings: number;
  seconds: number;
  events_per_s: number;
  us_per_event: number;
  /** CPU time of this process (user + system) per event: less sensitive than wall time to other processes on the machine. */
  cpu_us_per_event: number;
  /** Decoding alone (scorer/runtime/decode.ts: JSON.parse and contract validation), per event; included in us_per_event. */
  decode_us_per_event: number;
  rows: Record<string, number>;
  publishes: number;
  state: { customers: number; bytes_per_customer_median: number; bytes_per_customer_p99: number; bytes_per_customer_max: number; partition_bytes_per_customer: number; timers: number;
    /** With the store's encoder: the median bytes of each part of a record (codec.ts `RecordParts`), each part's median apart. */
    parts_median?: StateParts };
  /** The same customers as JSON (UTF-8 bytes of JSON.stringify), for comparison with the encoded figures. */
  state_json: { bytes_per_customer_median: number; bytes_per_customer_p99: number };
  /** A second replay with the state store's commits: see {@link StoreCost}. */
  store: StoreCost;
}

/**
 * What the state store adds to the core (a second replay, as the scorer runs with the LMDB store): each
 * partition's customers tracked as the worker tracks them (`ChangeTracker`, a proxy that notes every
 * customer the core reaches), and after every micro-batch each customer it reached encoded as its commit
 * would write it. LMDB's own write is not included. Reads are the worst case of a bank whose customers
 * are mostly not cached: every record committed is decoded once more, as a cold read would.
 */
export interface StoreCost {
  /** Wall time of the replay with tracking and commit encoding, per event (compare `us_per_event`). */
  us_per_event: number;
  /** Of which the commits' encoding, per event. */
  encode_us_per_event: number;
  /** Customer records the commits wrote, per event (1 when every event reaches a different customer). */
  writes_per_event: number;
  /** Encoding one customer record, mean µs. */
  encode_us_per_write: number;
  /** Decoding one customer record, mean µs (a cold read; not part of `us_per_event`). */
  decode_us_per_read: number;
  /**
   * A third replay in which every customer written goes on as the copy decoded from its record (a scorer
   * whose customers come from the store, as most of a bank's do): the core, encoding and decoding, per event.
   */
  cold_us_per_event: number;
  /**
   * Memory a customer takes in the store's cache per byte of its record ({@link cacheBytesPerRecordByte}):
   * compare with `HEAP_BYTES_PER_RECORD_BYTE`, the estimate the cache's byte bound counts with.
   */
  cache_bytes_per_record_byte: number;
}

/**
 * The history of `plan`, simulated once and cached under `plan.dataDir`, keyed by customers, days, seed
 * and the simulator's output version (`SIMULATOR_VERSION`), so a simulator that changed never replays a
 * stale history (the caches of other versions stay where they are).
 */
export async function historyDir(plan: CorePlan): Promise<string> {
  const dir = path.join(plan.dataDir, `c${plan.customers}-d${plan.days}-s${plan.seed}-sim${SIMULATOR_VERSION}`);
  if (existsSync(path.join(dir, 'meta.json'))) return dir;
  mkdirSync(plan.dataDir, { recursive: true });
  const bank = createBank({ seed: plan.seed, customers: plan.customers, start: new Date('2025-01-01T00:00:00Z'), days: plan.days, feedback: 1 });
  await writeHistory(bank, dir);
  return dir;
}

/** Reads the history and encodes it as the `TX` messages ingest would publish. */
export async function prepareCoreInput(plan: CorePlan): Promise<CoreInput> {
  const dir = await historyDir(plan);
  const h = await readHistory(dir);
  const subjects: string[] = [];
  const payloads: Uint8Array[] = [];
  for await (const msg of historyMessages(h.profiles(), h.events() as AsyncIterable<HistoryEvent>)) {
    subjects.push(txSubject(partitionOf(msg.body.customer_id, plan.partitions), msg.kind as TxMessage['kind']));
    payloads.push(Buffer.from(JSON.stringify(msg.body)));
  }
  return { subjects, payloads, history: dir };
}

/**
 * The stand-in churn model: a fixed logistic function of a few features, the same for every version of
 * the core (ONNX is out of scope here). Reads the numeric vector when the pending has one.
 */
export function standInScorer(): (p: Pending) => Score {
  const names = ['recency_days', 'tx_count_30d', 'declines_30d', 'open_complaints', 'activity_trend', 'tenure_days'] as const;
  const index = names.map((n) => FEATURE_NAMES.indexOf(n));
  if (index.some((i) => i < 0)) throw new Error('standInScorer: a feature is missing from the catalogue');
  return (p) => {
    const values = (p as { values?: readonly number[] }).values;
    const x = values ? index.map((i) => num(values, i)) : names.map((n) => p.features[n] ?? 0);
    const z = -3 + 0.04 * num(x, 0) - 0.2 * Math.log1p(num(x, 1)) + 0.15 * num(x, 2) + 0.8 * num(x, 3) - 0.3 * num(x, 4) - 0.001 * num(x, 5);
    return { probability: 1 / (1 + Math.exp(-z)), modelVersion: 'stand-in-1' };
  };
}

export interface ReplayOptions {
  engine?: EngineConfig;
  batch?: number;
  /** Sees each micro-batch's outputs (after phase 2). */
  onBatch?: (emit: Emit) => void;
  /** Tracks the customers each micro-batch reaches and encodes them as a commit would (StoreCost). */
  commits?: boolean;
  /**
   * With `commits`: every customer written goes on as the copy decoded from its record, as in a scorer
   * whose customers are read from the store (a bank's, most of them not cached); decoding is then part
   * of the replay's time.
   */
  cold?: boolean;
}

/** The commits of a replay with `commits`: how many records, and the time to encode and to decode them. */
interface CommitTally {
  writes: number;
  encodeMs: number;
  decodeMs: number;
}

/** Encodes every customer reached since the last commit, as the LMDB store's commit does; decodes them again, timed apart. */
function commitChanges(states: Map<number, PartitionState>, tally: CommitTally, cold: boolean): void {
  for (const state of states.values()) {
    const tracker = ChangeTrackerOf.get(state);
    if (!tracker) continue;
    const customers = rawCustomers(state);
    const records: Uint8Array[] = [];
    const ids: string[] = [];
    const t0 = performance.now();
    for (const id of tracker.take().changed) {
      const customer = customers[id];
      if (customer) {
        records.push(encodeRecord('customer', customer, CODEC_VERSION, { reseal: true }));
        ids.push(id);
      }
    }
    const t1 = performance.now();
    for (const [i, r] of records.entries()) {
      const decoded = decodeRecord<CustomerState>('customer', r, 'bench', { sealed: true });
      if (cold) customers[item(ids, i)] = decoded;
    }
    tally.decodeMs += performance.now() - t1;
    tally.encodeMs += t1 - t0;
    tally.writes += records.length;
  }
}

const ChangeTrackerOf = new WeakMap<PartitionState, ChangeTracker>();

/** Replays `input` through the core as the runtime does; returns the partition states and what it cost. */
export function replayCore(input: CoreInput, opts: ReplayOptions = {}): { states: Map<number, PartitionState>; events: number; pendings: number; seconds: number; cpuSeconds: number; decodeSeconds: number; rows: Record<string, number>; publishes: number; commits: CommitTally } {
  const engine = new Engine(opts.engine ?? defaultEngineConfig());
  const score = standInScorer();
  const states = new Map<number, PartitionState>();
  const batch = opts.batch ?? DEFAULT_CORE_PLAN.batch;
  const rows: Record<string, number> = {};
  let publishes = 0;
  let pendingCount = 0;
  let decodeMs = 0;
  const commits: CommitTally = { writes: 0, encodeMs: 0, decodeMs: 0 };
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (let from = 0; from < input.subjects.length; from += batch) {
    const emit = new Emit();
    const pendings: { p: Pending; state: PartitionState }[] = [];
    const to = Math.min(input.subjects.length, from + batch);
    const t0 = performance.now();
    const decoded = [];
    for (let i = from; i < to; i++) {
      const d = decodeTx(item(input.subjects, i), item(input.payloads, i));
      if (!d.ok) throw new Error(`message ${i + 1} does not decode: ${d.detail}`);
      decoded.push(d);
    }
    decodeMs += performance.now() - t0;
    for (let i = from; i < to; i++) {
      const d = item(decoded, i - from);
      let state = states.get(d.partition);
      if (!state) states.set(d.partition, (state = newTrackedState(d.partition, opts.commits === true)));
      const p = engine.apply(state, { seq: i + 1, partition: d.partition, msg: d.msg }, emit);
      if (p) pendings.push({ p, state });
    }
    const scores = pendings.map((x) => score(x.p));
    pendings.forEach((x, i) => engine.complete(x.state, x.p, scores[i], emit));
    pendingCount += pendings.length;
    for (const [table, list] of tableRows(emit)) rows[table] = (rows[table] ?? 0) + list.length;
    publishes += messagesOf(emit).length;
    opts.onBatch?.(emit);
    if (opts.commits) commitChanges(states, commits, opts.cold === true);
  }
  const uncounted = opts.cold ? 0 : commits.decodeMs / 1000;
  const seconds = (performance.now() - started) / 1000 - uncounted;
  const used = process.cpuUsage(cpu);
  const cpuSeconds = (used.user + used.system) / 1e6 - uncounted;
  return { states, events: input.subjects.length, pendings: pendingCount, seconds, cpuSeconds, decodeSeconds: decodeMs / 1000, rows, publishes, commits };
}

function newTrackedState(partition: number, tracked: boolean): PartitionState {
  const state = newPartitionState(partition);
  if (tracked) ChangeTrackerOf.set(state, ChangeTracker.of(state));
  return state;
}

const pick = (s: CoreResult['state']): CoreResult['state_json'] => ({ bytes_per_customer_median: s.bytes_per_customer_median, bytes_per_customer_p99: s.bytes_per_customer_p99 });

/** Encoded bytes per customer over every partition state. */
export function stateSize(states: Iterable<PartitionState>, encode: StateEncoder = jsonEncoder): CoreResult['state'] {
  const sizes: number[] = [];
  const parts: Record<keyof RecordParts, number[]> = { generic: [], earnedSection: [], lotsSection: [], seenSection: [], bucketsSection: [] };
  let partitionBytes = 0;
  let timers = 0;
  for (const s of states) {
    for (const c of Object.values(s.customers)) {
      const e = encode(c);
      sizes.push(typeof e === 'string' ? Buffer.byteLength(e) : e.byteLength);
      if (encode === storeEncoder && typeof e !== 'string') {
        const p = customerRecordParts(e);
        for (const key of Object.keys(parts) as (keyof RecordParts)[]) parts[key].push(p[key]);
      }
    }
    partitionBytes += Buffer.byteLength(JSON.stringify({ ...s, customers: {} }));
    timers += s.timers.length;
  }
  sizes.sort((a, b) => a - b);
  return {
    customers: sizes.length,
    bytes_per_customer_median: median(sizes),
    bytes_per_customer_p99: percentile(sizes, 99),
    bytes_per_customer_max: sizes.at(-1) ?? 0,
    partition_bytes_per_customer: sizes.length ? Math.round(partitionBytes / sizes.length) : 0,
    timers,
    ...(parts.generic.length ? {
      parts_median: {
        lots_section: median(parts.lotsSection), earned_section: median(parts.earnedSection), seen_section: median(parts.seenSection),
        buckets_section: median(parts.bucketsSection), generic: median(parts.generic),
      },
    } : {}),
  };
}

/**
 * Memory a cached customer takes per byte of its record, as the store's cache holds it: every customer of
 * `states` encoded, read back sealed (as the store reads it) and touched as an event touches it (its
 * remembered-ids index built), `copies` times over; V8 heap and buffers after full collections.
 */
export function cacheBytesPerRecordByte(states: Iterable<PartitionState>, copies = 3): number {
  const records = [...states].flatMap((s) => Object.values(s.customers)).map((c) => encodeRecord('customer', c));
  const recordBytes = records.reduce((n, r) => n + r.length, 0) * copies;
  const collect = garbageCollector();
  collect();
  const before = process.memoryUsage();
  const held: CustomerState[] = [];
  for (let k = 0; k < copies; k++) {
    for (const record of records) {
      const customer = decodeRecord<CustomerState>('customer', record, 'bench', { sealed: true });
      seenDay(customer.seen, '');
      held.push(customer);
    }
  }
  collect();
  const after = process.memoryUsage();
  const bytes = after.heapUsed - before.heapUsed + after.arrayBuffers - before.arrayBuffers;
  return held.length > 0 && recordBytes > 0 ? bytes / recordBytes : 0;
}

/** V8's full collection, twice (weak maps' entries go in the second), whether or not node runs with --expose-gc. */
function garbageCollector(): () => void {
  v8.setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  return () => {
    gc();
    gc();
  };
}

/** One measurement: the replay timed, then the state measured. */
export async function measureCore(plan: CorePlan = DEFAULT_CORE_PLAN, encode: StateEncoder = jsonEncoder, input?: CoreInput, engine?: EngineConfig): Promise<CoreResult> {
  const data = input ?? (await prepareCoreInput(plan));
  const r = replayCore(data, { batch: plan.batch, ...(engine ? { engine } : {}) });
  const withStore = replayCore(data, { batch: plan.batch, ...(engine ? { engine } : {}), commits: true });
  const cold = replayCore(data, { batch: plan.batch, ...(engine ? { engine } : {}), commits: true, cold: true });
  const { writes, encodeMs, decodeMs } = withStore.commits;
  const store: StoreCost = {
    us_per_event: (withStore.seconds * 1e6) / withStore.events, encode_us_per_event: (encodeMs * 1e3) / withStore.events,
    writes_per_event: writes / withStore.events, encode_us_per_write: writes ? (encodeMs * 1e3) / writes : 0, decode_us_per_read: writes ? (decodeMs * 1e3) / writes : 0,
    cold_us_per_event: (cold.seconds * 1e6) / cold.events,
    cache_bytes_per_record_byte: cacheBytesPerRecordByte(r.states.values()),
  };
  return {
    store,
    id: 'scorer_core', events: r.events, pendings: r.pendings, seconds: r.seconds, events_per_s: r.events / r.seconds,
    us_per_event: (r.seconds * 1e6) / r.events, cpu_us_per_event: (r.cpuSeconds * 1e6) / r.events, decode_us_per_event: (r.decodeSeconds * 1e6) / r.events, rows: r.rows, publishes: r.publishes, state: stateSize(r.states.values(), encode),
    state_json: pick(stateSize(r.states.values(), jsonEncoder)),
  };
}

/** The default plan with what the command line set of it (`--customers`, `--days`, `--seed`, `--batch`). */
export function corePlanOf(options: { customers?: string; days?: string; seed?: string; batch?: string }): CorePlan {
  return {
    ...DEFAULT_CORE_PLAN,
    ...(options.customers ? { customers: Number(options.customers) } : {}),
    ...(options.days ? { days: Number(options.days) } : {}),
    ...(options.seed ? { seed: Number(options.seed) } : {}),
    ...(options.batch ? { batch: Number(options.batch) } : {}),
  };
}

/** Writes every row per table and every publish as NDJSON in emission order, plus SHA256SUMS. */
export async function dumpOutputs(input: CoreInput, dir: string, opts: ReplayOptions = {}): Promise<Record<string, string>> {
  mkdirSync(dir, { recursive: true });
  const files = new Map<string, { out: WriteStream; hash: ReturnType<typeof createHash> }>();
  const write = (name: string, line: string): void => {
    let f = files.get(name);
    if (!f) files.set(name, (f = { out: createWriteStream(path.join(dir, `${name}.ndjson`)), hash: createHash('sha256') }));
    f.out.write(line);
    f.hash.update(line);
  };
  replayCore(input, {
    ...opts,
    onBatch: (emit) => {
      for (const [table, list] of tableRows(emit)) for (const row of list) write(table, `${JSON.stringify(row)}\n`);
      for (const p of messagesOf(emit)) write('publishes', `${JSON.stringify(p)}\n`);
    },
  });
  const sums: Record<string, string> = {};
  for (const [name, f] of [...files].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    await new Promise<void>((resolve) => f.out.end(resolve));
    sums[name] = f.hash.digest('hex');
  }
  writeFileSync(path.join(dir, 'SHA256SUMS'), Object.entries(sums).map(([n, h]) => `${h}  ${n}.ndjson\n`).join(''));
  return sums;
}

export interface TableComparison {
  table: string;
  rows: [number, number];
  /** Byte-identical files, rows in the same emission order. */
  identical: boolean;
  /** The same rows as a multiset (sorted lines equal). */
  sameRows: boolean;
  /** Each customer's rows in the same order (rows grouped by customer_id, or by subject for publishes). */
  samePerCustomerOrder: boolean;
}

/** `json` (the default), or `msgpack`: the state store's record codec (scorer/runtime/store/codec.ts). */
export async function encoderNamed(name: string): Promise<StateEncoder> {
  if (name === 'json') return jsonEncoder;
  if (name === 'store') return storeEncoder;
  throw new Error(`--encoder takes json or store, got ${JSON.stringify(name)}`);
}

/** Compares two `--dump` directories table by table. */
export function compareDumps(a: string, b: string): TableComparison[] {
  const tables = [...new Set([...readdirSync(a), ...readdirSync(b)].filter((f) => f.endsWith('.ndjson')))].sort();
  return tables.map((file) => {
    const read = (dir: string): string[] => (existsSync(path.join(dir, file)) ? readFileSync(path.join(dir, file), 'utf8').split('\n').filter(Boolean) : []);
    const la = read(a);
    const lb = read(b);
    const sorted = (l: string[]): string => createHash('sha256').update([...l].sort().join('\n')).digest('hex');
    const byCustomer = (l: string[]): string => {
      const groups = new Map<string, string[]>();
      for (const line of l) {
        const o = JSON.parse(line) as { customer_id?: string; payload?: { customer_id?: string } };
        const key = o.customer_id ?? o.payload?.customer_id ?? '';
        let g = groups.get(key);
        if (!g) groups.set(key, (g = []));
        g.push(line);
      }
      return createHash('sha256').update([...groups].sort((x, y) => (x[0] < y[0] ? -1 : 1)).map(([k, g]) => `${k}\n${g.join('\n')}`).join('\n')).digest('hex');
    };
    const identical = la.length === lb.length && la.every((x, i) => x === lb[i]);
    return {
      table: file.replace(/\.ndjson$/, ''), rows: [la.length, lb.length], identical,
      sameRows: identical || sorted(la) === sorted(lb), samePerCustomerOrder: identical || byCustomer(la) === byCustomer(lb),
    };
  });
}

/** Each figure of {@link StoreCost} as its median over repeats. */
export function medianStore(costs: readonly StoreCost[]): StoreCost {
  const of = (pick: (c: StoreCost) => number): number => median(costs.map(pick));
  return {
    us_per_event: of((c) => c.us_per_event), encode_us_per_event: of((c) => c.encode_us_per_event), writes_per_event: of((c) => c.writes_per_event),
    encode_us_per_write: of((c) => c.encode_us_per_write), decode_us_per_read: of((c) => c.decode_us_per_read),
    cold_us_per_event: of((c) => c.cold_us_per_event), cache_bytes_per_record_byte: of((c) => c.cache_bytes_per_record_byte),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      customers: { type: 'string' }, days: { type: 'string' }, seed: { type: 'string' }, batch: { type: 'string' },
      repeat: { type: 'string', default: '3' }, dump: { type: 'string' }, compare: { type: 'string', multiple: true },
      encoder: { type: 'string', default: 'store' }, 'dedup-days': { type: 'string' },
    },
  });
  if (values.compare) {
    const [a, b] = values.compare;
    if (!a || !b) throw new Error('--compare takes two --dump directories: --compare A --compare B');
    const result = compareDumps(a, b);
    console.log(JSON.stringify(result, null, 1));
    process.exitCode = result.every((t) => t.sameRows && t.samePerCustomerOrder) ? 0 : 1;
    return;
  }
  const plan = corePlanOf(values);
  const input = await prepareCoreInput(plan);
  const engine = values['dedup-days'] ? { ...defaultEngineConfig(), dedupHorizonMs: Number(values['dedup-days']) * 86_400_000 } : undefined;
  if (values.dump) {
    const sums = await dumpOutputs(input, values.dump, { batch: plan.batch, ...(engine ? { engine } : {}) });
    console.log(JSON.stringify(sums, null, 2));
    return;
  }
  const results: CoreResult[] = [];
  const encoder = await encoderNamed(values.encoder ?? 'store');
  for (let r = 0; r < Number(values.repeat); r++) {
    const res = await measureCore(plan, encoder, input, engine);
    results.push(res);
    console.error(`repeat ${r + 1}: ${res.us_per_event.toFixed(2)} µs/event wall (${res.cpu_us_per_event.toFixed(2)} CPU, decode ${res.decode_us_per_event.toFixed(2)}), ${Math.round(res.events_per_s)} events/s; with the store's commits ${res.store.us_per_event.toFixed(2)} µs/event (encoding ${res.store.encode_us_per_event.toFixed(2)}: ${res.store.writes_per_event.toFixed(2)} writes an event at ${res.store.encode_us_per_write.toFixed(1)} µs; a cold read ${res.store.decode_us_per_read.toFixed(1)} µs); every customer read from its record ${res.store.cold_us_per_event.toFixed(2)} µs/event, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  }
  const us = median(results.map((x) => x.us_per_event));
  console.log(JSON.stringify({
    ...results[0], us_per_event: us, events_per_s: 1e6 / us, cpu_us_per_event: median(results.map((x) => x.cpu_us_per_event)),
    decode_us_per_event: median(results.map((x) => x.decode_us_per_event)), repeats: results.map((x) => x.us_per_event),
    store: medianStore(results.map((x) => x.store)),
  }, null, 2));
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
