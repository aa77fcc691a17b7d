/**
 * Rows ClickHouse refused, traced back to the events that caused them. A partition worker collects its
 * batch's domain events in a `TracedEmit`, which remembers for every event the stream position of the event being
 * applied (or completed) when it was emitted, and so for every row made of it; the sink hands back the very row objects it refused, and
 * `refusedRowMessages` turns them into DLQ messages with deterministic ids.
 */
import { createHash } from 'node:crypto';
import { STREAM_TX, dlqSubject } from '../../contracts/subjects.js';
import { Emit, type DomainEvent } from '../core/mod.js';
import { tableRows, type Row, type TableName, TABLES, type RefusedRow } from '../../sinks/mod.js';

/** The stream position of the event that caused a row. */
export interface RowSource {
  seq: number;
  subject: string;
}

export interface DlqMessage {
  subject: string;
  msgId: string;
  data: Uint8Array;
  headers: Record<string, string>;
}

/** An `Emit` that knows which event caused each row (`customer_state`: the event of the snapshot kept). */
export class TracedEmit extends Emit {
  private current: RowSource | undefined;
  private readonly subjects = new Map<number, string>();
  private readonly eventSources = new Map<DomainEvent, RowSource>();
  private readonly customerSources = new Map<string, RowSource>();
  private readonly rowSources = new Map<Row, RowSource>();

  /** Events emitted from now on were caused by the event at `seq` on `subject`. */
  applying(seq: number, subject: string): void {
    this.subjects.set(seq, subject);
    this.current = { seq, subject };
  }

  /** Events emitted from now on complete the event at `seq` (one already passed to `applying`). */
  completing(seq: number): void {
    this.current = { seq, subject: this.subjects.get(seq) ?? '' };
  }

  /** The source of a row of the last `tableRows()`. */
  sourceOf(row: Row): RowSource | undefined {
    return this.rowSources.get(row);
  }

  override event(e: DomainEvent): void {
    super.event(e);
    if (this.current) this.eventSources.set(e, this.current);
  }

  override customer(id: string, snapshot: Parameters<Emit['customer']>[1]): void {
    super.customer(id, snapshot);
    if (this.current) this.customerSources.set(id, this.current);
  }

  /** Every table's rows (sinks/mapping.ts), each remembered with its source. */
  tableRows(): Map<TableName, Row[]> {
    this.rowSources.clear();
    return tableRows(this, (row, from) => {
      const source = typeof from === 'string' ? this.customerSources.get(from) : this.eventSources.get(from);
      if (source) this.rowSources.set(row, source);
    });
  }
}

const KEYS = new Map(TABLES.map((t) => [t.name, t.orderBy]));

/**
 * DLQ messages for refused rows: subject `dlq.sink.<error name>`, the row as JSON, the ClickHouse error
 * and the source event's stream position in headers. The id depends only on the table, the source
 * sequence and the row's key, so a replay publishes the same ids (JetStream drops the duplicates).
 */
export function refusedRowMessages(refused: readonly RefusedRow[], sourceOf: (row: Row) => RowSource | undefined): DlqMessage[] {
  return refused.map((r) => {
    const src = sourceOf(r.row);
    const reason = r.error.reason.toLowerCase();
    const keyCols = KEYS.get(r.table);
    const key = JSON.stringify(keyCols ? keyCols.map((c) => r.row[c] ?? null) : r.row);
    const digest = createHash('sha256').update(key).digest('hex').slice(0, 24);
    const headers: Record<string, string> = {
      'Vafa-Reason': reason, 'Vafa-Error-Name': r.error.reason, 'Vafa-Detail': r.error.message.slice(0, 1000),
      'Vafa-Table': r.table, 'Vafa-Isolated': String(r.isolated), 'Vafa-Source-Stream': STREAM_TX,
      ...(r.error.code ? { 'Vafa-Error-Code': r.error.code } : {}),
      ...(src ? { 'Vafa-Source-Subject': src.subject, 'Vafa-Source-Seq': String(src.seq) } : {}),
    };
    return {
      subject: dlqSubject('sink', reason), msgId: `dlq:sink:${r.table}:${src?.seq ?? 0}:${digest}`,
      data: Buffer.from(JSON.stringify(r.row)), headers,
    };
  });
}
