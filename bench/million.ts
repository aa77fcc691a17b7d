/**
 * `vafa bench --only million`: the scorer with 1,000,000 customers with history in its LMDB store.
 *
 * Build (cached under the temp dir, keyed by the plan and the codec version; `build_s` says how long it
 * took): a simulated population (`templates` customers over `days` days) runs through the real core;
 * its customers are then cloned under new ids (`M0000000`…) with their timers, round-robin over the
 * partitions, and committed into the store by the store's own `commit` in chunks. So the records are
 * real encoded customer states, but a million of them share a few hundred histories.
 *
 * Run (bench/million-scorer.ts, a child process): loads every partition lazily and processes generated
 * transactions of random customers, partition after partition, a commit per batch, as the worker does,
 * without NATS, ClickHouse and the model. The parent samples its RSS (/proc) for `seconds`, kills it
 * with SIGKILL, starts another and times it from spawn until it has committed what the killed one had
 * reached plus one batch a partition (`recovery_s`). Also the start of one partition loaded whole (the
 * former behaviour) against lazily.
 *
 * The scorer runs within the memory budget a deployment would give it (docs/operations.md, "Memory of a
 * scorer"): its cache bounded by customers and by bytes, its V8 old space limited to what the cache and
 * the timers need (`oldSpaceLimitMiB`, the timers counted by the lazy start), its store mapped in chunks.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { TransactionV1, TxMessage } from '../contracts/events.js';
import { Engine, type Pending, newPartitionState, type CustomerState, type PartitionState, type Timer, Emit, item } from '../scorer/core/mod.js';
import { CODEC_VERSION, LmdbStateStore, oldSpaceLimitMiB } from '../scorer/runtime/store/mod.js';
import { createBank } from '../simulator/mod.js';
import { customerId, type BuiltStore, type MemoryLine } from './million-scorer.js';
import type { Progress } from './progress.js';
import { NODE_FLAGS } from '../platform/mod.js';
import { defaultEngineConfig, readFlag } from '../config/mod.js';

export interface MillionPlan {
  /** Customers in the store. Default 1,000,000. */
  customers: number;
  /** Partitions (the settings' default, 8). */
  partitions: number;
  /** Simulated customers whose states are cloned. Default 300. */
  templates: number;
  /** Days of simulated history. Default 365. */
  days: number;
  seed: number;
  /** Customers cached by the scorer process (VAFA_STATE_CACHE_CUSTOMERS). Default 10,000, the setting's default. */
  cache: number;
  /** Most estimated heap of the cached customers, MiB (VAFA_STATE_CACHE_MB). Default 256, the setting's default. */
  cacheMiB: number;
  /**
   * Map the store's file in chunks (VAFA_STATE_MAP_CHUNKS; false: mapped whole, `--map-whole` to the scorer).
   * Default: the setting as this process's environment gives it, else true (the setting's default).
   */
  mapChunks: boolean;
  /** Events a partition takes per batch (VAFA_SCORER_BATCH). Default 1000. */
  batch: number;
  /** How long the first scorer runs before SIGKILL, s. Default 40. */
  seconds: number;
  /** Also time one partition loaded whole (the former start; ~2 min at 1M, then it runs out of heap). Default true. */
  wholeStart: boolean;
  /** Where built stores are cached. Default `<tmp>/vafa-bench-million`. */
  dataDir: string;
}

export const DEFAULT_MILLION_PLAN: MillionPlan = {
  customers: 1_000_000, partitions: 8, templates: 300, days: 365, seed: 7, cache: 10_000, cacheMiB: 256, mapChunks: readFlag(process.env, 'stateMapChunks', true), batch: 1000,
  seconds: 40, wholeStart: true,
  dataDir: path.join(os.tmpdir(), 'vafa-bench-million'),
};

export interface MillionReport {
  customers: number;
  /** Largest RSS of the scorer process while it processed events, bytes (VmRSS, sampled every 200 ms). */
  rss_bytes: number;
  /**
   * Largest anonymous memory (RssAnon: the V8 heap, native allocations) and largest file-backed memory
   * (RssFile: the pages of the LMDB store mapped into the process, reclaimable), each its own peak.
   */
  rss_anon_bytes: number;
  rss_file_bytes: number;
  /** The scorer's V8 heap limit (`--max-old-space-size` from `oldSpaceLimitMiB`, plus the young generation), bytes. */
  heap_limit_bytes: number;
  /** The scorer's own view at its largest heap: V8 heap reserved and in use, old space in use, young generation, memory outside the heap. */
  heap: { total_bytes: number; used_bytes: number; old_used_bytes: number; new_bytes: number; external_bytes: number };
  /** Estimated heap of the cached customers at the end of the run, bytes. */
  cache_bytes: number;
  /**
   * From the spawn of a scorer after SIGKILL of the previous one until it had caught up, s: it has
   * applied one batch a partition past where the killed one was. If that one was in a timer storm (the
   * end of a bank day, when a year-old day's points expire for thousands of customers at once), the
   * rest of the storm is part of catching up: see `timers_fired`.
   */
  recovery_s: number;
  /**
   * From the same spawn until the new scorer had done what the killed one had (its positions and, inside a
   * timer storm, the timers it had fired) plus one batch or one timer slice a partition: the cost of the
   * restart itself, without the rest of a storm the killed scorer would have had to work through as well.
   */
  restart_s: number;
  /** Building the store (0 when it was cached), s; `build_cached_s`: what the cached build took. */
  build_s: number;
  build_cached_s: number;
  /** Start of one partition (125,000 customers at 1M / 8): loaded whole (null: it did not fit in a 6 GiB heap within 3 minutes) vs lazily, ms. */
  partition_start_whole_ms: number | null;
  partition_start_lazy_ms: number | null;
  /** Every partition loaded lazily, in the recovering process, ms. */
  all_partitions_start_ms: number;
  events: number;
  events_per_s: number;
  cache_customers: number;
  /** Share of the core's customer lookups (`hasOwn`, `in`, reads: several an event) served from memory. */
  cache_hit_rate: number;
  /** Customers read from the store per event (a miss decodes one record). */
  cache_misses_per_event: number;
  timers: number;
  /** Timers the first scorer fired in its run (points expiring, lifecycle checks), and per second. */
  timers_fired: number;
  timers_per_s: number;
  plan: MillionPlan;
}

const SCORER = path.join(import.meta.dirname, 'million-scorer.ts');

/** The simulated population through the core: its customers, timers and partition fields. */
function simulate(plan: MillionPlan): { state: PartitionState; template: TransactionV1 } {
  const bank = createBank({ seed: plan.seed, customers: plan.templates, start: new Date('2025-01-01T00:00:00Z'), days: plan.days });
  const engine = new Engine(defaultEngineConfig());
  const state = newPartitionState(0);
  let template: TransactionV1 | undefined;
  const messages: TxMessage[] = [];
  for (const { cards: _cards, ...profile } of bank.profiles()) messages.push({ kind: 'profile', body: profile });
  for (const ev of bank.events()) {
    if (ev.kind === 'redemption') continue;
    if (ev.kind === 'transaction' && !template && !ev.body.reverses_tx_id && (ev.body.status ?? 'approved') === 'approved') template = ev.body;
    messages.push(ev);
  }
  for (let start = 0; start < messages.length; start += plan.batch) {
    const emit = new Emit();
    const pendings: Pending[] = [];
    for (const msg of messages.slice(start, start + plan.batch)) {
      const pending = engine.apply(state, { seq: state.seq + 1, partition: 0, msg }, emit);
      if (pending) pendings.push(pending);
    }
    for (const pending of pendings) engine.complete(state, pending, { probability: 0.1, modelVersion: 'bench' }, emit);
  }
  if (!template) throw new Error('million: the simulated history has no approved transaction');
  return { state, template };
}

function cloneCustomer(c: CustomerState, id: string): CustomerState {
  return { ...c, id, ...(c.profile ? { profile: { ...c.profile, customer_id: id } } : {}) };
}

/** Builds the store under `dir` (see the file's note); returns what the scorer needs to know of it. */
async function build(plan: MillionPlan, dir: string, progress: Progress): Promise<BuiltStore> {
  const started = performance.now();
  progress.phase(`million: simulating ${plan.templates} customers × ${plan.days} days through the core`);
  const { state: simulated, template } = simulate(plan);
  const templates = Object.values(simulated.customers);
  const timersOf = new Map<string, Timer[]>();
  for (const t of simulated.timers) timersOf.set(t.customerId, [...(timersOf.get(t.customerId) ?? []), t]);
  rmSync(dir, { recursive: true, force: true });
  const store = LmdbStateStore.open({ path: path.join(dir, 'state') });
  const chunk = 5000;
  for (let p = 0; p < plan.partitions; p++) {
    progress.phase(`million: writing partition ${p + 1}/${plan.partitions} (${Math.floor(plan.customers / plan.partitions).toLocaleString('en-US')} customers)`);
    const { customers: _c, timers: _t, ...fields } = simulated;
    const state: PartitionState = { ...structuredClone(fields), partition: p, customers: {}, timers: [] };
    const ids: string[] = [];
    for (let i = p; i < plan.customers; i += plan.partitions) ids.push(customerId(i));
    for (const [k, id] of ids.entries()) for (const t of timersOf.get(item(templates, k % templates.length).id) ?? []) state.timers.push({ ...t, customerId: id });
    state.timers.sort((a, b) => a.due - b.due); // sorted: a valid min-heap
    for (let start = 0; start < ids.length; start += chunk) {
      const part = ids.slice(start, start + chunk);
      state.customers = {};
      for (const id of part) state.customers[id] = cloneCustomer(item(templates, (Number(id.slice(1)) / plan.partitions | 0) % templates.length), id);
      await store.commit(state, { changed: new Set(part), removed: new Set(), added: part.length });
    }
  }
  await store.close();
  const built: BuiltStore = {
    customers: plan.customers - (plan.customers % plan.partitions), partitions: plan.partitions, seq: simulated.seq, maxEventTime: simulated.maxEventTime,
    template, build_s: (performance.now() - started) / 1000, templates: templates.length,
  };
  writeFileSync(path.join(dir, 'built.json'), JSON.stringify(built));
  return built;
}

interface Child {
  lines: AsyncIterableIterator<string>;
  pid: number;
  kill(): void;
  exited: Promise<number | null>;
}

/** Heap allowed to the process that loads one partition whole (the former start), MiB. */
const WHOLE_LOAD_HEAP_MIB = 6144;
/** Longest the whole load may take (near its heap limit V8 collects for minutes before it gives up). */
const WHOLE_LOAD_DEADLINE_MS = 180_000;

function runScorer(args: string[], nodeOptions: string[] = []): Child {
  const proc = spawn(process.execPath, [...NODE_FLAGS, ...nodeOptions, '--import', 'tsx', SCORER, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const { pid } = proc;
  if (pid === undefined) throw new Error(`could not start ${SCORER}`);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return { lines: createInterface({ input: proc.stdout })[Symbol.asyncIterator](), pid, kill: () => proc.kill('SIGKILL'), exited };
}

/** Longest wait for one line of the scorer (a catch-up through a timer storm under load took 629 s). */
const LINE_DEADLINE_MS = 30 * 60_000;

/** The scorer's next line of `type`; past `deadlineMs` the scorer is killed and this throws. */
async function nextLine<T>(child: Child, type: string, deadlineMs = LINE_DEADLINE_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      child.kill();
      reject(new Error(`million: no "${type}" line from the scorer within ${Math.round(deadlineMs / 1000)} s`));
    }, deadlineMs);
  });
  const read = (async (): Promise<T> => {
    for (;;) {
      const { value, done } = await child.lines.next();
      if (done) throw new Error(`million: the scorer process ended before its "${type}" line`);
      const line = JSON.parse(value) as { type: string };
      if (line.type === type) return line as T;
    }
  })();
  try {
    return await Promise.race([read, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** VmRSS, RssAnon and RssFile of a process, bytes. */
function rssOf(pid: number): { rss: number; anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { rss: kib('VmRSS'), anon: kib('RssAnon'), file: kib('RssFile') };
}

interface ProgressLine {
  seqs: string;
  /** Per partition `P:SEQ:TIMERS`: position and timers due not fired yet. */
  pending: string; events: number; lookups: number; misses: number; cached: number; cached_bytes: number; timers: number; timers_fired: number;
  since_process_start_ms: number; memory: MemoryLine;
}

interface StartedLine { load_ms: number; since_process_start_ms: number; timers: number; heap_limit: number }

/** The scorer's arguments and V8 flags for `plan`, its old space limited for `timers` (docs/operations.md). */
function scorerCommand(plan: MillionPlan, dir: string, timers: number): { args: string[]; flags: string[] } {
  const limit = oldSpaceLimitMiB({ cacheBytes: plan.cacheMiB * 2 ** 20, timers });
  const args = ['--store', dir, '--cache', String(plan.cache), '--cache-mb', String(plan.cacheMiB), '--batch', String(plan.batch), ...(plan.mapChunks ? [] : ['--map-whole'])];
  return { args, flags: [`--max-old-space-size=${limit}`] };
}

/** Runs the first scorer for `plan.seconds`, sampling its RSS, then kills it. */
async function runAndKill(plan: MillionPlan, dir: string, timers: number): Promise<{ last: ProgressLine; rss: { rss: number; anon: number; file: number }; heap: MemoryLine; heapLimit: number; seconds: number }> {
  const command = scorerCommand(plan, dir, timers);
  const child = runScorer(command.args, command.flags);
  const started = await nextLine<StartedLine>(child, 'started');
  const peak = { rss: 0, anon: 0, file: 0 };
  const sampler = setInterval(() => {
    const now = rssOf(child.pid);
    peak.rss = Math.max(peak.rss, now.rss);
    peak.anon = Math.max(peak.anon, now.anon);
    peak.file = Math.max(peak.file, now.file);
  }, 200);
  const deadline = performance.now() + plan.seconds * 1000;
  let last: ProgressLine | undefined;
  let heap: MemoryLine | undefined;
  while (performance.now() < deadline) {
    last = await nextLine<ProgressLine>(child, 'progress');
    if (!heap || last.memory.heap_total > heap.heap_total) heap = last.memory;
  }
  clearInterval(sampler);
  child.kill();
  await child.exited;
  if (!last || !heap) throw new Error('million: no progress from the scorer');
  return { last, rss: peak, heap, heapLimit: started.heap_limit, seconds: (last.since_process_start_ms - started.since_process_start_ms) / 1000 };
}

/** Start of one partition in a fresh process: loaded whole (`cache` 0) or lazily; with the partition's timers. */
async function partitionStart(dir: string, cache: number): Promise<{ ms: number; timers: number } | null> {
  const child = runScorer(['--store', dir, '--cache', String(cache), '--load-only'], [`--max-old-space-size=${WHOLE_LOAD_HEAP_MIB}`]);
  try {
    const { load_ms, timers } = await nextLine<StartedLine>(child, 'started', WHOLE_LOAD_DEADLINE_MS);
    return { ms: load_ms, timers };
  } catch {
    return null; // the whole partition did not fit in the heap, or not in time
  } finally {
    await child.exited;
  }
}

/** The plan's store: built under `plan.dataDir` unless a build of the same plan is there already. */
export async function millionStore(plan: MillionPlan, progress: Progress): Promise<{ dir: string; built: BuiltStore; cached: boolean }> {
  const dir = path.join(plan.dataDir, `n${plan.customers}-p${plan.partitions}-t${plan.templates}-d${plan.days}-s${plan.seed}-codec${CODEC_VERSION}`);
  mkdirSync(plan.dataDir, { recursive: true });
  const cached = existsSync(path.join(dir, 'built.json'));
  const built = cached ? JSON.parse(readFileSync(path.join(dir, 'built.json'), 'utf8')) as BuiltStore : await build(plan, dir, progress);
  if (cached) progress.phase(`million: using the store built earlier in ${dir}`);
  return { dir, built, cached };
}

export async function measureMillion(plan: MillionPlan, progress: Progress): Promise<MillionReport> {
  const { dir, built, cached } = await millionStore(plan, progress);
  // Each run moves the cached store on (its commits stay): the generated stream goes on from there.
  progress.phase('million: start of one partition, whole and lazily');
  const whole = plan.wholeStart ? await partitionStart(dir, 0) : null;
  const lazy = await partitionStart(dir, plan.cache);
  if (!lazy) throw new Error('million: one partition did not start lazily');
  // Every partition holds about as many timers as the first: the scorer's heap limit counts them so.
  const timers = lazy.timers * built.partitions;
  progress.phase(`million: the scorer processes random customers for ${plan.seconds} s, then SIGKILL`);
  const run = await runAndKill(plan, dir, timers);
  const head = run.last.seqs.split(',').map((pair) => pair.split(':').map(Number) as [number, number]).map(([p, seq]) => `${p}:${seq + plan.batch}`).join(',');
  progress.phase('million: a new scorer catches up');
  const spawned = performance.now();
  const command = scorerCommand(plan, dir, timers);
  const second = runScorer([...command.args, '--until', head, '--reach', run.last.pending], command.flags);
  const started = await nextLine<StartedLine>(second, 'started');
  await nextLine(second, 'reached');
  const restart = (performance.now() - spawned) / 1000;
  await nextLine(second, 'caught_up');
  const recovery = (performance.now() - spawned) / 1000;
  await second.exited;
  return {
    customers: built.customers, rss_bytes: run.rss.rss, rss_anon_bytes: run.rss.anon, rss_file_bytes: run.rss.file, heap_limit_bytes: run.heapLimit,
    heap: {
      total_bytes: run.heap.heap_total, used_bytes: run.heap.heap_used, old_used_bytes: run.heap.old_used, new_bytes: run.heap.new_size, external_bytes: run.heap.external,
    },
    cache_bytes: run.last.cached_bytes, recovery_s: recovery, restart_s: restart,
    build_s: cached ? 0 : built.build_s, build_cached_s: built.build_s, partition_start_whole_ms: whole?.ms ?? null, partition_start_lazy_ms: lazy.ms,
    all_partitions_start_ms: started.load_ms, events: run.last.events, events_per_s: run.last.events / run.seconds,
    cache_customers: run.last.cached, cache_hit_rate: run.last.lookups ? 1 - run.last.misses / run.last.lookups : 0,
    cache_misses_per_event: run.last.events ? run.last.misses / run.last.events : 0, timers: run.last.timers,
    timers_fired: run.last.timers_fired, timers_per_s: run.last.timers_fired / run.seconds, plan,
  };
}

/** The report as a few lines of text. */
export function renderMillion(m: MillionReport): string {
  const mib = (bytes: number): string => `${Math.round(bytes / 2 ** 20).toLocaleString('en-US')} MiB`;
  const ms = (x: number | null): string => (x === null ? 'did not fit' : `${Math.round(x).toLocaleString('en-US')} ms`);
  return [
    `million: ${m.customers.toLocaleString('en-US')} customers in the store, ${m.timers.toLocaleString('en-US')} timers; cache ${m.plan.cache.toLocaleString('en-US')} customers or ${mib(m.plan.cacheMiB * 2 ** 20)} (held ${mib(m.cache_bytes)}; hit rate ${(m.cache_hit_rate * 100).toFixed(1)} % of lookups, ${m.cache_misses_per_event.toFixed(2)} store reads an event)`,
    `  scorer RSS ${mib(m.rss_bytes)} at most: anonymous ${mib(m.rss_anon_bytes)} (V8 heap ${mib(m.heap.total_bytes)} of its ${mib(m.heap_limit_bytes)} limit, ${mib(m.heap.external_bytes)} outside it), mapped store ${mib(m.rss_file_bytes)} (file pages, reclaimable; ${m.plan.mapChunks ? 'mapped in chunks' : 'mapped whole: VAFA_STATE_MAP_CHUNKS=0'}; each its own peak)`,
    `  ${Math.round(m.events_per_s).toLocaleString('en-US')} events/s on random customers and ${Math.round(m.timers_per_s).toLocaleString('en-US')} timers/s`,
    `  after SIGKILL: back where the killed scorer was (plus a batch or a timer slice) in ${m.restart_s.toFixed(1)} s, caught up with its position plus a batch in ${m.recovery_s.toFixed(1)} s; one partition starts in ${ms(m.partition_start_lazy_ms)} lazily, ${ms(m.partition_start_whole_ms)} whole; build ${m.build_cached_s.toFixed(0)} s${m.build_s ? '' : ' (cached)'}`,
  ].join('\n');
}
