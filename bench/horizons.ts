/**
 * `node --import tsx bench/horizons.ts`: what a customer's record would take with shorter horizons, the
 * bank's decision behind issue 14's 1,024-byte median. The simulated year of `vafa bench --only core` is
 * replayed through the core once per horizon, with the loyalty rules' `reversals.window_days` and the
 * engine's duplicate horizon (`dedupHorizonMs`) both set to it (the core remembers ids for the longer of
 * the two, so the ids' horizon cannot be shorter than the reversal window), and every customer's state is
 * encoded as the state store commits it. Prints, per horizon, the median and p99 record and the median of
 * each part; `--json` prints the same as JSON.
 *
 * A shorter reversal window changes what the club does: a reversal or refund later than it takes nothing
 * back (docs/loyalty.md), and a transaction id seen again after the duplicate horizon is applied as new.
 * The rows and publishes of the replays differ accordingly; only the bytes are compared here.
 *
 * Options: `--horizons 120,90,60,30` (days; the first is the reference the others are compared with),
 * `--expiry-at day_end|month_end` (rules `tiers.expiry_at`, docs/loyalty.md; default the shipped `day_end`),
 * `--customers`, `--days`, `--seed` as `bench/core.ts`.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { engineConfig, loadPolicy, SHIPPED_PARTITIONS, SHIPPED_POLICY_FILES } from '../config/mod.js';
import { DAY_MS, type EngineConfig } from '../config/schema/mod.js';
import { corePlanOf, prepareCoreInput, replayCore, stateSize, storeEncoder, type CorePlan } from './core.js';
import { bar } from './report.js';

/** The bytes of the replay's end states with one horizon. */
export interface HorizonBytes {
  horizon_days: number;
  expiry_at: ExpiryAt;
  customers: number;
  bytes_per_customer_median: number;
  bytes_per_customer_p99: number;
  parts_median: Record<string, number>;
}

/** `reversals.window_days` in the rules file: the first `window_days` of the lines indented under `reversals:`. */
const WINDOW_LINE = /(^reversals:[ \t]*\n(?:[ \t]+.*\n|[ \t]*\n)*?[ \t]+window_days:[ \t]*)\d+/m;

/** The `tiers:` line of the rules file, which `tiers.expiry_at` is written after. */
const TIERS_LINE = /^tiers:[ \t]*\n/m;

/** When lots expire (rules `tiers.expiry_at`). */
export type ExpiryAt = 'day_end' | 'month_end';

/**
 * The shipped engine configuration with the reversal window and the duplicate horizon both `days` long,
 * and lots expiring at `expiryAt` (the rules file rewritten in a temporary directory).
 */
export function engineWithHorizon(days: number, dir: string, expiryAt: ExpiryAt = 'day_end'): EngineConfig {
  if (!Number.isInteger(days) || days < 1) throw new RangeError(`a horizon is a whole number of days above 0, got ${days}`);
  const rules = readFileSync(SHIPPED_POLICY_FILES.rulesPath, 'utf8');
  if (!WINDOW_LINE.test(rules) || !TIERS_LINE.test(rules)) throw new Error(`${SHIPPED_POLICY_FILES.rulesPath} has no reversals.window_days or tiers line to change`);
  const rulesPath = path.join(dir, `loyalty-rules-${days}-${expiryAt}.yaml`);
  writeFileSync(rulesPath, rules.replace(WINDOW_LINE, `$1${days}`).replace(TIERS_LINE, `tiers:\n  expiry_at: ${expiryAt}\n`));
  const policy = loadPolicy({ ...SHIPPED_POLICY_FILES, rulesPath }, SHIPPED_PARTITIONS);
  const read = policy.loyalty.timeline.latest.rules;
  if (read.reversals.windowDays !== days || (read.expiryAt ?? 'day_end') !== expiryAt) {
    throw new Error(`the rules read back hold a reversal window of ${read.reversals.windowDays} days and expiry at ${read.expiryAt ?? 'day_end'}, not ${days} and ${expiryAt}`);
  }
  return Object.freeze({ ...engineConfig(policy), dedupHorizonMs: days * DAY_MS });
}

/** Replays `plan`'s history once per horizon and measures the records it leaves. */
export async function measureHorizons(plan: CorePlan, horizons: readonly number[], expiryAt: ExpiryAt, onEach?: (r: HorizonBytes) => void): Promise<HorizonBytes[]> {
  const input = await prepareCoreInput(plan);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vafa-horizons-'));
  try {
    const results: HorizonBytes[] = [];
    for (const days of horizons) {
      const { states } = replayCore(input, { batch: plan.batch, engine: engineWithHorizon(days, dir, expiryAt) });
      const size = stateSize(states.values(), storeEncoder);
      const result: HorizonBytes = {
        horizon_days: days, expiry_at: expiryAt, customers: size.customers, bytes_per_customer_median: size.bytes_per_customer_median,
        bytes_per_customer_p99: size.bytes_per_customer_p99, parts_median: { ...size.parts_median },
      };
      results.push(result);
      onEach?.(result);
    }
    return results;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The parts of a record, as `state.parts_median` names them, and their columns: lots, earning records, remembered ids, feature buckets, the rest. */
const PARTS: readonly [key: string, column: string][] = [
  ['lots_section', 'lots'], ['earned_section', 'records'], ['seen_section', 'ids'], ['buckets_section', 'buckets'], ['generic', 'rest'],
];

function row(r: HorizonBytes, reference: HorizonBytes | undefined): string {
  const share = reference && reference !== r ? ` (${Math.round((100 * r.bytes_per_customer_median) / reference.bytes_per_customer_median)} %)` : '';
  const parts = PARTS.map(([key]) => String(r.parts_median[key] ?? '-').padStart(8)).join('');
  return `${String(r.horizon_days).padStart(7)} d ${`${r.bytes_per_customer_median.toLocaleString('en-US')} B${share}`.padStart(18)} ${`${r.bytes_per_customer_p99.toLocaleString('en-US')} B`.padStart(10)}${parts}`;
}

/** Issue 14's goal for the median record, marked on the chart. */
const GOAL_MEDIAN_BYTES = 1_024;
const BAR_WIDTH = 40;

/** The medians as bars, the largest filling the width, and a line marking the goal under them. */
function chart(results: readonly HorizonBytes[]): string[] {
  const max = Math.max(GOAL_MEDIAN_BYTES, ...results.map((r) => r.bytes_per_customer_median));
  const goal = Math.min(BAR_WIDTH - 1, Math.round((GOAL_MEDIAN_BYTES / max) * BAR_WIDTH));
  const lines = ['', `median record (full bar = ${max.toLocaleString('en-US')} B)`];
  for (const r of results) {
    lines.push(`${String(r.horizon_days).padStart(7)} d │${bar(r.bytes_per_customer_median, max, BAR_WIDTH).padEnd(BAR_WIDTH)}│ ${r.bytes_per_customer_median.toLocaleString('en-US')} B`);
  }
  lines.push(`${' '.repeat(11 + goal)}┆ issue 14's goal, ${GOAL_MEDIAN_BYTES.toLocaleString('en-US')} B`);
  return lines;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      horizons: { type: 'string', default: '120,90,60,30' }, customers: { type: 'string' }, days: { type: 'string' }, seed: { type: 'string' },
      'expiry-at': { type: 'string', default: 'day_end' }, json: { type: 'boolean', default: false },
    },
  });
  const horizons = values.horizons.split(',').map((s) => Number(s.trim()));
  const bad = values.horizons.split(',').find((s) => !/^\s*[1-9]\d*\s*$/.test(s));
  if (bad !== undefined) throw new Error(`--horizons takes whole numbers of days above 0, separated by commas: not "${bad}"`);
  const expiryAt = values['expiry-at'];
  if (expiryAt !== 'day_end' && expiryAt !== 'month_end') throw new Error(`--expiry-at is day_end or month_end, not ${expiryAt}`);
  const plan = corePlanOf(values);
  if (!values.json) {
    console.log(`records after ${plan.days} simulated days of ${plan.customers.toLocaleString('en-US')} customers (seed ${plan.seed}), lots expiring at ${expiryAt.replace('_', ' ')}, by reversal window = duplicate horizon`);
    console.log(`${'horizon'.padStart(9)} ${'median'.padStart(18)} ${'p99'.padStart(10)}${PARTS.map(([, column]) => column.padStart(8)).join('')}   (parts: medians, B)`);
  }
  let reference: HorizonBytes | undefined;
  const results = await measureHorizons(plan, horizons, expiryAt, (r) => {
    reference ??= r;
    if (!values.json) console.log(row(r, reference));
  });
  if (values.json) console.log(JSON.stringify(results, null, 2));
  else for (const line of chart(results)) console.log(line);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    await main();
  } catch (err) {
    console.error(`bench/horizons.ts: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 2;
  }
}
