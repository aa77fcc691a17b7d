/**
 * A throwaway embedded ClickHouse for the insert benchmarks (bench/insert-formats.ts, bench/small-inserts.ts):
 * started on a free port in a temporary directory, with a client on its `default` database.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { createLogger, freePort, spawnWarehouse, type ChildHandle } from '../platform/mod.js';
import { createWarehouseClient } from '../sinks/mod.js';

export interface ScratchWarehouse {
  /** The engine's process (its `pid` for CPU readings). */
  wh: ChildHandle & { url: string };
  ch: ClickHouseClient;
  /** Closes the client, stops the engine and removes the directory. */
  close(): Promise<void>;
}

/** Starts one, in a temporary directory named after `prefix`. */
export async function scratchWarehouse(prefix: string): Promise<ScratchWarehouse> {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  const logger = createLogger({ level: 'warn', name: 'bench' });
  const wh = await spawnWarehouse({ port: await freePort(), dataDir: path.join(dir, 'clickhouse'), logger });
  const ch = createWarehouseClient({ url: wh.url, user: 'default', password: '', database: 'default' });
  return {
    wh, ch,
    async close() {
      await ch.close();
      await wh.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
