/**
 * `vafa bench` (`npm run bench`): in one run on one machine, the raw NATS JetStream ceilings and vafa's
 * own paths, each repeated and reported as the median, with the ratio of each vafa path to the ceiling
 * that bounds it. Writes bench-results/bench-<timestamp>.json and .html. See bench/README.md.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Command } from '../app/mod.js';
import { findNatsServer } from '../platform/mod.js';
import { Cleanup } from './cleanup.js';
import type { GcPauses } from './cpu.js';
import { silentProgress, terminalProgress, type Progress } from './progress.js';
import { measureRaw, type RawPlan, type RawResult } from './raw.js';
import { measureSteadyAlone, measureVafa, type PathResult, type VafaPlan } from './vafa.js';
import { noPhaseHook, Profiler, profilingHook } from './profile.js';
import { median } from './stats.js';
import { defaultScalingPlan, measureScaling, renderScaling, type ScalingReport } from './scaling.js';
import { renderBars, renderCore, renderHtml, renderTable, summarize, type BenchReport, type CoreReport, type Machine, type MeasurementId, type RepeatSample } from './report.js';
import { DEFAULT_CORE_PLAN, measureCore, medianStore, storeEncoder, prepareCoreInput, type CoreResult } from './core.js';
import { CODEC_VERSION } from '../scorer/runtime/store/mod.js';
import { DEFAULT_MILLION_PLAN, measureMillion, renderMillion, type MillionReport } from './million.js';

const PROJECT_ROOT = path.resolve(import.meta.dirname, '..');
/** Sized so that three repeats take about 2–4 minutes on 2 cores. */
export const DEFAULT_EVENTS = 40_000;
export const QUICK_EVENTS = 3_000;

export interface BenchOptions {
  events: number;
  repeat: number;
  quick: boolean;
  json: boolean;
  out: string;
  /** Profile the main thread during each vafa phase (.cpuprofile files and the hottest functions in the JSON). */
  profile: boolean;
  /** Issue 8: scorer scaling (1, 2, 4 processes) and recovery after a kill; on in the full run, off in --quick. */
  scaling: boolean;
  /**
   * `scaling` / `core` / `million` / `steady`: only those phases (no ceilings, no other vafa paths). `million` runs
   * only alone; `steady` is `scorer_steady_5k` alone, `repeat` times, each on a fresh stack. `ingest`: the
   * raw ceilings and the ingest paths (2a, 2b, 2d), no scorer.
   */
  only?: 'scaling' | 'core' | 'million' | 'steady' | 'ingest';
  /** The scorer core alone over a simulated year (bench/core.ts); on in the full run, off in --quick. Default false. */
  core?: boolean;
}

export function planFor(events: number, quick: boolean): { raw: RawPlan; vafa: VafaPlan } {
  return {
    raw: { coreMessages: Math.max(20_000, events * 4), stockMessages: Math.max(1_000, Math.round(events / 4)) },
    vafa: {
      warmupEvents: quick ? 500 : Math.min(5_000, Math.max(1_000, Math.round(events / 10))),
      batchEvents: events, batchSize: 500, batchConcurrency: 6,
      singleEvents: Math.max(500, Math.round(events / 5)), singleConcurrency: 48,
      isoEvents: Math.max(500, events), isoConnections: 64, isoWindow: 8, isoCards: quick ? 100 : 500,
      customers: Math.max(1_000, Math.round(events / 5)),
      steadyFraction: 0.5, steadySeconds: quick ? 3 : 10, steadyWarmupS: quick ? 0.5 : 1, fixedRate: 5_000,
    },
  };
}

function machine(): Machine {
  let nats: string;
  try {
    nats = execFileSync(findNatsServer(), ['--version'], { encoding: 'utf8', timeout: 5000 }).trim().replace(/^nats-server:\s*/, '');
  } catch (err) {
    nats = `unknown (${(err as Error).message.split('\n')[0]})`;
  }
  const cpus = os.cpus();
  return {
    cores: os.availableParallelism?.() ?? cpus.length,
    cpu_model: cpus[0]?.model.trim() ?? 'unknown',
    memory_gib: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    nats_server: nats,
    load_average_start: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

function echartsSource(): string | undefined {
  try {
    return readFileSync(createRequire(import.meta.url).resolve('echarts/dist/echarts.min.js'), 'utf8');
  } catch {
    return undefined;
  }
}

const rawSample = (r: RawResult): RepeatSample => ({
  events: r.persisted ?? r.messages, seconds: r.seconds, ...(r.latency ? { latency: r.latency } : {}), ...(r.cpu ? { cpu: r.cpu } : {}),
  extra: { messages: r.messages, ...(r.persisted !== undefined ? { persisted: r.persisted } : {}) },
});
const pathSample = (p: PathResult): RepeatSample => ({ events: p.events, seconds: p.seconds, latency: p.latency, cpu: p.cpu, extra: p.extra });

/** The core phase: the simulated year prepared once (cached on disk), replayed `repeat` times. */
async function runCore(repeat: number, progress: Progress): Promise<CoreReport> {
  const plan = DEFAULT_CORE_PLAN;
  progress.phase(`core: simulating (or reading the cached) ${plan.customers.toLocaleString('en-US')} customers × ${plan.days} days`);
  const input = await prepareCoreInput(plan);
  const results: (CoreResult & { load: number[] })[] = [];
  for (let r = 0; r < repeat; r++) {
    progress.phase(`core: replaying ${input.subjects.length.toLocaleString('en-US')} events through the pure core [${r + 1}/${repeat}]`);
    results.push({ ...(await measureCore(plan, storeEncoder, input)), load: os.loadavg().map((x) => Math.round(x * 100) / 100) });
  }
  const [first] = results;
  if (!first) throw new Error('core: no repeat was measured');
  const us = median(results.map((x) => x.us_per_event));
  return {
    id: 'scorer_core', name: '2e vafa: scorer core alone (decode, apply, complete; no I/O)', events: input.subjects.length,
    events_per_s: 1e6 / us, us_per_event: us, cpu_us_per_event: median(results.map((x) => x.cpu_us_per_event)),
    decode_us_per_event: median(results.map((x) => x.decode_us_per_event)), ceiling: 'pull_consume', ceiling_events_per_s: null, ratio: null,
    plan: { ...plan }, state: { ...first.state, encoder: `the state store's record (codec v${CODEC_VERSION}, as committed to LMDB)`, json: first.state_json },
    store: medianStore(results.map((x) => x.store)),
    repeats: results.map((x, i) => ({
      repeat: i + 1, events_per_s: x.events_per_s, us_per_event: x.us_per_event, cpu_us_per_event: x.cpu_us_per_event, decode_us_per_event: x.decode_us_per_event, load_average: x.load,
    })),
  };
}

function timestamp(d: Date): string {
  return d.toISOString().replace(/[:]/g, '-').replace(/\.\d{3}Z$/, 'Z');
}

/** Runs the whole bench; returns the report and where it was written. */
export async function runBench(opts: BenchOptions, progressFor: (prefix: () => string) => Progress): Promise<{ report: BenchReport; files: { json: string; html: string } }> {
  const started = new Date();
  const cleanup = new Cleanup();
  cleanup.install();
  const label = { current: '' };
  const progress = progressFor(() => label.current);
  try {
    const plan = planFor(opts.events, opts.quick);
    const mach = machine();
    const base = path.join(opts.out, `bench-${timestamp(started)}`);
    const run = await measureRepeats(opts, plan, { cleanup, progress, label, base });
    let core: CoreReport | undefined;
    if (opts.only === 'core' || (opts.core && !opts.only)) {
      label.current = '[core]';
      core = await runCore(opts.repeat, progress);
    }
    let scaling: ScalingReport | undefined;
    let million: MillionReport | undefined;
    if (opts.only === 'million') {
      label.current = '[million]';
      million = await measureMillion(DEFAULT_MILLION_PLAN, progress);
    }
    if ((opts.scaling && !opts.only) || opts.only === 'scaling') {
      label.current = '[scaling]';
      scaling = await measureScaling(defaultScalingPlan(), cleanup, progress);
    }
    progress.done();
    const finished = new Date();
    const scorerIds: readonly MeasurementId[] = ['scorer', 'scorer_steady_5k'];
    const measurements = summarize(run.samples, run.unavailable).filter((m) => opts.only !== 'ingest' || !scorerIds.includes(m.id));
    if (core) {
      const pull = measurements.find((m) => m.id === 'pull_consume')?.events_per_s ?? null;
      core.ceiling_events_per_s = pull;
      core.ratio = pull ? core.events_per_s / pull : null;
    }
    const html = echartsSource();
    const notes = benchNotes(mach, measurements, run.unavailable, plan, html !== undefined && html !== '');
    const report: BenchReport = {
      kind: 'vafa-bench', version: 1,
      started_at: started.toISOString(), finished_at: finished.toISOString(), duration_s: (finished.getTime() - started.getTime()) / 1000,
      options: { events: opts.events, repeat: opts.repeat, quick: opts.quick, profile: opts.profile },
      machine: { ...mach, load_average_end: os.loadavg().map((x) => Math.round(x * 100) / 100) },
      settings: run.settings, plan: { raw: plan.raw, vafa: plan.vafa }, measurements, notes,
      ...(scaling ? { scaling } : {}),
      ...(core ? { core, state: core.state } : {}),
      ...(million ? { million } : {}),
    };
    mkdirSync(opts.out, { recursive: true });
    const files = { json: `${base}.json`, html: `${base}.html` };
    writeFileSync(files.json, `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(files.html, renderHtml(report, html));
    return { report, files };
  } finally {
    progress.done();
    await cleanup.runAll();
    cleanup.uninstall();
  }
}

/** The samples of every repeat, by measurement, what was not available and why, and the stack's settings. */
interface RepeatsRun {
  samples: Partial<Record<MeasurementId, (RepeatSample | undefined)[]>>;
  unavailable: Partial<Record<MeasurementId, string>>;
  settings: Record<string, unknown>;
}

/** The repeats: raw NATS ceilings and vafa's paths (with `--profile`, a CPU profile per phase), or `--only steady`. */
async function measureRepeats(
  opts: BenchOptions,
  plan: ReturnType<typeof planFor>,
  ctx: { cleanup: Cleanup; progress: Progress; label: { current: string }; base: string },
): Promise<RepeatsRun> {
  const { cleanup, progress, label, base } = ctx;
  const run: RepeatsRun = { samples: {}, unavailable: {}, settings: {} };
  const add = (id: MeasurementId, r: number, s: RepeatSample | undefined): void => {
    (run.samples[id] ??= [])[r] = s;
  };
  let profiler: Profiler | undefined;
  if (opts.profile) {
    mkdirSync(opts.out, { recursive: true });
    const p = new Profiler();
    profiler = p;
    cleanup.add('profiler', async () => p.close());
  }
  const ingestOnly = opts.only === 'ingest';
  for (let r = 0; r < (!opts.only || ingestOnly ? opts.repeat : 0); r++) {
    label.current = `[${r + 1}/${opts.repeat}]`;
    const raw = await measureRaw(plan.raw, cleanup, progress);
    add('core_publish', r, rawSample(raw.core));
    add('stock_publish', r, rawSample(raw.stock));
    add('pull_consume', r, rawSample(raw.pull));
    const hook = profiler ? profilingHook(profiler, (name, json) => writeFileSync(`${base}-r${r + 1}-${name}.cpuprofile`, json)) : noPhaseHook;
    const v = await measureVafa(plan.vafa, r + 1, cleanup, progress, hook, ingestOnly);
    add('http_batch', r, pathSample(v.httpBatch));
    add('http_single', r, pathSample(v.httpSingle));
    if (v.scorer) add('scorer', r, pathSample(v.scorer));
    if (v.scorerFixed) add('scorer_steady_5k', r, pathSample(v.scorerFixed));
    if (v.iso.available) add('iso8583', r, pathSample(v.iso));
    else run.unavailable.iso8583 = v.iso.reason;
    run.settings = v.settings;
  }
  for (let r = 0; r < (opts.only === 'steady' ? opts.repeat : 0); r++) {
    label.current = `[steady ${r + 1}/${opts.repeat}]`;
    const v = await measureSteadyAlone(plan.vafa, r + 1, cleanup, progress);
    add('scorer_steady_5k', r, pathSample(v.scorerFixed));
    run.settings = v.settings;
  }
  return run;
}

/** What the reader of the report should know: a busy machine, a path not available, lost messages, a saturated steady phase. */
function benchNotes(
  mach: ReturnType<typeof machine>,
  measurements: ReturnType<typeof summarize>,
  unavailable: Partial<Record<MeasurementId, string>>,
  plan: ReturnType<typeof planFor>,
  echarts: boolean,
): string[] {
  const notes: string[] = [];
  const busy = mach.load_average_start[0] ?? 0;
  const others = measurements.flatMap((m) => m.repeats.map((x) => (x.cpu as { others_pct?: number } | undefined)?.others_pct)).filter((x): x is number => x !== undefined);
  if (others.length && median(others) > 10) notes.push(`other processes on the machine used a median ${Math.round(median(others))} % of a core during the measurements (up to ${Math.round(Math.max(...others))} %): see cpu.others_pct per repeat`);
  if (busy > mach.cores * 0.5) notes.push(`the machine was busy when the bench started (1-minute load average ${busy} on ${mach.cores} cores): other processes shared the CPU, so figures are lower and noisier than on an idle machine`);
  if (unavailable.iso8583) notes.push(`ISO 8583 ingest: not available yet (${unavailable.iso8583})`);
  const lost = measurements.find((m) => m.id === 'core_publish')?.repeats.filter((x) => Number(x.extra?.persisted) < Number(x.extra?.messages)) ?? [];
  if (lost.length) notes.push('core-NATS publish lost messages in some repeats (no flow control without acks); its rate counts only what the stream persisted');
  if (!echarts) notes.push('ECharts is not installed: the HTML page draws its bars as CSS widths');
  const scorer = measurements.find((m) => m.id === 'scorer');
  const steady = scorer?.repeats[0]?.extra?.steady as { offered_rate?: number } | undefined;
  if (steady?.offered_rate) notes.push(`scorer p50/p99: JetStream persist → durable ack per event, at a fixed offered rate of ${Math.round(plan.vafa.steadyFraction * 100)} % of the measured drain throughput (first repeat: ${steady.offered_rate.toLocaleString('en-US')} events/s over HTTP); its events/s is the drain of the pre-loaded stream`);
  for (const x of scorer?.repeats ?? []) {
    const st = x.extra?.steady as { offered_rate?: number; achieved_ingest_rate?: number } | undefined;
    if (st?.offered_rate && st.achieved_ingest_rate !== undefined && st.achieved_ingest_rate < st.offered_rate * 0.9) {
      notes.push(`repeat ${x.repeat}: the scorer's steady phase reached only ${Math.round(st.achieved_ingest_rate).toLocaleString('en-US')} of the ${st.offered_rate.toLocaleString('en-US')} events/s offered (the machine was saturated), so its latencies include queueing`);
    }
  }
  return notes;
}

/** A phase's main-thread GC pauses, as the steady lines print them. */
const gcText = (gc: GcPauses | undefined): string => (gc ? `; main-thread GC ${gc.count} pauses, ${gc.total_ms.toFixed(0)} ms (${gc.share_pct.toFixed(1)} % of the time), longest ${gc.longest_ms.toFixed(0)} ms` : '');

/** `--only steady`: each repeat's p50/p99 event → durable, load, CPU by part, GC pauses and sink figures, then the medians. */
function renderSteady(report: BenchReport): string {
  const m = report.measurements.find((x) => x.id === 'scorer_steady_5k');
  if (!m?.available) return 'scorer_steady_5k: not measured';
  const pct = (v: unknown): string => (typeof v === 'number' ? v.toFixed(0) : '—');
  const lines = m.repeats.map((x) => {
    const roles = (x.cpu as { roles?: Record<string, number | null> } | undefined)?.roles ?? {};
    const e = x.extra ?? {};
    return `repeat ${x.repeat}: ${Math.round(x.events_per_s).toLocaleString('en-US')} events/s, p50 ${x.p50_ms?.toFixed(1) ?? '—'} ms, p99 ${x.p99_ms?.toFixed(1) ?? '—'} ms`
      + `; load ${(e.load_average as number[] | undefined)?.[0] ?? '—'}; CPU % of a core: scorer ${pct(roles.scorer)}, ClickHouse ${pct(roles.clickhouse)}, nats ${pct(roles['nats-server'])}, ingest ${pct(roles.ingest)}, machine ${pct(roles.machine)}`
      + `; batches ${String(e.batches)} (mean ${String(e.mean_events)} events), p50 sink ${String(e.p50_flush_ms)} ms`
      + gcText((x.cpu as { gc?: GcPauses } | undefined)?.gc)
      + `\n  a batch's stages, p50 (p99) ms: ${Object.entries((e.stages_ms ?? {}) as Record<string, { p50: number; p99: number }>).map(([k, v]) => `${k} ${v.p50} (${v.p99})`).join(', ')}`;
  });
  return [...lines, `${m.name}: median of ${m.repeats.length}: p50 ${m.p50_ms?.toFixed(1) ?? '—'} ms, p99 ${m.p99_ms?.toFixed(1) ?? '—'} ms (target p50 ≤ 15, p99 ≤ 50)`].join('\n');
}

const ONLY: readonly NonNullable<BenchOptions['only']>[] = ['scaling', 'core', 'million', 'steady', 'ingest'];

const positiveInt = (name: string, raw: string | undefined, fallback: number): number => {
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 1) throw Object.assign(new Error(`--${name} must be a positive whole number (got ${JSON.stringify(raw)})`), { code: 'ERR_PARSE_ARGS_BENCH' });
  return v;
};

export const benchCommand: Command = {
  summary: 'Measure throughput and latency of vafa\'s paths against the raw NATS JetStream ceilings on this machine.',
  usage: [
    'vafa bench [--events N] [--repeat 3] [--quick] [--json] [--out DIR] [--profile] [--scaling | --no-scaling] [--only scaling|core|million|steady|ingest]',
    `  --events N   events per vafa path (ingest batched; single ${'≈'}N/5, ISO N; the ceilings use 4N and N/4). Default ${DEFAULT_EVENTS.toLocaleString('en-US')}`,
    '  --repeat R   repeat every measurement R times and report the median (default 3)',
    `  --quick      ${QUICK_EVENTS.toLocaleString('en-US')} events, one repeat, short steady phase: a smoke test, not a benchmark`,
    '  --json       print only the JSON report on stdout',
    '  --out DIR    where bench-<timestamp>.json and .html go (default bench-results/)',
    '  --profile    CPU-profile the main thread (API, scorer) in each vafa phase: .cpuprofile files next to the',
    '               report and each phase\'s hottest functions in the JSON (slows the measured paths a little)',
    '  --scaling    also measure scorer scaling over 1, 2, 4 `vafa scorer` processes and recovery after a kill',
    '               per checkpoint interval (on by default; off with --quick or --no-scaling)',
    '  --only scaling  only those measurements',
    '  --only core  only the scorer core over a simulated year (1,000 customers, 365 days, cached under the temp',
    '               directory): events/s, µs an event, state bytes per customer (also part of the full run)',
    '  --only million  1,000,000 customers in the LMDB store (300 simulated over 365 days, cloned; built once',
    '               into the temp directory: ~2 min and ~7 GB here): scorer RSS on random customers, recovery after SIGKILL,',
    '               partition start whole vs lazy. Not part of the full run (bench/million.ts)',
    '',
    '  --only steady  only `scorer_steady_5k` (issue 15): a fresh stack, a warm-up drained by the scorer, then',
    '               5,000 events/s offered over HTTP for 10 s (3 s with --quick); p50/p99 event → durable and CPU by',
    '               part, --repeat times (about 40 s a repeat)',
    '  --only ingest  the raw ceilings and the ingest paths alone (2a HTTP batched, 2b HTTP single, 2d ISO 8583),',
    '               no scorer: about a third of a full repeat, for sizing ingest or comparing ingest builds',
    '',
    'Starts its own nats-server and embedded ClickHouse on free ports in temporary directories and removes them',
    'afterwards (also on Ctrl-C). Needs nats-server (Debian: apt-get install nats-server).',
  ].join('\n'),
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: {
        events: { type: 'string' },
        repeat: { type: 'string' },
        quick: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        out: { type: 'string' },
        profile: { type: 'boolean', default: false },
        scaling: { type: 'boolean' },
        'no-scaling': { type: 'boolean', default: false },
        only: { type: 'string' },
      },
    });
    if (values.only !== undefined && !ONLY.includes(values.only as NonNullable<BenchOptions['only']>)) throw Object.assign(new Error(`--only takes "scaling", "core", "million", "steady" or "ingest" (got ${JSON.stringify(values.only)})`), { code: 'ERR_PARSE_ARGS_BENCH' });
    const quick = values.quick ?? false;
    const opts: BenchOptions = {
      events: positiveInt('events', values.events, quick ? QUICK_EVENTS : DEFAULT_EVENTS),
      repeat: positiveInt('repeat', values.repeat, quick ? 1 : 3),
      quick,
      json: values.json ?? false,
      out: path.resolve(values.out ?? path.join(PROJECT_ROOT, 'bench-results')),
      profile: values.profile ?? false,
      scaling: values['no-scaling'] ? false : (values.scaling ?? !quick),
      ...(values.only !== undefined ? { only: values.only as NonNullable<BenchOptions['only']> } : {}),
      core: !quick,
    };
    const tty = !opts.json && process.stdout.isTTY ? process.stdout : process.stderr.isTTY ? process.stderr : undefined;
    const { report, files } = await runBench(opts, (prefix) => (tty ? terminalProgress(tty, prefix) : silentProgress));
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    } else {
      const main = opts.only === 'steady' ? `\n${renderSteady(report)}\n` : opts.only && opts.only !== 'ingest' ? '' : `\n${renderTable(report)}\n${renderBars(report)}\n`;
      const extra = (report.scaling ? `\n${renderScaling(report.scaling)}\n` : '') + (report.core ? `\n${renderCore(report.core)}\n` : '');
      const million = report.million ? `\n${renderMillion(report.million)}\n` : '';
      console.log(`${main}${extra}${million}\nwritten: ${path.relative(process.cwd(), files.json) || files.json}\n         ${path.relative(process.cwd(), files.html) || files.html}`);
    }
    return 0;
  },
};
