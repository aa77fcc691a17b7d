/**
 * The ClickHouse sink. Partition workers hand it each micro-batch's rows and await durability; it
 * coalesces concurrent batches into one insert per table per flush (a MergeTree part per insert is the
 * cost to keep low), retries a failed flush with back-off, and resolves every waiter only when all of
 * its rows are stored. Rows are keyed by deterministic ids in ReplacingMergeTree tables, so a retried
 * or replayed insert is harmless.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import type { Row, TableName } from '../../scorer/core/types.js';
import type { Logger } from '../../runtime/log.js';

export interface SinkOptions {
  database: string;
  /** Flush once this many rows are buffered. Default 20,000. */
  maxRows?: number;
  /** Flush at most this long after the first buffered row, ms. Default 100. */
  lingerMs?: number;
  /** Back-off between failed flush attempts, ms (doubling, capped at 5 s). Default 200. */
  retryMs?: number;
  logger?: Logger;
  onFlush?: (info: { rows: number; ms: number; tables: number }) => void;
}

interface Waiter {
  resolve: () => void;
  reject: (e: Error) => void;
}

export class SinkClosedError extends Error {
  override readonly name = 'SinkClosedError';
}

export class ClickHouseSink {
  private buffer = new Map<string, Row[]>();
  private buffered = 0;
  private waiters: Waiter[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private closed = false;
  /** True while the last flush attempt failed (the warehouse is unavailable). */
  degraded = false;

  constructor(private readonly ch: ClickHouseClient, private readonly opts: SinkOptions) {}

  /** Buffers rows and resolves once they are durable in ClickHouse. */
  async write(rows: ReadonlyMap<TableName | string, readonly Row[]>): Promise<void> {
    if (this.closed) throw new SinkClosedError('sink is closed');
    let n = 0;
    for (const [table, list] of rows) {
      if (list.length === 0) continue;
      let buf = this.buffer.get(table);
      if (!buf) this.buffer.set(table, (buf = []));
      for (const r of list) buf.push(r);
      n += list.length;
    }
    if (n === 0) return;
    this.buffered += n;
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (this.buffered >= (this.opts.maxRows ?? 20_000)) this.kick(0);
    else this.kick(this.opts.lingerMs ?? 100);
    return await done;
  }

  private kick(delay: number): void {
    if (delay === 0) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      void this.flush();
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, delay);
  }

  /** Flushes everything buffered now; concurrent calls chain. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.buffered === 0) return;
    const batch = this.buffer;
    const waiters = this.waiters;
    const rows = this.buffered;
    this.buffer = new Map();
    this.waiters = [];
    this.buffered = 0;
    this.flushing = this.insertWithRetry(batch, rows).then(
      () => waiters.forEach((w) => w.resolve()),
      (err: Error) => waiters.forEach((w) => w.reject(err)),
    ).finally(() => {
      this.flushing = undefined;
    });
    await this.flushing;
  }

  private async insertWithRetry(batch: Map<string, Row[]>, rows: number): Promise<void> {
    let delay = this.opts.retryMs ?? 200;
    for (let attempt = 1; ; attempt++) {
      const started = performance.now();
      try {
        await Promise.all([...batch].map(([table, values]) => this.ch.insert({
          table: `${this.opts.database}.${table}`, values, format: 'JSONEachRow',
          // A batch may span many months of event time (a replay, a profile opened years ago): the
          // default limit of 100 partitions per insert would refuse it forever.
          clickhouse_settings: { max_partitions_per_insert_block: '1000' },
        })));
        if (this.degraded) this.opts.logger?.info({ attempt }, 'clickhouse sink recovered');
        this.degraded = false;
        this.opts.onFlush?.({ rows, ms: performance.now() - started, tables: batch.size });
        return;
      } catch (err) {
        if (this.closed) throw err as Error;
        if (!this.degraded) this.opts.logger?.warn({ err: (err as Error).message, rows }, 'clickhouse insert failed; holding the batch and retrying');
        this.degraded = true;
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  /** Flushes what is buffered (retrying until `deadline`), then refuses new writes. */
  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
    this.closed = true;
  }

  /** Stops retrying: pending waiters are rejected (used at the shutdown deadline). */
  abort(): void {
    this.closed = true;
    for (const w of this.waiters) w.reject(new SinkClosedError('sink aborted'));
    this.waiters = [];
  }
}
