/**
 * What the reasons stored with each score cost: the churn scorer's `scoreBatch` (the runtime's one model
 * call per micro-batch) on the shipped model, over feature vectors the core computed from a simulated year
 * (bench/core.ts's history), with reasons off, with path attribution and with exact TreeSHAP, and with
 * path attribution only above a probability. Rounds alternate between the variants so machine load
 * falls on all of them alike; CPU time per scored event is the figure to quote.
 *
 *   node --import tsx bench/reasons.ts [--events 20000] [--rounds 5] [--model models/churn/manifest.json]
 */
import path from 'node:path';
import { DEFAULT_CORE_PLAN, prepareCoreInput } from './core.js';
import { Engine, type Pending, newPartitionState, type PartitionState, Emit, item } from '../scorer/core/mod.js';
import { decodeTx } from '../scorer/runtime/mod.js';
import { loadChurnScorer, type ChurnScorerHandle, type ReasonsOptions } from '../scorer/runtime/model/mod.js';
import { createLogger } from '../platform/mod.js';
import { defaultEngineConfig } from '../config/mod.js';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  const value = process.argv[i + 1];
  return i > 0 && value ? value : fallback;
};
const EVENTS = Number(arg('events', '20000'));
const ROUNDS = Number(arg('rounds', '5'));
const BATCH = 500;
const MANIFEST = path.resolve(arg('model', 'models/churn/manifest.json'));

/** The feature vectors the core asks to score, in stream order (the first `EVENTS` of them). */
async function vectors(): Promise<Pending['features'][]> {
  const input = await prepareCoreInput(DEFAULT_CORE_PLAN);
  const engine = new Engine(defaultEngineConfig());
  const states = new Map<number, PartitionState>();
  const out: Pending['features'][] = [];
  const emit = new Emit();
  for (let i = 0; i < input.subjects.length && out.length < EVENTS; i++) {
    const d = decodeTx(item(input.subjects, i), item(input.payloads, i));
    if (!d.ok) continue;
    let state = states.get(d.partition);
    if (!state) states.set(d.partition, (state = newPartitionState(d.partition)));
    const p = engine.apply(state, { seq: i + 1, partition: d.partition, msg: d.msg }, emit);
    if (p) {
      out.push(p.features);
      engine.complete(state, p, { probability: 0, modelVersion: 'bench' }, emit);
    }
    if (emit.events.length > 10_000) emit.events.length = 0;
  }
  return out;
}

interface Variant { name: string; reasons: ReasonsOptions; scorer: ChurnScorerHandle; wallMs: number; cpuMs: number; withReasons: number; bytes: number }

const logger = createLogger({ level: 'silent' });
const features = await vectors();
const variants: Variant[] = [];
for (const v of [
  { name: 'off', reasons: { top: 0 } },
  { name: 'path, top 3, every score', reasons: { top: 3, method: 'path', minProbability: 0 } },
  { name: 'default: path, top 3, p ≥ the model threshold', reasons: {} },
  { name: 'treeshap, top 3, every score', reasons: { top: 3, method: 'treeshap', minProbability: 0 } },
] satisfies Pick<Variant, 'name' | 'reasons'>[]) {
  const scorer = await loadChurnScorer(MANIFEST, logger, { watchIntervalMs: 0, intraOpNumThreads: 1, reasons: v.reasons });
  variants.push({ ...v, scorer, wallMs: 0, cpuMs: 0, withReasons: 0, bytes: 0 });
}

const pass = async (v: Variant, measure: boolean): Promise<void> => {
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  for (let from = 0; from < features.length; from += BATCH) {
    const scores = await v.scorer.scoreBatch(features.slice(from, from + BATCH));
    if (measure) {
      for (const s of scores) {
        if (s.reasons) {
          v.withReasons++;
          v.bytes += s.reasons.length;
        }
      }
    }
  }
  if (!measure) return;
  v.wallMs += performance.now() - t0;
  const used = process.cpuUsage(cpu);
  v.cpuMs += (used.user + used.system) / 1000;
};

for (const v of variants) await pass(v, false);
for (let r = 0; r < ROUNDS; r++) for (const v of variants) await pass(v, true);

const scored = features.length * ROUNDS;
const [off] = variants;
if (!off) throw new Error('no variants measured');
console.log(`${features.length} scored events × ${ROUNDS} rounds, batches of ${BATCH}, model ${MANIFEST}`);
console.table(variants.map((v) => ({
  variant: v.name,
  us_per_event: +((v.wallMs * 1000) / scored).toFixed(2),
  cpu_us_per_event: +((v.cpuMs * 1000) / scored).toFixed(2),
  added_cpu_us_per_event: +(((v.cpuMs - off.cpuMs) * 1000) / scored).toFixed(2),
  with_reasons_pct: +((100 * v.withReasons) / scored).toFixed(1),
  bytes_per_reasons: v.withReasons ? Math.round(v.bytes / v.withReasons) : 0,
})));
for (const v of variants) await v.scorer.close();
