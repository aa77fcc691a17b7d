/**
 * On its own (`npx tsx bench/small-inserts.ts [--repeat 15]`): what one flush-sized insert costs the
 * embedded engine (chDB behind its HTTP interface, a child process as in `vafa up`), through the sink's
 * RowBinary path, for the sizes a scorer flush has at 5,000 events/s (bench/README.md, "Where the time
 * goes at 5,000 events/s"): one table alone, two tables one after the other and at once, and per
 * insert setting. Medians of `--repeat` inserts, wall ms, with the engine's CPU ms and the load average.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { type Row, migrate, ClickHouseSink } from '../sinks/mod.js';
import { recentCoreEmits } from './core-rows.js';
import { processCpuMs } from './cpu.js';
import { scratchWarehouse } from './scratch-warehouse.js';
import { median } from './stats.js';
import { item, num } from '../scorer/core/mod.js';

const { values } = parseArgs({ options: { repeat: { type: 'string', default: '15' } } });
const REPEAT = Number(values.repeat);

/** The core's rows for the simulator's history, by table (recent event times: the tables' TTL keeps them). */
function templates(): Map<string, Row[]> {
  const out = new Map<string, Row[]>();
  for (const emit of recentCoreEmits(300)) {
    for (const [table, rows] of emit.rows) out.set(table, [...(out.get(table) ?? []), ...rows]);
    out.set('customer_state', [...(out.get('customer_state') ?? []), ...emit.customerRows.values()]);
  }
  return out;
}

let serial = 0;
/** `n` rows of `table` under new ids (a fresh insert every time, as the scorer's are). */
function rowsOf(source: Map<string, Row[]>, table: string, n: number): Row[] {
  const from = source.get(table) ?? [];
  if (from.length === 0) throw new Error(`the simulator made no ${table} rows`);
  const tag = `S${serial++}-`;
  return Array.from({ length: n }, (_, i) => {
    const r = item(from, i % from.length);
    const copy: Row = { ...r, customer_id: `${tag}${i}-${String(r.customer_id)}` };
    for (const key of ['tx_id', 'entry_id', 'offer_id', 'transition_id']) if (key in r) copy[key] = `${tag}${i}-${String(r[key])}`;
    return copy;
  });
}

const scratch = await scratchWarehouse('vafa-small-inserts-');
const { wh, ch } = scratch;
try {
  await migrate(ch, 'vafa');
  const source = templates();
  console.log(`rows per table in the templates: ${[...source].map(([t, r]) => `${t} ${r.length}`).join(', ')}`);
  const sink = new ClickHouseSink(ch, { database: 'vafa', lingerMs: 1, idleLingerMs: 1 });
  /** Median wall and engine CPU ms of `run`, `REPEAT` times. */
  const measure = async (label: string, run: () => Promise<unknown>): Promise<void> => {
    const wall: number[] = [];
    const cpu: number[] = [];
    for (let i = 0; i < REPEAT; i++) {
      const c0 = processCpuMs(wh.pid) ?? 0;
      const t0 = performance.now();
      await run();
      wall.push(performance.now() - t0);
      cpu.push((processCpuMs(wh.pid) ?? 0) - c0);
    }
    console.log(`${label.padEnd(64)} wall ${median(wall).toFixed(1).padStart(6)} ms, engine CPU ${median(cpu).toFixed(0).padStart(4)} ms (load ${num(os.loadavg(), 0).toFixed(2)})`);
  };
  const write = (tables: [string, number][]): Promise<unknown> => sink.write(new Map(tables.map(([t, n]) => [t, rowsOf(source, t, n)])));
  const direct = (table: string, n: number, settings: Record<string, string>): Promise<unknown> =>
    ch.insert({ table: `vafa.${table}`, values: rowsOf(source, table, n), format: 'JSONEachRow', clickhouse_settings: settings });
  await measure('warm-up', () => write([['scored_transactions', 100]]));
  for (const n of [1, 100, 700]) await measure(`scored_transactions ${n} rows`, () => write([['scored_transactions', n]]));
  await measure('customer_state 700 rows', () => write([['customer_state', 700]]));
  await measure('lifecycle_transitions 8 rows', () => write([['lifecycle_transitions', 8]]));
  const flush: [string, number][] = [['scored_transactions', 700], ['customer_state', 600], ['points_ledger', 350], ['offers', 12], ['lifecycle_transitions', 8]];
  await measure('a 5-table flush (one sink write)', () => write(flush));
  await measure('the same 5 inserts one after the other', async () => {
    for (const t of flush) await write([t]);
  });
  // The telemetry the scorer writes per batch (one row a partition), as a sixth table in every flush.
  const telemetry = (): Row[] => Array.from({ length: 8 }, (_, p) => ({
    batch_id: `S${serial++}:${p}`, instance: 'bench', partition: p, flushed_at: new Date().toISOString(), events: 100, first_seq: 1, last_seq: 100, pending: 0, model_ms: 1, flush_ms: 50, dlq: 0,
  }));
  for (let round = 0; round < 2; round++) {
    await measure('a 5-table flush', () => write(flush));
    await measure('the same with scorer_batches, 6 tables', () => sink.write(new Map([...flush.map(([t, n]) => [t, rowsOf(source, t, n)] as const), ['scorer_batches', telemetry()]])));
  }
  for (const [name, settings] of [['JSONEachRow, defaults', {}], ['JSONEachRow, optimize_on_insert=0', { optimize_on_insert: '0' }]] as const) {
    await measure(`scored_transactions 700 rows ${name}`, () => direct('scored_transactions', 700, settings));
  }
  const mvs = await (await ch.query({ query: "SELECT name FROM system.tables WHERE database = 'vafa' AND engine = 'MaterializedView'", format: 'JSONEachRow' })).json<{ name: string }>();
  console.log(`materialized views: ${mvs.map((m) => m.name).join(', ')}`);
} finally {
  await scratch.close();
}
