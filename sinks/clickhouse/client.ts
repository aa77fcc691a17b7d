/**
 * Every component reaches ClickHouse through `@clickhouse/client` over HTTP: the embedded engine and a
 * real server are the same to them.
 */
import { ClickHouseLogLevel, createClient, type ClickHouseClient, type Logger as ClientLogger, type LogParams, type WarnLogParams } from '@clickhouse/client';
import { errorSummary, type Logger } from '../../platform/mod.js';

export interface WarehouseConnection {
  url: string;
  user: string;
  password: string;
  database: string;
}

export interface WarehouseClientOptions {
  /** Per-request timeout, ms. Default 30,000. */
  requestTimeoutMs?: number;
  /** Most sockets open at once. Default 10. */
  maxOpenConnections?: number;
  /** Receives the library's own warnings and errors, one line each at debug. Default: none (they are dropped). */
  logger?: Logger;
}

/**
 * The library's logger class. Its default writes a multi-line dump to the console on every failed
 * request; the callers already report failures (once per episode), so its lines go to pino at debug, one
 * line each, with the error summarized and the request arguments left out (they may quote data).
 */
function clientLoggerClass(logger: Logger | undefined): new () => ClientLogger {
  const write = (level: string, p: WarnLogParams): void => {
    logger?.debug({ clickhouse_client: p.module, client_level: level, ...(p.err ? { err: errorSummary(p.err) } : {}) }, p.message);
  };
  return class implements ClientLogger {
    trace(p: LogParams): void { write('trace', p); }
    debug(p: LogParams): void { write('debug', p); }
    info(p: LogParams): void { write('info', p); }
    warn(p: WarnLogParams): void { write('warn', p); }
    error(p: WarnLogParams): void { write('error', p); }
  };
}

export function createWarehouseClient(c: WarehouseConnection, opts: WarehouseClientOptions = {}): ClickHouseClient {
  return createClient({
    url: c.url,
    username: c.user,
    password: c.password,
    database: c.database,
    request_timeout: opts.requestTimeoutMs ?? 30_000,
    max_open_connections: opts.maxOpenConnections ?? 10,
    compression: { request: false, response: false },
    clickhouse_settings: { date_time_input_format: 'best_effort' },
    log: { LoggerClass: clientLoggerClass(opts.logger), level: opts.logger ? ClickHouseLogLevel.WARN : ClickHouseLogLevel.OFF },
  });
}

export type { ClickHouseClient };
