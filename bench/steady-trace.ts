/**
 * On its own (`npx tsx bench/steady-trace.ts [--repeat N] [--seconds S]`): `scorer_steady_5k` as
 * `vafa bench --only steady` runs it, with every ClickHouse insert and sink flush of the scorer timed, to
 * see where an event's time goes between JetStream and the durable ack (bench/README.md, "Where the
 * time goes at 5,000 events/s"). The timing wraps the sink's methods in this process only.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { ClickHouseSink } from '../sinks/mod.js';
import { Cleanup } from './cleanup.js';
import { planFor } from './main.js';
import { silentProgress } from './progress.js';
import { percentile } from './stats.js';
import { measureSteadyAlone } from './vafa.js';
import { num } from '../scorer/core/mod.js';

interface InsertTrace { table: string; rows: number; ms: number; concurrent: number; at: number }
interface FlushTrace { rows: number; tables: number; ms: number; oldestWaitMs: number; at: number }

const inserts: InsertTrace[] = [];
const flushes: FlushTrace[] = [];
let running = 0;
let oldestWrite: number | undefined;

type Method = (this: unknown, ...args: unknown[]) => Promise<unknown>;

/** Wraps the sink's private `name` method with `wrap` (the prototype's, so every sink of this process). */
function wrapSink(name: string, wrap: (inner: Method) => Method): void {
  const proto = ClickHouseSink.prototype as unknown as Record<string, Method>;
  const inner = proto[name];
  if (typeof inner !== 'function') throw new Error(`ClickHouseSink has no method ${name}`);
  proto[name] = wrap(inner);
}

wrapSink('write', (inner) => function (this: unknown, ...args) {
  oldestWrite ??= performance.now();
  return inner.apply(this, args);
});
wrapSink('store', (inner) => async function (this: unknown, ...args) {
  const start = performance.now();
  const waited = oldestWrite === undefined ? 0 : start - oldestWrite;
  oldestWrite = undefined;
  const batch = args[0] as Map<string, unknown[]>;
  const out = await inner.apply(this, args);
  flushes.push({ rows: args[1] as number, tables: batch.size, ms: performance.now() - start, oldestWaitMs: waited, at: start });
  return out;
});
wrapSink('insert', (inner) => async function (this: unknown, ...args) {
  const start = performance.now();
  running++;
  const concurrent = running;
  try {
    return await inner.apply(this, args);
  } finally {
    running--;
    inserts.push({ table: args[0] as string, rows: (args[1] as unknown[]).length, ms: performance.now() - start, concurrent, at: start });
  }
});

const { values } = parseArgs({ options: { repeat: { type: 'string', default: '1' }, seconds: { type: 'string', default: '10' } } });
const plan = { ...planFor(3_000, false).vafa, steadySeconds: Number(values.seconds) };
const cleanup = new Cleanup();
cleanup.install();
const round = (x: number): number => Math.round(x * 10) / 10;
const p = (xs: number[], q: number): number => round(percentile(xs, q));
try {
  for (let r = 1; r <= Number(values.repeat); r++) {
    inserts.length = 0;
    flushes.length = 0;
    const { scorerFixed } = await measureSteadyAlone(plan, r, cleanup, silentProgress);
    // The fixed-rate phase's flushes only: the last `steadySeconds` before the end, less its warm-up.
    const end = Math.max(...flushes.map((f) => f.at));
    const from = end - (plan.steadySeconds - plan.steadyWarmupS) * 1000;
    const fl = flushes.filter((f) => f.at >= from);
    const ins = inserts.filter((i) => i.at >= from);
    console.log(`repeat ${r}: load ${num(os.loadavg(), 0).toFixed(2)}; p50 ${round(scorerFixed.latency.p50)} ms, p99 ${round(scorerFixed.latency.p99)} ms, ${Math.round(scorerFixed.rate)} events/s`);
    console.log(`  stages ${JSON.stringify(scorerFixed.extra.stages_ms)}; CPU ${JSON.stringify((scorerFixed.cpu.roles ?? {}))}`);
    console.log(`  flushes ${fl.length} (${round(fl.length / (plan.steadySeconds - plan.steadyWarmupS))}/s): rows p50 ${p(fl.map((f) => f.rows), 50)}, tables p50 ${p(fl.map((f) => f.tables), 50)}, ms p50 ${p(fl.map((f) => f.ms), 50)} p99 ${p(fl.map((f) => f.ms), 99)}, oldest row waited p50 ${p(fl.map((f) => f.oldestWaitMs), 50)} p99 ${p(fl.map((f) => f.oldestWaitMs), 99)} ms before its flush`);
    const tables = [...new Set(ins.map((i) => i.table))].sort();
    for (const t of tables) {
      const x = ins.filter((i) => i.table === t);
      console.log(`  ${t.padEnd(28)} inserts ${String(x.length).padStart(4)}  rows p50 ${String(p(x.map((i) => i.rows), 50)).padStart(6)}  ms p50 ${String(p(x.map((i) => i.ms), 50)).padStart(6)} p99 ${String(p(x.map((i) => i.ms), 99)).padStart(6)}  in flight with it p50 ${p(x.map((i) => i.concurrent), 50)}`);
    }
  }
} finally {
  await cleanup.runAll();
  cleanup.uninstall();
}
