/**
 * What a backfill costs, stage by stage, on a history folder (`vafa simulate --out DIR`):
 *   npx tsx bench/backfill.ts DIR [--runs 3] [--stages] [--workers N]
 * Reports events/s, CPU seconds (every thread of the process) and the seconds the calling thread was busy
 * (its event loop's utilisation: with workers, the feeder's serial share) of the whole backfill into a fresh LMDB
 * state store (no ClickHouse: the rows are built and counted, not sent), medians over runs; with --stages
 * also reading+ordering alone and reading+validation. `--workers N` (default 1) runs the partitions on N
 * worker threads (scorer/runtime/backfill/threads.ts); the lifecycle tally at the cut-over is printed
 * with one (it reads the rows in this thread).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { backfill, listSources, ReadMeter, streamOrder } from '../scorer/runtime/backfill/mod.js';
import { IngestService } from '../ingest/mod.js';
import { LmdbStateStore } from '../scorer/runtime/store/mod.js';
import type { Publisher } from '../platform/mod.js';
import { defaultEngineConfig } from '../config/mod.js';
import { num } from '../scorer/core/mod.js';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { runs: { type: 'string', default: '3' }, stages: { type: 'boolean', default: false }, partitions: { type: 'string', default: '8' }, workers: { type: 'string', default: '1' } } });
const dir = positionals[0];
if (!dir) throw new Error('usage: npx tsx bench/backfill.ts DIR [--runs 3] [--stages]');
const runs = Number(values.runs);
const partitions = Number(values.partitions);
const workers = Number(values.workers);
const median = (xs: number[]): number => num([...xs].sort((a, b) => a - b), Math.floor(xs.length / 2));
const tokenKey = 'bench-token-key-0123456789';

if (values.stages) {
  const read: number[] = [];
  const valid: number[] = [];
  for (let r = 0; r < runs; r++) {
    let n = 0;
    let t = performance.now();
    for await (const _ of streamOrder(listSources([dir]), new ReadMeter(), () => undefined)) n++;
    read.push(n / ((performance.now() - t) / 1000));
    const ingest = new IngestService({ publisher: {} as Publisher, partitions, tokenKey });
    n = 0;
    t = performance.now();
    for await (const rec of streamOrder(listSources([dir]), new ReadMeter(), () => undefined)) if (rec.kind !== 'migration' && ingest.prepare(rec.kind, rec.body, new Date(0)).ok) n++;
    valid.push(n / ((performance.now() - t) / 1000));
  }
  console.log(`read + order: median ${Math.round(median(read))} events/s; read + order + validate: median ${Math.round(median(valid))} events/s`);
}

const rates: number[] = [];
const cpus: number[] = [];
for (let r = 0; r < runs; r++) {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'vafa-bench-backfill-'));
  const store = LmdbStateStore.open({ path: tmp, cacheCustomers: 20_000 });
  let mark = 0;
  let markS = 0;
  const stages = new Map<string, string>();
  const cpu = process.cpuUsage();
  const loop = performance.eventLoopUtilization();
  const s = await backfill({
    paths: [dir], engineConfig: defaultEngineConfig(), partitions, tokenKey, store, base: 0,
    ...(workers > 1 ? { workers: { count: workers, engine: 'default' as const, store: { path: tmp, cacheCustomers: 20_000 } } } : {}),
    // The rate of each stretch of 100,000 events: how it changes as the customers' state grows.
    onProgress: (p) => {
      if (p.events < mark + 100_000) return;
      if (r === 0) console.log(`  events ${mark}–${p.events}: ${Math.round((p.events - mark) / (p.seconds - markS))} events/s`);
      mark = p.events;
      markS = p.seconds;
    },
    sink: {
      write: async (m) => {
        for (const r of m.get('customer_state') ?? []) stages.set(String(r.customer_id), String(r.lifecycle_stage));
        return [];
      },
    },
  });
  const used = process.cpuUsage(cpu);
  const busy = performance.eventLoopUtilization(loop).active / 1000;
  const cpuSeconds = (used.user + used.system) / 1e6;
  await store.close();
  rmSync(tmp, { recursive: true, force: true });
  rates.push(s.eventsPerSecond);
  cpus.push(cpuSeconds);
  if (r === 0 && stages.size > 0) {
    const tally = new Map<string, number>();
    for (const st of stages.values()) tally.set(st, (tally.get(st) ?? 0) + 1);
    const share = [...tally].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n} (${((100 * n) / stages.size).toFixed(1)} %)`).join(', ');
    console.log(`stages at the cut-over over ${stages.size} customers: ${share}`);
    const labels = path.join(dir, 'labels.ndjson');
    if (existsSync(labels) && s.cutover) {
      const end = Date.parse(s.cutover);
      let back = 0;
      let left = 0;
      for (const line of readFileSync(labels, 'utf8').split('\n')) {
        if (!line) continue;
        const l = JSON.parse(line) as { churn_at: string | null; reactivated_at: string | null };
        if (l.churn_at && Date.parse(l.churn_at) <= end) {
          if (l.reactivated_at && Date.parse(l.reactivated_at) <= end) back++;
          else left++;
        }
      }
      console.log(`ground truth by the cut-over: ${left} churned and not back, ${back} churned and came back (win-back) of ${stages.size}`);
    }
  }
  console.log(`run ${r + 1}: ${s.events} events in ${s.seconds.toFixed(1)} s = ${Math.round(s.eventsPerSecond)} events/s, ${cpuSeconds.toFixed(1)} CPU s, calling thread busy ${busy.toFixed(1)} s, ${s.rows} rows, ${s.bad} bad, position ${s.position}, cut-over ${s.cutover}`);
}
console.log(`backfill (core + LMDB store, rows built not sent, ${workers} worker${workers > 1 ? 's' : ''}): median ${Math.round(median(rates))} events/s, median ${median(cpus).toFixed(1)} CPU s over ${runs} runs`);
