/**
 * The ClickHouse tables as an `Output`: a batch is rows by table; it wraps `ClickHouseSink` (which
 * coalesces the batches of every partition into few inserts, retries transient and operator failures and
 * isolates the rows the server refuses) and adds the bound on pending rows and the close with a deadline.
 */
import type { Row, TableName } from './mapping.js';
import { withDeadline } from '../platform/mod.js';
import type { ClickHouseSink, RefusedRow } from './clickhouse/sink.js';
import { OutputGate, type Output, type OutputStats, type Refusal } from './output.js';

/** Rows to insert, by table. */
export type RowsByTable = ReadonlyMap<TableName | string, readonly Row[]>;

/** A row the server refused, with the output's reason (`error.reason`) and detail (`error.message`). */
export type RefusedTableRow = RefusedRow & Refusal;

export interface ClickHouseOutputOptions {
  /** Most rows accepted and not yet durable; a writer beyond it waits. Default 100,000. */
  maxPendingRows?: number;
}

export class ClickHouseOutput implements Output<RowsByTable, RefusedTableRow> {
  readonly name = 'clickhouse';
  private readonly gate: OutputGate;

  constructor(readonly sink: ClickHouseSink, options: ClickHouseOutputOptions = {}) {
    this.gate = new OutputGate(this.name, options.maxPendingRows);
  }

  get stats(): OutputStats {
    return this.gate.stats(this.sink.degraded);
  }

  async write(batch: RowsByTable): Promise<RefusedTableRow[]> {
    let rows = 0;
    for (const list of batch.values()) rows += list.length;
    if (rows === 0) return [];
    const refused = await this.gate.run(rows, () => this.sink.write(batch));
    return refused.map((r) => Object.assign(r, { reason: r.error.reason, detail: r.error.message.slice(0, 1000) }));
  }

  /**
   * Flushes what is buffered (also rows written to the sink directly) until the deadline; then the sink is
   * aborted and pending writers get `SinkClosedError`.
   */
  async close(deadlineMs: number): Promise<void> {
    const until = Date.now() + deadlineMs;
    const closing = this.gate.close(deadlineMs, () => this.sink.abort());
    const flushed = this.sink.close().catch(() => undefined);
    await closing;
    await withDeadline(flushed, Math.max(0, until - Date.now()), 'flushing the ClickHouse sink').catch(() => this.sink.abort());
  }
}
