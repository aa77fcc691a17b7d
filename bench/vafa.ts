/**
 * vafa's own paths on a fresh local stack (nats-server, embedded ClickHouse, the real API; the scorer
 * started by the bench when its phase comes): HTTP ingest batched and single, ISO 8583 ingest, and
 * JetStream → scorer → ClickHouse (drain throughput, then latency at a fixed offered rate).
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import { Writable } from 'node:stream';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadSettings, type Settings } from '../config/mod.js';
import { createLogger, freePort, natsJsm } from '../platform/mod.js';
import { loadDefaultChurn, startStack, type Stack, countRows, waitForDrain } from '../app/mod.js';
import type { BatchInfo, BatchStages, ChurnScorer } from '../scorer/runtime/mod.js';
import { NatsCardDirectory, tokenizePan } from '../ingest/mod.js';
import { STREAM_DLQ } from '../contracts/subjects.js';
import { benchPan, customerIndex } from './events.js';
import { CpuProbe, roleShares, type CpuRoles, type CpuShare } from './cpu.js';
import { prepareLoad, runLoad } from './loadgen/host.js';
import type { LoadResult, LoadSpec } from './loadgen/protocol.js';
import { mean, percentile, Reservoir, type LatencySummary } from './stats.js';
import type { Cleanup } from './cleanup.js';
import type { Progress } from './progress.js';
import { noPhaseHook, type HotFunction, type PhaseHook } from './profile.js';
// Types only: the module itself is loaded at run time, so a bench without it (or with it broken) still runs.
import type * as IsoTypes from '../ingest/iso8583/mod.js';

export const ISO_MODULE_PATH = path.resolve(import.meta.dirname, '../ingest/iso8583/mod.ts');
type IsoModule = typeof IsoTypes;

export interface VafaPlan {
  warmupEvents: number;
  batchEvents: number;
  batchSize: number;
  batchConcurrency: number;
  singleEvents: number;
  singleConcurrency: number;
  isoEvents: number;
  isoConnections: number;
  isoWindow: number;
  isoCards: number;
  customers: number;
  /** Steady-state scorer phase: offered rate = this fraction of the measured drain throughput. */
  steadyFraction: number;
  steadySeconds: number;
  /** Events published in the first seconds of the steady phase are left out of its latencies. */
  steadyWarmupS: number;
  /** `scorer_steady_5k`: a fixed offered rate (events/s) for `steadySeconds`, latency event → durable. */
  fixedRate: number;
}

export interface CpuReport extends CpuShare {
  loadgen_thread_pct?: number;
  /** The phase's CPU by part of the pipeline (bench/cpu.ts `roleShares`). */
  roles?: CpuRoles;
}

export interface PathResult {
  events: number;
  seconds: number;
  rate: number;
  latency: LatencySummary;
  cpu: CpuReport;
  extra: Record<string, unknown>;
}

export type IsoOutcome = ({ available: true } & PathResult) | { available: false; reason: string };

export interface VafaResults {
  httpBatch: PathResult;
  httpSingle: PathResult;
  iso: IsoOutcome;
  /** Absent with `ingestOnly`. */
  scorer?: PathResult;
  /** The scorer at `fixedRate` offered (`scorer_steady_5k`). Absent with `ingestOnly`. */
  scorerFixed?: PathResult;
  settings: Record<string, unknown>;
}

/** Settings for the bench's stack: production defaults (VAFA_PARTITIONS, VAFA_SCORER_* and VAFA_MODEL may be set), free ports, a temp dir. */
export async function benchSettings(dataDir: string): Promise<Settings> {
  const env: NodeJS.ProcessEnv = {};
  for (const k of ['VAFA_INGEST_WORKERS', 'VAFA_PARTITIONS', 'VAFA_SCORER_BATCH', 'VAFA_SCORER_WAIT_MS', 'VAFA_SINK_LINGER_MS', 'VAFA_SINK_IDLE_LINGER_MS', 'VAFA_CHECKPOINT_MS', 'VAFA_CHECKPOINTS', 'VAFA_MODEL', 'VAFA_RULES', 'VAFA_OFFERS', 'VAFA_LIFECYCLE']) {
    if (process.env[k]) env[k] = process.env[k];
  }
  const level = (process.env.LOG_LEVEL as Settings['logLevel'] | undefined) ?? 'error';
  return loadSettings(env, {
    dataDir, host: '127.0.0.1', port: 0, iso8583Port: 0, localNatsPort: await freePort(), localClickhousePort: await freePort(), logLevel: level,
  });
}

/**
 * Has `cleanup` SIGKILL the stack's engines if the bench dies, and returns the undo that stops the stack
 * (and forgets them).
 */
export function trackStack(cleanup: Cleanup, stack: Stack): () => Promise<void> {
  cleanup.trackPid(stack.localNats?.pid);
  cleanup.trackPid(stack.localWarehouse?.pid);
  return cleanup.add('vafa stack', async () => {
    await stack.stop();
    cleanup.untrackPid(stack.localNats?.pid);
    cleanup.untrackPid(stack.localWarehouse?.pid);
  });
}

/** The stack's child processes by role, as a CpuProbe measures them (each as it is now). */
type StackChildren = Record<string, number | number[] | undefined>;
function stackChildren(stack: Stack): StackChildren {
  return { 'nats-server': stack.localNats?.pid, clickhouse: stack.localWarehouse?.pid, ingest: stack.ingestCluster?.pids() };
}

/** The churn model exactly as `startStack` loads it by default, and what was loaded (or why none was) for the report. */
async function loadChurn(settings: Settings): Promise<{ churn?: ChurnScorer; model: string }> {
  const lines: string[] = [];
  const sink = new Writable({ write(chunk: Buffer, _enc, done) { lines.push(chunk.toString()); done(); } });
  const churn = await loadDefaultChurn(settings, createLogger({ level: 'warn', name: 'bench', destination: sink }));
  if (churn) return { churn, model: path.relative(process.cwd(), settings.modelPath) || settings.modelPath };
  const why = lines.map((l) => { try { return String((JSON.parse(l) as { err?: unknown }).err ?? ''); } catch { return ''; } }).find(Boolean);
  return { model: `none (${(why ?? 'not loaded').replace(/\s+/g, ' ').slice(0, 240)})` };
}

/** Loads the ISO 8583 adapter when it is there; the reason otherwise. */
export async function loadIso(): Promise<{ ok: true; mod: IsoModule } | { ok: false; reason: string }> {
  try {
    const mod = (await import(pathToFileURL(ISO_MODULE_PATH).href)) as Partial<IsoModule>;
    if (typeof mod.startIso8583Listener !== 'function') return { ok: false, reason: 'ingest/iso8583/mod.ts does not export startIso8583Listener' };
    if (typeof mod.encode !== 'function' || typeof mod.decode !== 'function' || typeof mod.frameMessage !== 'function') return { ok: false, reason: 'ingest/iso8583/mod.ts does not export encode/decode/frameMessage' };
    return { ok: true, mod: mod as IsoModule };
  } catch (err) {
    return { ok: false, reason: `ingest/iso8583/mod.ts does not load: ${(err as Error).message.split('\n')[0]}` };
  }
}

function latencyOf(ms: Float64Array | readonly number[]): LatencySummary {
  const r = new Reservoir();
  r.addAll(ms);
  return r.summary();
}

const profiled = (top: HotFunction[] | undefined): { profile_top?: HotFunction[] } => (top ? { profile_top: top } : {});

const loadgenPct = (load: LoadResult): number => Math.round((load.busyMs / (load.seconds * 1000)) * 1000) / 10;
/** The load generator thread's CPU, % of one core (its busy time where its CPU could not be read). */
const loadgenCpuPct = (load: LoadResult): number => (load.cpuMs === undefined ? loadgenPct(load) : Math.round((load.cpuMs / (load.seconds * 1000)) * 1000) / 10);

/** `ingestHere`: the API runs in this process (one ingest worker) rather than in worker processes. */
function fromLoad(load: LoadResult, cpu: CpuShare, ingestHere: boolean, extra: Record<string, unknown> = {}): PathResult {
  return {
    events: load.events,
    seconds: load.seconds,
    rate: load.events / load.seconds,
    latency: latencyOf(load.latenciesMs),
    cpu: { ...cpu, loadgen_thread_pct: loadgenPct(load), roles: roleShares(cpu, ingestHere ? 'ingest' : 'nothing', loadgenCpuPct(load)) },
    extra: { requests: load.requests, codes: load.codes, ...extra },
  };
}

function ensureAllAccepted(what: string, load: LoadResult, expected: number): void {
  if (load.failures > 0 || load.events !== expected) {
    throw new Error(`${what}: ${load.events} of ${expected} events acknowledged, ${load.failures} failures: ${load.errors.join(' | ')}`);
  }
}

/** One phase's batches as the collector keeps them. */
interface PhaseBatches {
  sizes: number[];
  flushMs: number[];
  modelMs: number[];
  stages: BatchStages[];
  latency: Reservoir;
}

const newPhaseBatches = (): PhaseBatches => ({ sizes: [], flushMs: [], modelMs: [], stages: [], latency: new Reservoir() });

const STAGE_NAMES: readonly (keyof BatchStages)[] = ['toApply', 'apply', 'outputs', 'settle', 'commit', 'ack'];

/** p50 and p99 of each stage over the batches, ms (`stages_ms` in the JSON). */
function stageStats(stages: readonly BatchStages[]): Record<string, { p50: number; p99: number }> {
  const out: Record<string, { p50: number; p99: number }> = {};
  for (const name of STAGE_NAMES) {
    const values = stages.map((x) => x[name]);
    out[name] = { p50: Math.round(percentile(values, 50) * 10) / 10, p99: Math.round(percentile(values, 99) * 10) / 10 };
  }
  return out;
}

/** Follows the scorer's micro-batches: counts, batch sizes, flush times and event latencies by phase. */
class BatchCollector {
  scored = 0;
  phase: 'drain' | 'steady' | 'fixed' = 'drain';
  readonly drain = newPhaseBatches();
  readonly steady = newPhaseBatches();
  readonly fixed = newPhaseBatches();
  /** Steady phase: only events JetStream stored at or after this wall time count for latency. */
  steadyFromMs = Number.POSITIVE_INFINITY;
  private waiters: { target: number; resolve: (at: number) => void }[] = [];

  onBatch = (info: BatchInfo): void => {
    if (info.events === 0) return; // a slice of a timer storm: no event to count
    const now = Date.now();
    this.scored += info.events;
    const ph = this[this.phase];
    ph.sizes.push(info.events);
    ph.flushMs.push(info.flushMs);
    ph.modelMs.push(info.modelMs);
    if (this.phase === 'drain' || now >= this.steadyFromMs) ph.stages.push(info.stagesMs);
    for (const l of info.latenciesMs) {
      if (this.phase === 'drain') ph.latency.add(l);
      else if (now - l >= this.steadyFromMs) ph.latency.add(l);
    }
    const at = performance.now();
    this.waiters = this.waiters.filter((w) => {
      if (this.scored < w.target) return true;
      w.resolve(at);
      return false;
    });
  };

  /** Resolves with the performance.now() of the batch that brought the count to `target`. */
  until(target: number, timeoutMs: number, signal: AbortSignal, progress: Progress): Promise<number> {
    if (this.scored >= target) return Promise.resolve(performance.now());
    return new Promise((resolve, reject) => {
      const tick = setInterval(() => {
        progress.update(this.scored, target);
        if (signal.aborted) fail(signal.reason as Error);
      }, 100);
      const timer = setTimeout(() => fail(new Error(`the scorer scored ${this.scored} of ${target} events within ${timeoutMs / 1000} s`)), timeoutMs);
      const done = (): void => {
        clearInterval(tick);
        clearTimeout(timer);
      };
      const fail = (e: Error): void => {
        done();
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(e);
      };
      const waiter = { target, resolve: (at: number) => { done(); progress.update(target, target); resolve(at); } };
      this.waiters.push(waiter);
    });
  }
}

function batchStats({ sizes, flushMs, modelMs, stages }: PhaseBatches): Record<string, unknown> {
  return {
    stages_ms: stageStats(stages),
    batches: sizes.length,
    mean_events: Math.round(mean(sizes) * 10) / 10,
    p50_events: percentile(sizes, 50),
    max_events: sizes.length ? Math.max(...sizes) : 0,
    p50_flush_ms: Math.round(percentile(flushMs, 50) * 10) / 10,
    mean_model_ms: Math.round(mean(modelMs) * 100) / 100,
  };
}

async function streamMessages(stack: Stack, stream: string): Promise<number> {
  return (await (await natsJsm(stack.nc)).streams.info(stream)).state.messages;
}

async function verifyScored(stack: Stack, expected: number): Promise<void> {
  if (!(await waitForDrain(stack, 30_000))) throw new Error('scorer: partition consumers still have pending or un-acked messages');
  const deadline = Date.now() + 30_000;
  let rows = 0;
  while (Date.now() < deadline) {
    rows = await countRows(stack, 'scored_transactions');
    if (rows === expected) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`scorer: scored_transactions holds ${rows} rows, expected ${expected}`);
}

/** What the fixed-rate phase needs from the repeat that runs it. */
interface FixedRateContext {
  stack: Stack;
  collector: BatchCollector;
  cleanup: Cleanup;
  progress: Progress;
  children: () => Record<string, number | number[] | undefined>;
  /** An HTTP load spec continuing the repeat's event numbering. */
  http: (spec: Omit<Extract<LoadSpec, { kind: 'http' }>, 'kind' | 'url' | 'customers' | 'first' | 'prefix'>) => Extract<LoadSpec, { kind: 'http' }>;
  /** Events ingested so far (the scorer has scored them all). */
  ingested: number;
}

/**
 * `scorer_steady_5k`: `plan.fixedRate` events/s offered over HTTP for `plan.steadySeconds` to a running
 * scorer; latency JetStream persist → durable ack of the events stored after the first `steadyWarmupS`.
 */
async function measureFixedRate(plan: VafaPlan, ctx: FixedRateContext): Promise<{ result: PathResult; fixed: LoadResult; ingested: number }> {
  const { stack, collector, cleanup, progress } = ctx;
  progress.phase(`vafa: scorer at a fixed ${plan.fixedRate.toLocaleString('en-US')} events/s offered for ${plan.steadySeconds} s`);
  collector.phase = 'fixed';
  const fixedEvents = Math.round(plan.fixedRate * plan.steadySeconds);
  const fixedLoad = prepareLoad(ctx.http({ events: fixedEvents, perRequest: Math.max(1, Math.ceil(plan.fixedRate / 200)), concurrency: 64, rate: plan.fixedRate }), cleanup, progress);
  await fixedLoad.ready;
  collector.steadyFromMs = Date.now() + plan.steadyWarmupS * 1000;
  const fixedCpu = new CpuProbe(ctx.children());
  const fixed = await fixedLoad.start();
  ensureAllAccepted('fixed-rate load', fixed, fixedEvents);
  const ingested = ctx.ingested + fixed.events;
  await collector.until(ingested, 120_000, cleanup.signal, progress);
  const fixedCpuShare = fixedCpu.stop();
  await verifyScored(stack, ingested);
  const fixedLatency = collector.fixed.latency.summary();
  const result: PathResult = {
    events: fixed.events, seconds: fixed.seconds, rate: fixed.events / fixed.seconds, latency: fixedLatency,
    cpu: { ...fixedCpuShare, loadgen_thread_pct: loadgenPct(fixed), roles: roleShares(fixedCpuShare, 'scorer', loadgenCpuPct(fixed)) },
    extra: {
      offered_rate: plan.fixedRate, latency_events: fixedLatency.count, warmup_s: plan.steadyWarmupS, load_average: os.loadavg().map((x) => Math.round(x * 100) / 100),
      ...batchStats(collector.fixed),
    },
  };
  return { result, fixed, ingested };
}

/**
 * One repeat: a fresh stack, every vafa path (with `ingestOnly`, the ingest paths 2a, 2b and 2d alone: no
 * scorer), the stack stopped and its directory removed.
 */
export async function measureVafa(plan: VafaPlan, repeat: number, cleanup: Cleanup, progress: Progress, hook: PhaseHook = noPhaseHook, ingestOnly = false): Promise<VafaResults> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'vafa-bench-'));
  cleanup.trackDir(dataDir);
  const undoDir = cleanup.add('bench data directory', async () => cleanup.removeDir(dataDir));
  const settings = await benchSettings(dataDir);
  const logger = createLogger({ level: settings.logLevel, name: 'bench', destination: process.stderr });
  // The ISO 8583 listener runs with the API when the adapter is there (startStack wires it to the same ingest service).
  const isoMod = await loadIso();
  progress.phase(`vafa: starting the stack (nats-server, embedded ClickHouse, API${isoMod.ok ? ', ISO 8583 listener' : ''})`);
  // Ingest as `vafa ingest` runs it: one worker process per CPU unless VAFA_INGEST_WORKERS says otherwise.
  const stack = await startStack({ settings, logger, scorer: false, churn: null, iso8583: isoMod.ok, defaultIngestWorkers: os.availableParallelism() });
  const undoStack = trackStack(cleanup, stack);
  let r: RepeatRun | undefined;
  try {
    const run = new RepeatRun(plan, repeat, { cleanup, progress, hook, stack, settings, logger });
    r = run;
    await measureWarmup(run);
    const httpBatch = await measureHttp(run, `vafa: HTTP ingest, batches of ${plan.batchSize}, ${plan.batchConcurrency} clients`, 'HTTP batched', 'http_batch', {
      prefix: 'a', events: plan.batchEvents, perRequest: plan.batchSize, concurrency: plan.batchConcurrency, reportedPerRequest: plan.batchSize,
    });
    const httpSingle = await measureHttp(run, `vafa: HTTP ingest, one event a request, ${plan.singleConcurrency} clients`, 'HTTP single', 'http_single', {
      prefix: 's', events: plan.singleEvents, perRequest: 0, concurrency: plan.singleConcurrency, reportedPerRequest: 1,
    });
    let iso: IsoOutcome;
    if (!isoMod.ok) iso = { available: false, reason: isoMod.reason };
    else if (stack.iso8583Port === undefined) iso = { available: false, reason: 'startStack did not start the ISO 8583 listener' };
    else iso = await measureIso(run, stack.iso8583Port);
    const ingestSettings = { ingest_workers: stack.ingestCluster?.workers ?? 1, partitions: settings.partitions };
    if (ingestOnly) return { httpBatch, httpSingle, iso, settings: ingestSettings };
    const drain = await measureDrain(run);
    const steady = await measureSteady(run, drain.rate, drain.collector);
    // A fixed offered rate (issue 15's `scorer_steady_5k`): event → durable where the target names it.
    const fixedPhase = await measureFixedRate(plan, {
      stack, collector: drain.collector, cleanup, progress, children: () => run.children(), http: (spec) => run.http({ prefix: `${run.prefix}f`, ...spec }), ingested: run.ingested,
    });
    run.ingested = fixedPhase.ingested;
    const { result: scorerFixed, fixed } = fixedPhase;
    await run.stopScorer();
    const scorer = scorerResult(run, drain, steady, fixed);
    return {
      httpBatch, httpSingle, iso, scorer, scorerFixed,
      settings: {
        ...ingestSettings, scorer_batch: settings.scorerBatch, scorer_wait_ms: settings.scorerWaitMs, checkpoint_ms: settings.checkpointMs,
        checkpoint_store: drain.checkpointStore, customers: plan.customers, model: drain.model,
      },
    };
  } finally {
    progress.note('stopping the stack');
    await r?.stopScorer();
    await undoStack();
    await undoDir();
  }
}

type HttpSpec = Extract<LoadSpec, { kind: 'http' }>;

/** One repeat of the full run: its stack, the numbering of its events across phases, what it ingested. */
class RepeatRun {
  readonly cleanup: Cleanup;
  readonly progress: Progress;
  readonly hook: PhaseHook;
  readonly stack: Stack;
  readonly settings: Settings;
  readonly logger: ReturnType<typeof createLogger>;
  /** The API ingests in this process (not in a cluster of worker processes). */
  readonly ingestHere: boolean;
  readonly prefix: string;
  /** Events ingested so far. */
  ingested = 0;
  private readonly url: string;
  /** Event index: event time and customers follow it across phases. */
  private next = 0;
  private undoScorer: (() => Promise<void>) | undefined;

  constructor(
    readonly plan: VafaPlan,
    readonly repeat: number,
    o: { cleanup: Cleanup; progress: Progress; hook: PhaseHook; stack: Stack; settings: Settings; logger: ReturnType<typeof createLogger> },
  ) {
    ({ cleanup: this.cleanup, progress: this.progress, hook: this.hook, stack: this.stack, settings: this.settings, logger: this.logger } = o);
    this.ingestHere = this.stack.ingestCluster === undefined;
    if (this.stack.apiUrl === undefined) throw new Error('bench: the stack runs no API');
    this.url = `${this.stack.apiUrl}/v1/transactions`;
    this.prefix = `b${repeat}`;
  }

  /** An HTTP load of the next `spec.events` events. */
  http(spec: Omit<HttpSpec, 'kind' | 'url' | 'customers' | 'first'>): HttpSpec {
    const s = { kind: 'http' as const, url: this.url, customers: this.plan.customers, first: this.next, ...spec };
    this.next += spec.events;
    return s;
  }

  children(): StackChildren {
    return stackChildren(this.stack);
  }

  /** Registers the scorer's stack for stopping (at the end of its phases, or on a failure). */
  scorerStarted(scorerStack: Stack): void {
    this.undoScorer = this.cleanup.add('scorer', () => scorerStack.stop());
  }

  async stopScorer(): Promise<void> {
    await this.undoScorer?.();
  }
}

/** Untimed: batched and single requests, so that the timed phases find everything warm. */
async function measureWarmup(r: RepeatRun): Promise<void> {
  const { plan, cleanup, progress } = r;
  progress.phase('vafa: warm-up (untimed)');
  const warm = await runLoad(r.http({ prefix: `${r.prefix}w`, events: plan.warmupEvents, perRequest: plan.batchSize, concurrency: 2 }), cleanup, progress);
  ensureAllAccepted('warm-up', warm, plan.warmupEvents);
  r.ingested += warm.events;
  const warmSingles = Math.min(200, plan.warmupEvents);
  const warm2 = await runLoad(r.http({ prefix: `${r.prefix}v`, events: warmSingles, perRequest: 0, concurrency: 8 }), cleanup, progress);
  ensureAllAccepted('warm-up', warm2, warmSingles);
  r.ingested += warm2.events;
}

/** One timed HTTP ingest path: `events` events, `perRequest` a request (0: one, unwrapped), `concurrency` clients. */
async function measureHttp(
  r: RepeatRun,
  phase: string,
  what: string,
  profileName: string,
  o: { prefix: string; events: number; perRequest: number; concurrency: number; reportedPerRequest: number },
): Promise<PathResult> {
  r.progress.phase(phase);
  const load = prepareLoad(r.http({ prefix: `${r.prefix}${o.prefix}`, events: o.events, perRequest: o.perRequest, concurrency: o.concurrency }), r.cleanup, r.progress);
  await load.ready;
  await r.hook.begin();
  const cpu = new CpuProbe(r.children());
  const done = await load.start();
  const result = fromLoad(done, cpu.stop(), r.ingestHere, { per_request: o.reportedPerRequest, concurrency: o.concurrency, ...profiled(await r.hook.end(profileName)) });
  ensureAllAccepted(what, done, o.events);
  r.ingested += done.events;
  return result;
}

/** ISO 8583 ingest: framed 0200s over `isoConnections` connections, for cards registered to known customers. */
async function measureIso(r: RepeatRun, port: number): Promise<IsoOutcome> {
  const { plan, stack, settings } = r;
  r.progress.phase(`vafa: ISO 8583 ingest, framed 0200 over ${plan.isoConnections} connections`);
  // Cards belong to known customers (as after their profiles arrived): the adapter's directory lookups hit.
  const cards = await NatsCardDirectory.open(stack.nc, settings.streamReplicas);
  for (let c = 0; c < plan.isoCards; c += 100) {
    await Promise.all(Array.from({ length: Math.min(100, plan.isoCards - c) }, (_, j) =>
      cards.register(tokenizePan(benchPan(c + j), settings.tokenKey), `BC${String(customerIndex(c + j, plan.customers)).padStart(7, '0')}`)));
  }
  const dlqBefore = await streamMessages(stack, STREAM_DLQ);
  const isoSpec = (events: number, connectionBase: number): Extract<LoadSpec, { kind: 'iso' }> => ({
    kind: 'iso', host: '127.0.0.1', port, connections: plan.isoConnections, window: plan.isoWindow, events,
    cards: plan.isoCards, connectionBase, codecModule: pathToFileURL(ISO_MODULE_PATH).href,
  });
  // Untimed, as the HTTP paths' warm-up: the timed phase measures a listener that has run, not its first
  // second. Its own acquirer numbers (the connection base), so its ids are not the timed messages'.
  const warm = await runLoad(isoSpec(plan.warmupEvents, r.repeat * 100 + plan.isoConnections), r.cleanup, r.progress);
  ensureAllAccepted('ISO 8583 warm-up', warm, plan.warmupEvents);
  r.ingested += warm.events;
  const isoLoad = prepareLoad(isoSpec(plan.isoEvents, r.repeat * 100), r.cleanup, r.progress);
  await isoLoad.ready;
  await r.hook.begin();
  const cpu = new CpuProbe(r.children());
  const load = await isoLoad.start();
  const dlq = (await streamMessages(stack, STREAM_DLQ)) - dlqBefore;
  const iso: IsoOutcome = { available: true, ...fromLoad(load, cpu.stop(), r.ingestHere, { connections: plan.isoConnections, window: plan.isoWindow, dlq, ...profiled(await r.hook.end('iso8583')) }) };
  ensureAllAccepted('ISO 8583', load, plan.isoEvents);
  if (dlq > 0) throw new Error(`ISO 8583: ${dlq} messages went to the DLQ`);
  r.ingested += load.events;
  return iso;
}

/** The drain phase: the scorer started on everything ingested waiting in TX, until it has scored it all. */
interface Drain {
  collector: BatchCollector;
  model: Awaited<ReturnType<typeof loadChurn>>['model'];
  partitions: number;
  checkpointStore: Settings['checkpointStore'];
  startedS: number;
  seconds: number;
  rate: number;
  cpu: CpuShare;
  profile: ReturnType<typeof profiled>;
}

/**
 * The state store the measured scorer uses: `VAFA_CHECKPOINTS` when set, else what `auto` means for the
 * all-in-one (`vafa up`, whose nats-server is embedded): the LMDB store (scorer/runtime/store/mod.ts).
 * Until December 2026 the bench used the `file` store here, which saves the whole state on an interval
 * and so left out the per-batch commit the product makes.
 */
function allInOneStore(settings: Settings): Settings['checkpointStore'] {
  return settings.checkpointStore === 'auto' ? 'lmdb' : settings.checkpointStore;
}

/**
 * JetStream → scorer → ClickHouse: everything ingested so far is waiting in TX. The scorer starts as the
 * scorer role does (`vafa scorer`: its own connection, wired by startStack), in this process.
 */
async function measureDrain(r: RepeatRun): Promise<Drain> {
  const { settings, stack, progress } = r;
  const { churn, model } = await loadChurn(settings);
  const collector = new BatchCollector();
  const partitions = settings.scorerPartitions === 'all' ? settings.partitions : settings.scorerPartitions.length;
  progress.phase(`vafa: scorer drains ${r.ingested.toLocaleString('en-US')} events from TX into ClickHouse (${partitions} partitions)`);
  // State as the all-in-one keeps it (`auto` with the embedded nats-server: the LMDB store, committed after every batch) unless VAFA_CHECKPOINTS says otherwise.
  const checkpointStore = allInOneStore(settings);
  const scorerSettings: Settings = Object.freeze({ ...settings, natsUrl: stack.natsUrl, clickhouseUrl: stack.clickhouseUrl, checkpointStore });
  await r.hook.begin();
  const cpu = new CpuProbe(r.children());
  const t0 = performance.now();
  const scorerStack = await startStack({ settings: scorerSettings, logger: r.logger, api: false, scorer: true, churn: churn ?? null, onBatch: collector.onBatch });
  r.scorerStarted(scorerStack);
  const startedS = (performance.now() - t0) / 1000;
  const tDone = await collector.until(r.ingested, 600_000, r.cleanup.signal, progress);
  const drainCpu = cpu.stop();
  const seconds = (tDone - t0) / 1000;
  const profile = profiled(await r.hook.end('scorer_drain'));
  progress.note('verifying: consumers drained, scored_transactions FINAL count');
  await verifyScored(stack, r.ingested);
  return { collector, model, partitions, checkpointStore, startedS, seconds, rate: r.ingested / seconds, cpu: drainCpu, profile };
}

/** The steady phase: what was offered and what came of it. */
interface Steady {
  rate: number;
  perRequest: number;
  load: LoadResult;
  cpu: CpuShare;
  profile: ReturnType<typeof profiled>;
}

/** Steady state: a fixed offered rate below capacity (a fraction of the drain rate), so latency is not the pre-load's queueing. */
async function measureSteady(r: RepeatRun, drainRate: number, collector: BatchCollector): Promise<Steady> {
  const { plan, progress } = r;
  const rate = Math.max(10, Math.round(drainRate * plan.steadyFraction));
  const steadyEvents = Math.max(rate, Math.round(rate * plan.steadySeconds));
  const perRequest = Math.max(1, Math.ceil(rate / 200));
  progress.phase(`vafa: scorer steady state at ${rate.toLocaleString('en-US')} events/s offered (${Math.round(plan.steadyFraction * 100)} % of drain) for ${plan.steadySeconds} s`);
  collector.phase = 'steady';
  const steadyLoad = prepareLoad(r.http({ prefix: `${r.prefix}t`, events: steadyEvents, perRequest, concurrency: 64, rate }), r.cleanup, progress);
  await steadyLoad.ready;
  collector.steadyFromMs = Date.now() + plan.steadyWarmupS * 1000;
  await r.hook.begin();
  const steadyCpu = new CpuProbe(r.children());
  const load = await steadyLoad.start();
  ensureAllAccepted('steady-state load', load, steadyEvents);
  r.ingested += load.events;
  await collector.until(r.ingested, 120_000, r.cleanup.signal, progress);
  const cpu = steadyCpu.stop();
  const profile = profiled(await r.hook.end('scorer_steady'));
  await verifyScored(r.stack, r.ingested);
  return { rate, perRequest, load, cpu, profile };
}

/** The scorer path's result: drain throughput, steady-state latency, both phases' details. */
function scorerResult(r: RepeatRun, drain: Drain, steady: Steady, fixed: LoadResult): PathResult {
  const { collector } = drain;
  const steadyLatency = collector.steady.latency.summary();
  if (steadyLatency.count === 0) throw new Error('scorer steady state: no event latencies were recorded');
  const load = steady.load;
  return {
    events: r.ingested - load.events - fixed.events,
    seconds: drain.seconds,
    rate: drain.rate,
    latency: steadyLatency,
    cpu: { ...drain.cpu, roles: roleShares(drain.cpu, 'scorer') },
    extra: {
      model: drain.model,
      partitions: drain.partitions,
      scorer_start_s: drain.startedS,
      ...drain.profile,
      drain: { ...batchStats(collector.drain), queueing_latency_ms: collector.drain.latency.summary() },
      steady: {
        offered_rate: steady.rate, per_request: steady.perRequest, seconds: load.seconds, events: load.events, achieved_ingest_rate: load.events / load.seconds,
        latency_events: steadyLatency.count, warmup_s: r.plan.steadyWarmupS,
        ...batchStats(collector.steady),
        http_latency_ms: latencyOf(load.latenciesMs), cpu: { ...steady.cpu, loadgen_thread_pct: loadgenPct(load), roles: roleShares(steady.cpu, 'scorer', loadgenCpuPct(load)) },
        ...steady.profile,
      },
    },
  };
}

/**
 * `vafa bench --only steady`: `scorer_steady_5k` alone on a fresh stack (no ISO 8583 listener). A warm-up
 * is ingested and drained by the scorer (untimed) and then the fixed-rate phase runs as in the full run.
 */
export async function measureSteadyAlone(plan: VafaPlan, repeat: number, cleanup: Cleanup, progress: Progress): Promise<{ scorerFixed: PathResult; settings: Record<string, unknown> }> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'vafa-bench-'));
  cleanup.trackDir(dataDir);
  const undoDir = cleanup.add('bench data directory', async () => cleanup.removeDir(dataDir));
  const settings = await benchSettings(dataDir);
  const logger = createLogger({ level: settings.logLevel, name: 'bench', destination: process.stderr });
  progress.phase('vafa: starting the stack (nats-server, embedded ClickHouse, API)');
  const stack = await startStack({ settings, logger, scorer: false, churn: null, iso8583: false, defaultIngestWorkers: os.availableParallelism() });
  const undoStack = trackStack(cleanup, stack);
  const children = (): StackChildren => stackChildren(stack);
  if (stack.apiUrl === undefined) throw new Error('bench: the stack runs no API');
  const url = `${stack.apiUrl}/v1/transactions`;
  let next = 0;
  const http = (spec: Omit<Extract<LoadSpec, { kind: 'http' }>, 'kind' | 'url' | 'customers' | 'first'>): Extract<LoadSpec, { kind: 'http' }> => {
    const s = { kind: 'http' as const, url, customers: plan.customers, first: next, ...spec };
    next += spec.events;
    return s;
  };
  let undoScorer: (() => Promise<void>) | undefined;
  try {
    progress.phase('vafa: warm-up (untimed)');
    const warm = await runLoad(http({ prefix: `o${repeat}w`, events: plan.warmupEvents, perRequest: plan.batchSize, concurrency: 2 }), cleanup, progress);
    ensureAllAccepted('warm-up', warm, plan.warmupEvents);
    const { churn, model } = await loadChurn(settings);
    const collector = new BatchCollector();
    const checkpointStore = allInOneStore(settings);
    const scorerSettings: Settings = Object.freeze({ ...settings, natsUrl: stack.natsUrl, clickhouseUrl: stack.clickhouseUrl, checkpointStore });
    progress.phase('vafa: the scorer drains the warm-up (untimed)');
    const scorerStack = await startStack({ settings: scorerSettings, logger, api: false, scorer: true, churn: churn ?? null, onBatch: collector.onBatch });
    undoScorer = cleanup.add('scorer', () => scorerStack.stop());
    await collector.until(warm.events, 120_000, cleanup.signal, progress);
    await verifyScored(stack, warm.events);
    const { result } = await measureFixedRate(plan, { stack, collector, cleanup, progress, children, http: (spec) => http({ prefix: `o${repeat}f`, ...spec }), ingested: warm.events });
    return {
      scorerFixed: result,
      settings: {
        ingest_workers: stack.ingestCluster?.workers ?? 1, partitions: settings.partitions, scorer_batch: settings.scorerBatch, scorer_wait_ms: settings.scorerWaitMs,
        sink_linger_ms: settings.sinkLingerMs, sink_idle_linger_ms: settings.sinkIdleLingerMs, checkpoint_ms: settings.checkpointMs, checkpoint_store: checkpointStore, customers: plan.customers, model,
      },
    };
  } finally {
    progress.note('stopping the stack');
    await undoScorer?.();
    await undoStack();
    await undoDir();
  }
}
