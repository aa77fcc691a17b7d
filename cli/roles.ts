/** Single-role commands: `vafa ingest`, `vafa scorer`, `vafa warehouse`, `vafa migrate`. */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadSettings } from '../config/settings.js';
import { createLogger } from '../runtime/log.js';
import { startStack } from '../runtime/stack.js';
import { untilSignal, type Command } from './main.js';
import { createWarehouseClient } from '../sinks/clickhouse/client.js';
import { migrate } from '../sinks/clickhouse/migrate.js';

function requireExternal(settings: ReturnType<typeof loadSettings>, role: string): void {
  const missing = [!settings.natsUrl && 'NATS_URL', !settings.clickhouseUrl && 'CLICKHOUSE_URL'].filter(Boolean);
  if (missing.length) throw new Error(`vafa ${role} joins a running deployment: set ${missing.join(' and ')} (or use \`vafa up\` for the all-in-one)`);
}

export const ingestCommand: Command = {
  summary: 'Run the HTTP API and the ISO 8583 listener against NATS_URL and CLICKHOUSE_URL.',
  usage: 'vafa ingest',
  async run() {
    const settings = loadSettings();
    requireExternal(settings, 'ingest');
    const logger = createLogger({ level: settings.logLevel, name: 'ingest' });
    const stack = await startStack({ settings, logger, scorer: false, iso8583: true });
    logger.info(`stopping after ${await untilSignal()}`);
    await stack.stop();
    return 0;
  },
};

export const scorerCommand: Command = {
  summary: 'Run the scorer for VAFA_SCORER_PARTITIONS against NATS_URL and CLICKHOUSE_URL.',
  usage: 'vafa scorer',
  async run() {
    const settings = loadSettings();
    requireExternal(settings, 'scorer');
    const logger = createLogger({ level: settings.logLevel, name: 'scorer' });
    const stack = await startStack({ settings, logger, api: false });
    logger.info(`stopping after ${await untilSignal()}`);
    await stack.stop();
    return 0;
  },
};

export const warehouseCommand: Command = {
  summary: 'Run the embedded ClickHouse engine (chDB) behind the ClickHouse HTTP interface.',
  usage: 'vafa warehouse [--port 8123] [--host 127.0.0.1] [--data-dir ./data/clickhouse]',
  async run(argv) {
    const settings = loadSettings();
    const { values } = parseArgs({ args: argv, options: { port: { type: 'string' }, host: { type: 'string' }, 'data-dir': { type: 'string' } } });
    const logger = createLogger({ level: settings.logLevel, name: 'warehouse' });
    const { runWarehouse } = await import('../runtime/warehouse/main.js');
    const stop = await runWarehouse({
      port: Number(values.port ?? settings.localClickhousePort),
      host: values.host ?? '127.0.0.1',
      dataDir: path.resolve(values['data-dir'] ?? path.join(settings.dataDir, 'clickhouse')),
      logger,
    });
    await untilSignal();
    await stop();
    return 0;
  },
};

export const migrateCommand: Command = {
  summary: 'Create the ClickHouse database, tables and views (idempotent).',
  usage: 'vafa migrate   (uses CLICKHOUSE_URL, CLICKHOUSE_USER, CLICKHOUSE_PASSWORD, CLICKHOUSE_DATABASE)',
  async run() {
    const settings = loadSettings();
    if (!settings.clickhouseUrl) throw new Error('set CLICKHOUSE_URL to the ClickHouse to migrate');
    const ch = createWarehouseClient({ url: settings.clickhouseUrl, user: settings.clickhouseUser, password: settings.clickhousePassword, database: 'default' });
    const r = await migrate(ch, settings.clickhouseDatabase);
    console.log(`migrated ${settings.clickhouseDatabase}: ${r.tables} tables, ${r.views} views`);
    await ch.close();
    return 0;
  },
};
