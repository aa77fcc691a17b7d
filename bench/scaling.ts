/**
 * Issue 8: (a) scorer scaling with 1, 2 and 4 `vafa scorer` child processes sharing the partitions
 * through their NATS KV leases, draining a pre-loaded TX; (b) recovery after SIGKILL of a scorer child
 * as a function of the checkpoint interval (the new instance replays from the last checkpoint).
 * Each run gets a fresh stack (nats-server, embedded ClickHouse, API; no in-process scorer).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Settings } from '../config/mod.js';
import { createLogger, natsJsm, NODE_FLAGS } from '../platform/mod.js';
import { startStack, type Stack, countRows, waitForDrain } from '../app/mod.js';
import { STREAM_TX } from '../contracts/subjects.js';
import { consumerName } from '../scorer/runtime/mod.js';
import { item, num } from '../scorer/core/mod.js';
import { benchSettings, trackStack } from './vafa.js';
import { CpuProbe, processCpuMs, type CpuShare } from './cpu.js';
import { runLoad } from './loadgen/host.js';
import type { Cleanup } from './cleanup.js';
import type { Progress } from './progress.js';

const BIN = path.resolve(import.meta.dirname, '../bin/vafa.js');

export interface ScalingPlan {
  /** Events pre-loaded for each scaling run. */
  events: number;
  instances: number[];
  partitions: number;
  leaseMs: number;
  /** Recovery: checkpoint intervals, the offered stream rate and how long it runs before the kill. */
  checkpointMs: number[];
  streamRate: number;
  killAfterS: number;
}

export const defaultScalingPlan = (): ScalingPlan => ({
  events: 20_000, instances: [1, 2, 4], partitions: 8, leaseMs: 3000, checkpointMs: [1000, 5000, 20_000], streamRate: 1000, killAfterS: 19,
});

export interface ScalingRow {
  instances: number;
  events: number;
  seconds: number;
  events_per_s: number;
  speedup: number | null;
  cpu: CpuShare & { scorers_pct: number };
}

export interface RecoveryRow {
  checkpoint_ms: number;
  /** Events the stream had offered when the scorer was killed. */
  events: number;
  killed_after_s: number;
  /** Sum over partitions of what the killed scorer still had unacked at the kill. */
  unacked_at_kill: number;
  /** Events the new scorer re-delivered from its checkpoint that the killed one had already acked. */
  replayed_events: number | null;
  /** Restart → every partition's ack floor back at the killed one's (includes the lease expiry wait). */
  caught_up_s: number;
  /** Restart → first partition consumer re-created by the new scorer (≈ lease expiry + checkpoint load). */
  resumed_s: number | null;
  /** Restart → all drained and every event in scored_transactions. */
  drained_s: number;
}

export interface ScalingReport {
  plan: ScalingPlan;
  scaling: ScalingRow[];
  recovery: RecoveryRow[];
  notes: string[];
}

interface BenchStack {
  stack: Stack;
  settings: Settings;
  stop: () => Promise<void>;
}

async function freshStack(plan: ScalingPlan, cleanup: Cleanup): Promise<BenchStack> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'vafa-bench-scale-'));
  cleanup.trackDir(dataDir);
  const undoDir = cleanup.add('bench data directory', async () => cleanup.removeDir(dataDir));
  const base = await benchSettings(dataDir);
  const settings: Settings = Object.freeze({ ...base, partitions: plan.partitions, leaseMs: plan.leaseMs });
  const logger = createLogger({ level: settings.logLevel, name: 'bench', destination: process.stderr });
  const stack = await startStack({ settings, logger, scorer: false, churn: null, iso8583: false });
  const undoStack = trackStack(cleanup, stack);
  return { stack, settings, stop: async () => { await undoStack(); await undoDir(); } };
}

interface Child { proc: ChildProcess; output: string[]; stop: () => Promise<void> }

/** `vafa scorer` as a child process against the stack, with the bench's scorer settings. */
function spawnScorer(b: BenchStack, cleanup: Cleanup, env: Record<string, string>): Child {
  const passed: Record<string, string> = {};
  for (const k of ['VAFA_SCORER_BATCH', 'VAFA_SCORER_WAIT_MS', 'VAFA_CHECKPOINT_MS', 'VAFA_CHECKPOINTS', 'VAFA_MODEL', 'VAFA_RULES', 'VAFA_OFFERS', 'VAFA_LIFECYCLE']) {
    const v = process.env[k];
    if (v) passed[k] = v;
  }
  const proc = spawn(process.execPath, [...NODE_FLAGS, BIN, 'scorer'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp',
      NATS_URL: b.stack.natsUrl, CLICKHOUSE_URL: b.stack.clickhouseUrl, VAFA_DATA_DIR: b.settings.dataDir,
      VAFA_PARTITIONS: String(b.settings.partitions), VAFA_LEASE_MS: String(b.settings.leaseMs), LOG_LEVEL: 'warn',
      // as the bench's own scorer keeps them: files in the data directory (shared by the children on this machine)
      VAFA_CHECKPOINTS: 'file',
      ...passed, ...env,
    },
  });
  const output: string[] = [];
  const keep = (buf: Buffer): void => {
    for (const line of buf.toString().split('\n')) if (line) output.push(line);
    if (output.length > 100) output.splice(0, output.length - 100);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  cleanup.trackPid(proc.pid);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const undo = cleanup.add('scorer child', async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    }
    cleanup.untrackPid(proc.pid);
  });
  return { proc, output, stop: undo };
}

interface PartInfo { floor: number; pending: number; ackPending: number; delivered: number; created: number }

async function partitions(stack: Stack, n: number): Promise<(PartInfo | undefined)[]> {
  const jsm = await natsJsm(stack.nc);
  return Promise.all([...Array(n).keys()].map(async (p) => {
    const i = await jsm.consumers.info(STREAM_TX, consumerName(p)).catch(() => undefined);
    // A consumer being re-created can answer without its sequences yet: counted as not there, read again.
    return i?.ack_floor && i.delivered ? { floor: i.ack_floor.stream_seq, pending: i.num_pending, ackPending: i.num_ack_pending, delivered: i.delivered.consumer_seq, created: Date.parse(i.created) } : undefined;
  }));
}

async function verify(b: BenchStack, expected: number, children: Child[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let rows = 0;
  if (!(await waitForDrain(b.stack, timeoutMs))) throw new Error(`scaling: partition consumers not drained within ${timeoutMs / 1000} s\n${children.flatMap((c) => c.output.slice(-5)).join('\n')}`);
  while (Date.now() < deadline) {
    rows = await countRows(b.stack, 'scored_transactions');
    if (rows === expected) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`scaling: scored_transactions holds ${rows} rows, expected ${expected}`);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const r1 = (x: number): number => Math.round(x * 10) / 10;
const r2 = (x: number): number => Math.round(x * 100) / 100;

async function scalingRun(plan: ScalingPlan, k: number, cleanup: Cleanup, progress: Progress): Promise<Omit<ScalingRow, 'speedup'>> {
  progress.phase(`scaling: fresh stack, pre-loading ${plan.events.toLocaleString('en-US')} events for ${k} scorer process${k > 1 ? 'es' : ''}`);
  const b = await freshStack(plan, cleanup);
  const children: Child[] = [];
  try {
    const url = transactionsUrl(b.stack);
    const load = await runLoad({ kind: 'http', url, prefix: `k${k}`, first: 0, events: plan.events, perRequest: 500, concurrency: 6, customers: Math.max(1000, plan.events / 5) }, cleanup, progress);
    if (load.events !== plan.events || load.failures > 0) throw new Error(`scaling pre-load: ${load.events} of ${plan.events} accepted: ${load.errors.join(' | ')}`);
    progress.phase(`scaling: ${k} scorer process${k > 1 ? 'es' : ''} drain ${plan.events.toLocaleString('en-US')} events (${plan.partitions} partitions)`);
    const cpu = new CpuProbe({ 'nats-server': b.stack.localNats?.pid, clickhouse: b.stack.localWarehouse?.pid });
    const t0 = performance.now();
    for (let i = 0; i < k; i++) children.push(spawnScorer(b, cleanup, {}));
    const cpu0 = new Map<number, number>();
    const sample = (): void => {
      for (const c of children) {
        const ms = c.proc.pid ? processCpuMs(c.proc.pid) : undefined;
        if (ms !== undefined && c.proc.pid) cpu0.set(c.proc.pid, ms);
      }
    };
    const poll = setInterval(sample, 200);
    try {
      await verify(b, plan.events, children, 300_000);
    } finally {
      clearInterval(poll);
    }
    const seconds = (performance.now() - t0) / 1000;
    sample();
    const share = cpu.stop();
    const scorersPct = r1(([...cpu0.values()].reduce((s, x) => s + x, 0) / (seconds * 1000)) * 100);
    const died = children.filter((c) => c.proc.exitCode !== null);
    if (died.length) throw new Error(`scaling: ${died.length} scorer process(es) exited early\n${died.flatMap((c) => c.output.slice(-5)).join('\n')}`);
    return { instances: k, events: plan.events, seconds: r2(seconds), events_per_s: Math.round(plan.events / seconds), cpu: { ...share, scorers_pct: scorersPct } };
  } finally {
    progress.note('stopping the scorers and the stack');
    for (const c of children) await c.stop();
    await b.stop();
  }
}

async function recoveryRun(plan: ScalingPlan, checkpointMs: number, cleanup: Cleanup, progress: Progress): Promise<RecoveryRow> {
  progress.phase(`recovery: checkpoint every ${checkpointMs / 1000} s: ${plan.streamRate.toLocaleString('en-US')} events/s for ${plan.killAfterS} s, then SIGKILL and restart`);
  const b = await freshStack(plan, cleanup);
  const children: Child[] = [];
  const env = { VAFA_CHECKPOINT_MS: String(checkpointMs) };
  try {
    const url = transactionsUrl(b.stack);
    const first = spawnScorer(b, cleanup, env);
    children.push(first);
    const events = Math.round(plan.streamRate * plan.killAfterS);
    const tStart = performance.now();
    const load = await runLoad({ kind: 'http', url, prefix: `c${checkpointMs}`, first: 0, events, perRequest: Math.max(1, Math.ceil(plan.streamRate / 200)), concurrency: 32, customers: 2000, rate: plan.streamRate }, cleanup, progress);
    if (load.events !== events || load.failures > 0) throw new Error(`recovery stream: ${load.events} of ${events} accepted: ${load.errors.join(' | ')}`);
    // SIGKILL: no checkpoint, no lease release, no ack of what was in flight.
    const atKill = await partitions(b.stack, plan.partitions);
    first.proc.kill('SIGKILL');
    const killedAfter = (performance.now() - tStart) / 1000;
    const killWall = Date.now();
    await new Promise<void>((r) => (first.proc.exitCode !== null || first.proc.signalCode !== null ? r() : first.proc.once('exit', () => r())));
    const floors = atKill.map((p) => p?.floor ?? 0);
    const unacked = atKill.reduce((s, p) => s + (p ? p.pending + p.ackPending : 0), 0);
    progress.phase(`recovery: checkpoint every ${checkpointMs / 1000} s: restarted, replaying from the last checkpoint`);
    const t0 = performance.now();
    const restarted = spawnScorer(b, cleanup, env);
    children.push(restarted);
    const totals = new Map<number, number>();
    let resumed: number | null = null;
    let caughtUp: number | undefined;
    const deadline = Date.now() + 180_000;
    while (caughtUp === undefined) {
      if (Date.now() > deadline) throw new Error(`recovery: the restarted scorer did not catch up within 180 s\n${restarted.output.slice(-5).join('\n')}`);
      const now = await partitions(b.stack, plan.partitions);
      now.forEach((p, i) => {
        // a consumer the new scorer re-created at its checkpoint: what it will deliver from there
        if (p && p.created >= killWall - 1000 && !totals.has(i)) {
          totals.set(i, p.delivered + p.pending);
          resumed ??= (performance.now() - t0) / 1000;
        }
      });
      if (now.every((p, i) => p && totals.has(i) && p.floor >= num(floors, i))) caughtUp = (performance.now() - t0) / 1000;
      else await sleep(50);
    }
    await verify(b, events, children.slice(1), 180_000);
    const drained = (performance.now() - t0) / 1000;
    const replayed = totals.size === plan.partitions ? [...totals.values()].reduce((s, x) => s + x, 0) - unacked : null;
    return {
      checkpoint_ms: checkpointMs, events, killed_after_s: r2(killedAfter), unacked_at_kill: unacked, replayed_events: replayed,
      resumed_s: resumed === null ? null : r2(resumed), caught_up_s: r2(caughtUp), drained_s: r2(drained),
    };
  } finally {
    progress.note('stopping the scorers and the stack');
    for (const c of children) await c.stop();
    await b.stop();
  }
}

export async function measureScaling(plan: ScalingPlan, cleanup: Cleanup, progress: Progress): Promise<ScalingReport> {
  const scaling: ScalingRow[] = [];
  for (const k of plan.instances) {
    const row = await scalingRun(plan, k, cleanup, progress);
    const base = scaling[0]?.events_per_s;
    scaling.push({ ...row, speedup: base ? r2(row.events_per_s / base) : 1 });
  }
  const recovery: RecoveryRow[] = [];
  for (const ms of plan.checkpointMs) recovery.push(await recoveryRun(plan, ms, cleanup, progress));
  const cores = os.availableParallelism?.() ?? os.cpus().length;
  const notes = [
    `scaling: one run per process count (no repeats); each on a fresh stack; ${cores} cores shared by the scorer processes, nats-server, ClickHouse and the bench`,
    `scaling CPU (% of one core, per run): ${scaling.map((s) => `K=${s.instances}: scorers ${s.cpu.scorers_pct}, nats ${s.cpu.children['nats-server'] ?? '—'}, clickhouse ${s.cpu.children.clickhouse ?? '—'}, bench ${s.cpu.process_pct}, machine ${s.cpu.machine_pct ?? '—'} of ${cores * 100}${s.cpu.machine_pct === undefined ? '' : `, others on the machine ${r1(Math.max(0, s.cpu.machine_pct - s.cpu.scorers_pct - s.cpu.process_pct - Object.values(s.cpu.children).reduce((a, x) => a + x, 0)))}`}`).join('; ')}`,
    'scaling time includes each child\'s start (Node start, model load, lease acquisition over NATS KV; with K > 1 the instances also share out the 8 partitions through their leases)',
    `recovery: caught up = from the restart until every partition's ack floor is back where the killed scorer's was; it includes waiting for the killed one's leases to expire (VAFA_LEASE_MS=${plan.leaseMs}); one run per interval, killed ${plan.killAfterS} s into a ${plan.streamRate} events/s stream`,
  ];
  return { plan, scaling, recovery, notes };
}

/** The stack's POST /v1/transactions URL; throws if it runs no API. */
function transactionsUrl(stack: Stack): string {
  if (stack.apiUrl === undefined) throw new Error('bench: the stack runs no API');
  return `${stack.apiUrl}/v1/transactions`;
}

const pad = (cells: string[][]): string => {
  const [head] = cells;
  if (!head) throw new Error('pad: a table without a header row');
  const w = head.map((_, i) => Math.max(...cells.map((r) => item(r, i).length)));
  return cells.map((r, j) => r.map((c, i) => (i === 0 ? c.padEnd(num(w, i)) : c.padStart(num(w, i)))).join('  ') + (j === 0 ? `\n${w.map((x) => '─'.repeat(x)).join('  ')}` : '')).join('\n');
};
const fmt = (v: number | null): string => (v === null ? '—' : v.toLocaleString('en-US'));

export function renderScaling(r: ScalingReport): string {
  const a = pad([
    ['scorer processes', 'events/s', 'seconds', 'speed-up vs 1', 'scorers CPU %', 'nats CPU %', 'clickhouse CPU %', 'machine CPU %'],
    ...r.scaling.map((s) => [String(s.instances), fmt(s.events_per_s), s.seconds.toFixed(2), s.speedup === null ? '—' : `${s.speedup.toFixed(2)}×`, fmt(s.cpu.scorers_pct), fmt(s.cpu.children['nats-server'] ?? null), fmt(s.cpu.children.clickhouse ?? null), fmt(s.cpu.machine_pct ?? null)]),
  ]);
  const b = pad([
    ['checkpoint interval', 'events', 'killed at s', 'unacked at kill', 'replayed events', 'resumed s', 'caught up s', 'drained s'],
    ...r.recovery.map((x) => [`${x.checkpoint_ms / 1000} s`, fmt(x.events), x.killed_after_s.toFixed(1), fmt(x.unacked_at_kill), fmt(x.replayed_events), x.resumed_s === null ? '—' : x.resumed_s.toFixed(2), x.caught_up_s.toFixed(2), x.drained_s.toFixed(2)]),
  ]);
  return `scorer scaling (${r.plan.events.toLocaleString('en-US')} pre-loaded events, ${r.plan.partitions} partitions)\n${a}\n\nrecovery after SIGKILL of a scorer\n${b}\n\n${r.notes.map((n) => `note: ${n}`).join('\n')}`;
}
