/** `vafa replay --from <seq|time>`: rebuild the ClickHouse tables from stream TX. */
import { parseArgs } from 'node:util';
import { loadSettings, buildEngineConfig, UsageError } from '../config/mod.js';
import { createLogger, connectNats } from '../platform/mod.js';
import { createWarehouseClient, migrate } from '../sinks/mod.js';
import { parseReplayFrom, replay } from '../scorer/runtime/mod.js';
import { progressLine } from './progress.js';
import type { Command } from './main.js';

export const replayCommand: Command = {
  summary: 'Rebuild the ClickHouse tables from stream TX (state from the first message; rows from --from on).',
  usage: 'vafa replay --from <seq|RFC 3339 time> [--truncate]   (uses NATS_URL, CLICKHOUSE_URL)',
  async run(argv) {
    const { values } = parseArgs({ args: argv, options: { from: { type: 'string' }, truncate: { type: 'boolean', default: false } } });
    if (!values.from) throw new UsageError('--from is required (a stream sequence, e.g. 1, or a time, e.g. 2026-01-01T00:00:00Z)');
    const from = parseReplayFrom(values.from);
    const settings = loadSettings();
    if (!settings.natsUrl || !settings.clickhouseUrl) throw new UsageError('set NATS_URL and CLICKHOUSE_URL to the deployment to replay');
    const logger = createLogger({ level: settings.logLevel, name: 'replay' });
    const nc = await connectNats(settings.natsUrl, 'vafa-replay', logger, settings, { firstConnectMs: settings.startupTimeoutMs });
    const conn = { url: settings.clickhouseUrl, user: settings.clickhouseUser, password: settings.clickhousePassword };
    const admin = createWarehouseClient({ ...conn, database: 'default' });
    const engineConfig = buildEngineConfig(settings);
    await migrate(admin, settings.clickhouseDatabase, { calendar: engineConfig.loyalty.timeline.latest.rules, retention: settings.retentionDays });
    await admin.close();
    const warehouse = createWarehouseClient({ ...conn, database: settings.clickhouseDatabase });
    let churn;
    try {
      const { loadChurnScorer } = await import('../scorer/runtime/model/mod.js');
      churn = await loadChurnScorer(settings.modelPath, logger);
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'replaying without a churn model');
    }
    const progress = progressLine('replay');
    const summary = await replay({
      engineConfig,
      nc, warehouse, database: settings.clickhouseDatabase, from, truncate: values.truncate, logger, ...(churn ? { scorer: churn } : {}),
      onProgress: (p) => progress.update(`seq ${p.seq}/${p.lastSeq}  rows written ${p.written}`, p.seq / Math.max(1, p.lastSeq)),
    });
    progress.done(`replayed ${summary.events} events (seq ≤ ${summary.lastSeq}), wrote ${summary.written} rows, ${summary.rejected} rejected, in ${summary.seconds.toFixed(1)} s`);
    await warehouse.close();
    await nc.drain();
    return 0;
  },
};
