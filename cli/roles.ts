/** Single-role commands: `vafa ingest`, `vafa scorer`, `vafa warehouse`, `vafa migrate`. */
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadSettings, SettingsError, readPolicyFileSync, UsageError } from '../config/mod.js';
import { insecureEngines, startStack, type Stack, type StackOptions } from '../app/mod.js';
import { createLogger, type Logger, untilParentGone } from '../platform/mod.js';
import { forceAfter, guardSignals, untilSignal, type Command } from './main.js';
import { createWarehouseClient, migrate } from '../sinks/mod.js';

function requireExternal(settings: ReturnType<typeof loadSettings>, role: string): void {
  const missing = [!settings.natsUrl && 'NATS_URL', !settings.clickhouseUrl && 'CLICKHOUSE_URL'].filter(Boolean);
  if (missing.length) throw new UsageError(`set ${missing.join(' and ')}: \`vafa ${role}\` joins a running deployment (or use \`vafa up\` for the all-in-one)`);
}

/** Refuses engines off this machine without credentials unless `--insecure` (docs/security.md); says so when insecure. */
function requireCredentials(settings: ReturnType<typeof loadSettings>, argv: string[], logger: Logger): void {
  const { values } = parseArgs({ args: argv, options: { insecure: { type: 'boolean', default: false } } });
  const problems = insecureEngines(settings);
  const [first] = problems;
  if (first === undefined) return;
  if (!values.insecure) {
    const [setting = first] = first.split(' ', 1);
    throw new SettingsError(setting, setting === 'NATS_URL' ? settings.natsUrl : settings.clickhouseUrl, `${problems.join('; ')}; or pass --insecure to connect without`);
  }
  for (const p of problems) logger.warn(`--insecure: ${p}`);
}

/** Waits for a signal, then stops the stack within `VAFA_SHUTDOWN_MS` (a second signal forces). */
async function runUntilSignal(stack: Stack, logger: Logger): Promise<number> {
  const why = await untilSignal();
  logger.info(`stopping after ${why}`);
  const hardMs = stack.settings.shutdownMs;
  const cancelForce = forceAfter(hardMs, `stop after ${why}`);
  await stack.stop({ input: 2000, scorer: Math.max(1000, hardMs - 6000), clients: 1500 });
  cancelForce();
  return 0;
}

/** `vafa <role>` joining a running deployment: checks the settings, starts the stack with `options`, runs until a signal. */
async function runRole(role: 'ingest' | 'scorer', argv: string[], options: Omit<StackOptions, 'settings' | 'logger'>): Promise<number> {
  const settings = loadSettings();
  requireExternal(settings, role);
  const logger = createLogger({ level: settings.logLevel, name: role });
  requireCredentials(settings, argv, logger);
  guardSignals();
  const stack = await startStack({ settings, logger, ...options });
  return await runUntilSignal(stack, logger);
}

export const ingestCommand: Command = {
  summary: 'Run the HTTP API and the ISO 8583 listener against NATS_URL and CLICKHOUSE_URL.',
  usage: 'vafa ingest [--insecure]   (--insecure: allow a NATS or ClickHouse off this machine without credentials)',
  async run(argv) {
    return await runRole('ingest', argv, { scorer: false, iso8583: true, defaultIngestWorkers: os.availableParallelism() });
  },
};

export const scorerCommand: Command = {
  summary: 'Run the scorer for VAFA_SCORER_PARTITIONS against NATS_URL and CLICKHOUSE_URL.',
  usage: 'vafa scorer [--insecure]   (--insecure: allow a NATS or ClickHouse off this machine without credentials)',
  async run(argv) {
    return await runRole('scorer', argv, { api: false });
  },
};

export const warehouseCommand: Command = {
  summary: 'Run the embedded ClickHouse engine (chDB) behind the ClickHouse HTTP interface.',
  usage: 'vafa warehouse [--port 8123] [--host 127.0.0.1] [--data-dir ./data/clickhouse]',
  async run(argv) {
    const settings = loadSettings();
    const { values } = parseArgs({ args: argv, options: { port: { type: 'string' }, host: { type: 'string' }, 'data-dir': { type: 'string' } } });
    const logger = createLogger({ level: settings.logLevel, name: 'warehouse' });
    const { runWarehouse } = await import('../platform/warehouse/mod.js');
    guardSignals();
    // Started by vafa (IPC channel): stop when vafa is gone, however it went.
    const parentGone = untilParentGone();
    const stop = await runWarehouse({
      port: Number(values.port ?? settings.localClickhousePort),
      host: values.host ?? '127.0.0.1',
      dataDir: path.resolve(values['data-dir'] ?? path.join(settings.dataDir, 'clickhouse')),
      logger,
    });
    const why = await Promise.race([untilSignal(), parentGone]);
    logger.info(`stopping after ${why}`);
    const cancelForce = forceAfter(settings.shutdownMs, `warehouse stop after ${why}`);
    await stop();
    cancelForce();
    return 0;
  },
};

export const migrateCommand: Command = {
  summary: 'Create the ClickHouse database, tables and views (idempotent).',
  usage: 'vafa migrate   (uses CLICKHOUSE_URL, CLICKHOUSE_USER, CLICKHOUSE_PASSWORD, CLICKHOUSE_DATABASE; VAFA_RULES for the bank calendar of the views)',
  async run() {
    const settings = loadSettings();
    if (!settings.clickhouseUrl) throw new UsageError('set CLICKHOUSE_URL to the ClickHouse to migrate');
    const ch = createWarehouseClient({ url: settings.clickhouseUrl, user: settings.clickhouseUser, password: settings.clickhousePassword, database: 'default' });
    const r = await migrate(ch, settings.clickhouseDatabase, { calendar: readPolicyFileSync('rules', settings.rulesPath), retention: settings.retentionDays });
    console.log(`migrated ${settings.clickhouseDatabase}: ${r.tables} tables, ${r.views} views`);
    for (const c of r.retention) console.log(`retention of ${c.table}: ${c.to ? `TTL ${c.to}` : 'kept for ever'} (was ${c.from ? `TTL ${c.from}` : 'for ever'})`);
    await ch.close();
    return 0;
  },
};
