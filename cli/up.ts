/**
 * `vafa up`: the all-in-one. Without NATS_URL / CLICKHOUSE_URL it starts a local nats-server with
 * JetStream and the embedded ClickHouse engine, then the API, the ISO 8583 listener and the scorer;
 * with `--simulate` the synthetic bank feeds it over the HTTP API. `--duration S` stops it by itself
 * and prints a summary.
 */
import { parseArgs } from 'node:util';
import { loadSettings, DEMO_TOKEN_KEY } from '../config/settings.js';
import { createLogger } from '../runtime/log.js';
import { startStack, type Stack } from '../runtime/stack.js';
import { untilSignal, type Command } from './main.js';
import { STREAM_TX } from '../contracts/subjects.js';
import { consumerName } from '../scorer/runtime/worker.js';
import { natsJsm } from '../runtime/nats.js';
import type { FeederSummary } from '../simulator/mod.js';

/** Waits until every partition consumer has nothing pending or un-acked (or the timeout passes). */
export async function waitForDrain(stack: Stack, timeoutMs: number): Promise<boolean> {
  const jsm = await natsJsm(stack.nc);
  const parts = stack.settings.scorerPartitions === 'all' ? [...Array(stack.settings.partitions).keys()] : stack.settings.scorerPartitions;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    let outstanding = 0;
    for (const p of parts) {
      const info = await jsm.consumers.info(STREAM_TX, consumerName(p)).catch(() => undefined);
      outstanding += info ? info.num_pending + info.num_ack_pending : 1;
    }
    if (outstanding === 0) return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

export async function countRows(stack: Stack, table: string): Promise<number> {
  const rs = await stack.warehouse.query({ query: `SELECT count() AS n FROM ${stack.settings.clickhouseDatabase}.${table} FINAL`, format: 'JSONEachRow' });
  const rows = await rs.json<{ n: string | number }>();
  return Number(rows[0]?.n ?? 0);
}

export const upCommand: Command = {
  summary: 'Run vafa all-in-one on embedded defaults (local NATS, embedded ClickHouse), optionally fed by the simulator.',
  usage: [
    'vafa up [--simulate] [--rate 300] [--customers 2000] [--days 365] [--seed 42] [--feedback 10] [--duration SECONDS]',
    '  --simulate     feed it with the synthetic bank over the HTTP API',
    '  --rate N       simulated events per second (default 300)',
    '  --customers N  simulated customers (default 2000)',
    '  --feedback X   complaints, compliments and bank surveys × X the realistic rates (default 10: a demo covers a few simulated days)',
    '  --duration S   stop by itself after S seconds and print a summary',
  ].join('\n'),
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: {
        simulate: { type: 'boolean', default: false },
        rate: { type: 'string', default: '300' },
        customers: { type: 'string', default: '2000' },
        days: { type: 'string', default: '365' },
        seed: { type: 'string', default: '42' },
        feedback: { type: 'string', default: '10' },
        duration: { type: 'string' },
      },
    });
    const settings = loadSettings();
    const logger = createLogger({ level: settings.logLevel, name: 'up' });
    if (settings.tokenKey === DEMO_TOKEN_KEY) logger.warn('VAFA_TOKEN_KEY is not set: card tokens use the demo key (fine for a demo, never for real card data)');
    const durationS = values.duration ? Number(values.duration) : undefined;
    if (durationS !== undefined && !(durationS > 0)) throw new Error('--duration must be a positive number of seconds');
    const started = Date.now();
    const stack = await startStack({ settings, logger, iso8583: true });
    console.log(`\nvafa is up: API ${stack.apiUrl}  dashboard ${stack.apiUrl}/  docs ${stack.apiUrl}/docs  NATS ${stack.natsUrl}  ClickHouse ${stack.clickhouseUrl}\n`);

    const abort = new AbortController();
    let feed: Promise<FeederSummary> | undefined;
    if (values.simulate) {
      const { createBank, runFeeder, createProgress } = await import('../simulator/mod.js');
      const progress = createProgress();
      const start = new Date(Date.UTC(2025, 0, 1));
      // A demo covers a few simulated days: feedback ×10 by default so that complaints, resolutions and survey answers show within a minute.
      const bank = createBank({ seed: Number(values.seed), customers: Number(values.customers), start, days: Number(values.days), feedback: Number(values.feedback) });
      feed = runFeeder({
        target: stack.apiUrl!, bank, rate: Number(values.rate), signal: abort.signal, onProgress: (p) => progress.update(p),
        ...(durationS ? { durationS } : {}), ...(settings.apiKeys[0] ? { apiKey: settings.apiKeys[0] } : {}),
        // Closed loop: the simulated customers answer the surveys the scorer sends.
        respond: { natsUrl: stack.natsUrl },
      });
    }
    const why = await untilSignal(durationS);
    abort.abort();
    const fed = feed ? await feed.catch((err: Error) => { logger.error({ err: err.message }, 'simulator failed'); return undefined; }) : undefined;
    if (durationS !== undefined || fed) {
      const drained = await waitForDrain(stack, 60_000);
      const rows = await countRows(stack, 'scored_transactions');
      const ledger = await countRows(stack, 'points_ledger');
      const customers = await countRows(stack, 'customer_state');
      const seconds = (Date.now() - started) / 1000;
      const stats = stack.scorer?.stats();
      const summary = {
        stopped_by: why,
        seconds: Number(seconds.toFixed(1)),
        events_in: fed?.accepted ?? null,
        duplicates: fed?.duplicates ?? null,
        invalid: fed?.invalid ?? null,
        // requests still in flight when the run stopped: the API may have stored them (they count as rows)
        unconfirmed_at_stop: fed?.failed ?? null,
        events_scored: stats?.events ?? null,
        feedback_in: fed?.feedback ?? null,
        surveys: fed?.surveys ? { triggers_seen: fed.surveys.surveys, answered: fed.surveys.answered } : null,
        rows_stored: { scored_transactions: rows, points_ledger: ledger, customer_state: customers, offers: await countRows(stack, 'offers'), feedback: await countRows(stack, 'feedback') },
        events_per_second: fed ? Number((fed.accepted / seconds).toFixed(1)) : null,
        drained,
      };
      console.log('\nsummary');
      for (const [k, v] of Object.entries(summary)) console.log(`  ${k.padEnd(20)} ${typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}`);
    }
    await stack.stop();
    return 0;
  },
};
