/**
 * ClickHouse insert formats through the sink: JSONEachRow against RowBinary, into the embedded engine
 * (chDB behind its HTTP interface, a child process as in `vafa up`). The rows are the core's own: the
 * simulator's history through the real engine gives `scored_transactions` and `customer_state` rows,
 * cloned under new ids up to `--rows` of each. Several writers (partitions) write batches at once and
 * await each, as the scorer does, so the sink coalesces them.
 *
 *   npx tsx bench/insert-formats.ts [--rows 200000] [--repeat 3] [--batch 500] [--writers 8]
 *
 * Per run: rows/s (both tables' rows over the wall time), CPU ms per 1,000 rows of this process (encoding,
 * HTTP) and of the engine process, and the load average. Medians over the repeats; the formats alternate.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { type Row, migrate, ClickHouseSink, type SinkInsertFormat } from '../sinks/mod.js';
import { recentCoreEmits } from './core-rows.js';
import { processCpuMs } from './cpu.js';
import { item, num } from '../scorer/core/mod.js';
import { scratchWarehouse } from './scratch-warehouse.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '200000' },
    repeat: { type: 'string', default: '3' },
    batch: { type: 'string', default: '500' },
    writers: { type: 'string', default: '8' },
  },
});
const ROWS = Number(values.rows);
const REPEAT = Number(values.repeat);
const BATCH = Number(values.batch);
const WRITERS = Number(values.writers);
const FORMATS: SinkInsertFormat[] = ['JSONEachRow', 'RowBinary'];

/** Rows the core emits for the simulator's history: one scored_transactions and one customer_state row per transaction. */
function templates(): { tx: Row[]; state: Row[] } {
  const tx: Row[] = [];
  const customers: Row[] = [];
  for (const emit of recentCoreEmits(200)) {
    tx.push(...(emit.rows.get('scored_transactions') ?? []));
    customers.push(...emit.customerRows.values());
    if (tx.length >= 5000 && customers.length >= 5000) break;
  }
  return { tx, state: customers };
}

function clone(source: readonly Row[], n: number, key: string, prefix: string): Row[] {
  return Array.from({ length: n }, (_, i) => {
    const r = item(source, i % source.length);
    return { ...r, customer_id: `${prefix}${i}-${String(r.customer_id)}`, [key]: `${prefix}${i}-${String(r[key])}` };
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return num(s, s.length >> 1);
}

const scratch = await scratchWarehouse('vafa-insert-bench-');
const { wh, ch } = scratch;
try {
  await migrate(ch, 'vafa');
  const t = templates();
  const tx = clone(t.tx, ROWS, 'tx_id', 'B');
  const states = clone(t.state, ROWS, 'customer_id', 'B');
  const results: Record<SinkInsertFormat, { rowsPerS: number; benchCpuPer1k: number; engineCpuPer1k: number; load: number }[]> = { JSONEachRow: [], RowBinary: [] };
  for (let r = 0; r < REPEAT; r++) {
    for (const format of r % 2 === 0 ? FORMATS : [...FORMATS].reverse()) {
      for (const table of ['scored_transactions', 'customer_state']) await ch.command({ query: `TRUNCATE TABLE vafa.${table}` });
      const sink = new ClickHouseSink(ch, { database: 'vafa', format });
      const [load] = os.loadavg();
      if (load === undefined) throw new Error('os.loadavg() gave no 1-minute load');
      const cpu0 = process.cpuUsage();
      const engine0 = processCpuMs(wh.pid) ?? 0;
      const t0 = performance.now();
      let next = 0;
      await Promise.all(Array.from({ length: WRITERS }, async () => {
        for (let start = (next++) * BATCH; start < ROWS; start = (next++) * BATCH) {
          const refused = await sink.write(new Map([['scored_transactions', tx.slice(start, start + BATCH)], ['customer_state', states.slice(start, start + BATCH)]]));
          const [first] = refused;
          if (first) throw new Error(`${refused.length} rows refused: ${first.error.message}`);
        }
      }));
      const wall = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      const engineMs = (processCpuMs(wh.pid) ?? 0) - engine0;
      await sink.close();
      const rows = 2 * ROWS;
      let n = 0;
      for (const table of ['scored_transactions', 'customer_state']) {
        const result = await ch.query({ query: `SELECT count() AS n FROM vafa.${table}`, format: 'JSONEachRow' });
        const [row] = await result.json<{ n: string }>();
        if (!row) throw new Error(`SELECT count() FROM vafa.${table} gave no row`);
        const counted = Number(row.n);
        if (counted !== ROWS) console.log(table, counted);
        n += counted;
      }
      if (n !== rows) throw new Error(`${format}: ${n} rows stored, ${rows} written`);
      const run = { rowsPerS: rows / (wall / 1000), benchCpuPer1k: ((cpu.user + cpu.system) / 1000 / rows) * 1000, engineCpuPer1k: (engineMs / rows) * 1000, load };
      results[format].push(run);
      console.log(`${format.padEnd(12)} run ${r + 1}: ${Math.round(run.rowsPerS)} rows/s, CPU ms per 1,000 rows: this process ${run.benchCpuPer1k.toFixed(1)}, engine ${run.engineCpuPer1k.toFixed(1)} (load ${load.toFixed(2)})`);
    }
  }
  console.log(`\nmedians of ${REPEAT}, ${ROWS} scored_transactions + ${ROWS} customer_state rows, batches of ${BATCH} from ${WRITERS} writers:`);
  for (const format of FORMATS) {
    const runs = results[format];
    const m = (k: keyof (typeof runs)[number]): number => median(runs.map((x) => x[k]));
    console.log(`${format.padEnd(12)} ${Math.round(m('rowsPerS'))} rows/s · CPU ms / 1,000 rows: this process ${m('benchCpuPer1k').toFixed(1)}, engine ${m('engineCpuPer1k').toFixed(1)}, total ${(m('benchCpuPer1k') + m('engineCpuPer1k')).toFixed(1)} · load ${runs.map((x) => x.load.toFixed(2)).join(', ')}`);
  }
} finally {
  await scratch.close();
}
