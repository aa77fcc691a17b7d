/**
 * `vafa backfill`: load a bank's history from files through the scorer core into the state store and
 * ClickHouse before the live stream starts (scorer/runtime/backfill/deployment.ts says how the cut-over
 * works). Uses NATS_URL, CLICKHOUSE_URL and VAFA_DATA_DIR like the other roles.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { auditFileStatements, insertAuditRows } from '../api/mod.js';
import { loadSettings, buildEngineConfig, readPolicyFileSync, UsageError, type Settings } from '../config/mod.js';
import { createLogger, connectNats, type Logger } from '../platform/mod.js';
import { createWarehouseClient, migrate } from '../sinks/mod.js';
import { backfillDeployment, listSources, type BackfillProgress } from '../scorer/runtime/backfill/mod.js';
import type { NatsConnection } from '@nats-io/transport-node';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Stack } from '../app/mod.js';
import { integerFlag, timeFlag } from './flags.js';
import type { Command } from './main.js';

/** Progress: a bar with rate and ETA redrawn on a terminal; a plain line every few seconds otherwise. */
export function backfillProgress(stream: NodeJS.WriteStream = process.stderr, everyMs = 5000): { update(p: BackfillProgress): void; done(): void } {
  const tty = stream.isTTY === true;
  let last = 0;
  return {
    update(p) {
      const now = Date.now();
      if (now - last < (tty ? 200 : everyMs)) return;
      last = now;
      const f = p.bytesTotal > 0 ? Math.min(1, p.bytesRead / p.bytesTotal) : 0;
      const rate = p.events / Math.max(1e-3, p.seconds);
      const eta = f > 0.001 ? (p.seconds * (1 - f)) / f : Number.NaN;
      const etaText = Number.isFinite(eta) ? `ETA ${Math.floor(eta / 60)}m${String(Math.round(eta % 60)).padStart(2, '0')}s` : 'ETA …';
      const text = `${p.events.toLocaleString('en')} events, ${Math.round(rate).toLocaleString('en')}/s, ${p.bad} bad, ${etaText}`;
      if (tty) {
        const filled = Math.round(f * 24);
        stream.write(`\r\x1b[2Kbackfill: [${'█'.repeat(filled)}${'·'.repeat(24 - filled)}] ${(f * 100).toFixed(0).padStart(3)}% ${text}`);
      } else {
        stream.write(`backfill: ${(f * 100).toFixed(1)}% ${text}\n`);
      }
    },
    done() {
      if (tty) stream.write('\r\x1b[2K');
    },
  };
}

/** Neither the all-in-one's engines nor CLICKHOUSE_URL: the worker threads would have no warehouse to write to. */
function noWarehouseUrl(): never {
  throw new Error('vafa backfill: no ClickHouse URL for the worker threads (neither CLICKHOUSE_URL nor the local engines)');
}

export const backfillCommand: Command = {
  summary: 'Load a bank\'s history (profiles, transactions, redemptions, feedback) through the scorer core into the state store and ClickHouse, before going live.',
  usage: [
    'vafa backfill [--cutover RFC3339] [--strict] [--batch 4096] [--cache-customers 20000] [--workers N] FILE|DIR...',
    '  uses NATS_URL and CLICKHOUSE_URL when set, else starts the all-in-one\'s engines on VAFA_DATA_DIR (then `vafa up` goes live)',
    '  FILE|DIR          profiles*, transactions*, redemptions*, feedback*, club* (previous club balances: docs/backfill.md)',
    '                    (.ndjson/.jsonl/.csv, optionally .gz) or events*.ndjson ({kind, body} a line);',
    '                    a directory: the files above in it (the layout of `vafa simulate --out DIR`)',
    '  --cutover T       the live stream owns events after T: they are left out (counted). Default: the history\'s own end',
    '  --strict          stop at the first bad line (default: count and report bad lines, go on)',
    '  --batch N         events per micro-batch through the core (default 4096)',
    '  --cache-customers N  customers per partition kept decoded in memory, the rest in the store (default 20000)',
    '  --workers N       worker threads for the partitions (default: the CPU count, at most VAFA_PARTITIONS; 1: one thread)',
    'Run it before ingest and the scorer start: stream TX must hold no message. The live scorer then resumes after the history.',
  ].join('\n'),
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv, allowPositionals: true,
      options: {
        cutover: { type: 'string' }, strict: { type: 'boolean', default: false }, batch: { type: 'string' }, 'cache-customers': { type: 'string' },
        workers: { type: 'string' },
      },
    });
    if (positionals.length === 0) throw new UsageError('name the history: vafa backfill FILE|DIR... (see vafa backfill --help)');
    const { cutover, batch, cacheCustomers, askedWorkers } = backfillOptions(values);
    listSources(positionals); // a missing or unnamed file is refused before any engine starts
    const settings = loadSettings();
    const logger = createLogger({ level: settings.logLevel, name: 'backfill' });
    const workers = Math.min(askedWorkers ?? os.availableParallelism(), settings.partitions);
    const { nc, warehouse, engines } = await backfillEngines(settings, logger);
    let churn;
    try {
      // With workers, each loads its own (threads.ts).
      if (workers === 1) {
        const { loadChurnScorer } = await import('../scorer/runtime/model/mod.js');
        churn = await loadChurnScorer(settings.modelPath, logger);
      }
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'backfilling without a churn model');
    }
    const progress = backfillProgress();
    const principal = `cli:${os.userInfo().username}`;
    let audited = 0;
    try {
      const s = await backfillDeployment({
        paths: positionals, nc, warehouse, database: settings.clickhouseDatabase, dataDir: settings.dataDir, engineConfig: buildEngineConfig(settings),
        partitions: settings.partitions, tokenKey: settings.tokenKey, streamReplicas: settings.streamReplicas, duplicateWindowS: settings.duplicateWindowS,
        logger, strict: values.strict, onProgress: (p) => progress.update(p),
        // Consent and membership statements in the files are audited as the API's are (docs/security.md).
        onStatements: async (statements) => { audited += await auditFileStatements(warehouse, settings.clickhouseDatabase, principal, statements); },
        ...(churn ? { scorer: churn } : {}), ...(cutover !== undefined ? { cutover } : {}), ...(batch ? { batch } : {}), ...(cacheCustomers ? { cacheCustomers } : {}),
        workers, threads: {
          engine: { rulesPath: settings.rulesPath, lifecyclePath: settings.lifecyclePath, offersPath: settings.offersPath }, modelPath: settings.modelPath, logLevel: settings.logLevel,
          warehouse: { url: engines?.clickhouseUrl ?? settings.clickhouseUrl ?? noWarehouseUrl(), user: settings.clickhouseUser, password: settings.clickhousePassword },
        },
      });
      progress.done();
      await insertAuditRows(warehouse, settings.clickhouseDatabase, [{
        principal, via: 'cli', action: 'admin.backfill', method: 'CLI', route: 'vafa backfill', status: 200,
        remote_addr: os.hostname(), detail: JSON.stringify({ files: positionals, events: s.events, bad: s.bad, position: s.position, cutover: s.cutover, statements: audited }).slice(0, 2000),
      }]);
      printSummary(s, audited);
      return s.bad > 0 || s.refusedRows > 0 ? 2 : 0;
    } finally {
      await (churn as { close?: () => Promise<void> } | undefined)?.close?.();
      if (engines) {
        await engines.stop();
      } else {
        await warehouse.close();
        await nc.drain();
      }
    }
  },
};

/** `vafa backfill`'s options, checked; throws a UsageError naming the first one that is wrong. */
function backfillOptions(values: { cutover?: string; batch?: string; 'cache-customers'?: string; workers?: string }): {
  cutover: number | undefined; batch: number | undefined; cacheCustomers: number | undefined; askedWorkers: number | undefined;
} {
  const cutover = values.cutover === undefined ? undefined : timeFlag('cutover', values.cutover);
  const positiveInt = (name: string, raw: string | undefined): number | undefined => (raw === undefined ? undefined : integerFlag(name, raw));
  const batch = positiveInt('batch', values.batch);
  const cacheCustomers = positiveInt('cache-customers', values['cache-customers']);
  const askedWorkers = positiveInt('workers', values.workers);
  return { cutover, batch, cacheCustomers, askedWorkers };
}

/**
 * A deployment's NATS and ClickHouse (NATS_URL and CLICKHOUSE_URL; its schema migrated first), or the
 * all-in-one's own engines on VAFA_DATA_DIR (as `vafa up` starts them, without scorer or API): `engines`.
 */
async function backfillEngines(settings: Settings, logger: Logger): Promise<{ nc: NatsConnection; warehouse: ClickHouseClient; engines: Stack | undefined }> {
  if (settings.natsUrl && settings.clickhouseUrl) {
    const nc = await connectNats(settings.natsUrl, 'vafa-backfill', logger, settings, { firstConnectMs: settings.startupTimeoutMs });
    const conn = { url: settings.clickhouseUrl, user: settings.clickhouseUser, password: settings.clickhousePassword };
    const admin = createWarehouseClient({ ...conn, database: 'default' });
    // The reporting views cut bank-local days with the configured rules' calendar, as `vafa up` and `vafa migrate` do.
    await migrate(admin, settings.clickhouseDatabase, { calendar: readPolicyFileSync('rules', settings.rulesPath), retention: settings.retentionDays });
    await admin.close();
    return { nc, warehouse: createWarehouseClient({ ...conn, database: settings.clickhouseDatabase }), engines: undefined };
  }
  const { startStack } = await import('../app/mod.js');
  const engines = await startStack({ settings, logger, scorer: false, api: false, churn: null });
  return { nc: engines.nc, warehouse: engines.warehouse, engines };
}

/** What the backfill did, on stdout: counts, the first bad lines, the cut-over and where the live stream resumes. */
function printSummary(s: Awaited<ReturnType<typeof backfillDeployment>>, audited: number): void {
  const kinds = Object.entries(s.byKind).map(([k, n]) => `${n} ${k}`).join(', ');
  console.log(`backfill: ${s.events} events (${kinds}) in ${s.seconds.toFixed(1)} s, ${Math.round(s.eventsPerSecond)} events/s; ${s.rows} rows; `
    + `${s.duplicates} duplicates; ${s.bad} bad lines; ${s.afterCutover} after the cut-over left to the live stream; ${s.resumed} already in the store`);
  for (const b of s.badLines.slice(0, 20)) console.log(`  bad: ${b.file}:${b.line}: ${b.reason}`);
  if (s.bad > 20) console.log(`  … and ${s.bad - 20} more bad lines (the first ${s.badLines.length} are in the log)`);
  console.log(`backfill: cut-over ${s.cutover ?? '(no events)'}; state covers TX up to seq ${s.position}; the first live event will be seq ${s.liveFromSeq}`);
  console.log(`backfill: ${audited} consent and membership statements recorded in the access audit`);
}
