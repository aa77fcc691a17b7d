import type { Logger } from 'pino';
import { startWarehouse } from './server.js';

/**
 * Starts the embedded warehouse (ClickHouse's HTTP interface over chDB) for the CLI and
 * logs its URL.
 *
 * @returns a function that stops it: stops accepting, waits for in-flight queries, closes
 *   the engine.
 */
export async function runWarehouse(opts: { port: number; host: string; dataDir: string; logger: Logger }): Promise<() => Promise<void>> {
  const wh = await startWarehouse({ port: opts.port, host: opts.host, dataDir: opts.dataDir, logger: opts.logger });
  opts.logger.info({ url: wh.url, dataDir: opts.dataDir }, `ClickHouse HTTP interface (embedded chDB) on ${wh.url}`);
  return () => wh.close();
}
