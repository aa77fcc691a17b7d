/**
 * Every component reaches ClickHouse through `@clickhouse/client` over HTTP: the embedded engine and a
 * real server are the same to them.
 */
import { createClient, type ClickHouseClient } from '@clickhouse/client';

export interface WarehouseConnection {
  url: string;
  user: string;
  password: string;
  database: string;
}

export function createWarehouseClient(c: WarehouseConnection, opts: { requestTimeoutMs?: number; maxOpenConnections?: number } = {}): ClickHouseClient {
  return createClient({
    url: c.url,
    username: c.user,
    password: c.password,
    database: c.database,
    request_timeout: opts.requestTimeoutMs ?? 30_000,
    max_open_connections: opts.maxOpenConnections ?? 10,
    compression: { request: false, response: false },
    clickhouse_settings: { date_time_input_format: 'best_effort' },
  });
}

export type { ClickHouseClient };
