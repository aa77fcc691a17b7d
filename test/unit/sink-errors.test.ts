import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { ClickHouseError, parseError } from '@clickhouse/client';
import { classifySinkError, refusedRowHint } from '../../sinks/clickhouse/errors.js';
import { refusedRowMessages, TracedEmit } from '../../scorer/runtime/refused.js';
import type { RefusedRow } from '../../sinks/clickhouse/sink.js';
import type { TransactionV1 } from '../../contracts/events.js';
import type { CustomerSnapshot } from '../../scorer/core/events.js';

const V = '(version 25.8.2.1)';
/** Error bodies as a ClickHouse server (and the embedded warehouse) sends them; parsed by the client itself. */
const server = (code: number, type: string, message: string): Error => parseError(`Code: ${code}. DB::Exception: ${message}. (${type}) ${V}`);

/** A real connection error: connect to a port nobody listens on. */
async function refusedConnection(): Promise<Error> {
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise<void>((r) => probe.close(() => r()));
  return await new Promise<Error>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('error', resolve);
  });
}

describe('classifySinkError', () => {
  it('reads real server errors through the client parser', () => {
    const e = server(72, 'CANNOT_PARSE_NUMBER', "Unsigned type must not contain '-' symbol: (while reading the value of key amount_minor): (at row 2)\n: While executing ParallelParsingBlockInputFormat");
    expect(e).toBeInstanceOf(ClickHouseError);
    expect(classifySinkError(e)).toEqual({ kind: 'data', reason: 'CANNOT_PARSE_NUMBER', code: '72', message: "Unsigned type must not contain '-' symbol: (while reading the value of key amount_minor): (at row 2)" });
    expect(refusedRowHint(e)).toBe(2);
  });

  it.each([
    [27, 'CANNOT_PARSE_INPUT_ASSERTION_FAILED', "Cannot parse input: expected '\"' before: 'abc': (while reading the value of key amount_minor): (at row 2)"],
    [41, 'CANNOT_PARSE_DATETIME', 'Cannot read DateTime: unexpected word: (while reading the value of key occurred_at): (at row 1)'],
    [53, 'TYPE_MISMATCH', 'Type mismatch in IN or VALUES section'],
    [321, 'VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE', 'Value 70000 is out of range of UInt16'],
    [117, 'INCORRECT_DATA', 'Unknown field found while parsing JSONEachRow format: no_such_col: (at row 1)'],
    [16, 'NO_SUCH_COLUMN_IN_TABLE', 'No such column nope in table vafa.offers'],
    [349, 'CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN', 'Cannot insert NULL value into a column of type String'],
    [252, 'TOO_MANY_PARTS', 'Too many partitions for single INSERT block (more than 1000)'],
  ])('data: %i %s', (code, type, message) => {
    expect(classifySinkError(server(code, type, message))).toMatchObject({ kind: 'data', reason: type, code: String(code) });
  });

  it.each([
    [252, 'TOO_MANY_PARTS', 'Too many parts (3001) in table vafa.scored_transactions. Merges are processing significantly slower than inserts'],
    [241, 'MEMORY_LIMIT_EXCEEDED', 'Memory limit (total) exceeded: would use 3.50 GiB'],
    [202, 'TOO_MANY_SIMULTANEOUS_QUERIES', 'Too many simultaneous queries. Maximum: 100'],
    [159, 'TIMEOUT_EXCEEDED', 'Timeout exceeded: elapsed 30.0 seconds'],
    [209, 'SOCKET_TIMEOUT', 'Timeout exceeded while reading from socket'],
    [210, 'NETWORK_ERROR', 'The warehouse is shutting down'],
    [242, 'TABLE_IS_READ_ONLY', 'Table is in readonly mode (replica path: /clickhouse/tables/01/offers/replicas/r1)'],
    [999, 'KEEPER_EXCEPTION', 'Session expired'],
    [1001, 'STD_EXCEPTION', 'std::exception. Code: 1001, type: std::runtime_error'],
  ])('transient: %i %s', (code, type, message) => {
    expect(classifySinkError(server(code, type, message))).toMatchObject({ kind: 'transient', reason: type, code: String(code) });
  });

  it.each([
    [60, 'UNKNOWN_TABLE', 'Table vafa.nope does not exist. Maybe you meant system.one?'],
    [81, 'UNKNOWN_DATABASE', "Database vafa doesn't exist"],
    [516, 'AUTHENTICATION_FAILED', 'default: Authentication failed: password is incorrect, or there is no user with such name'],
    [164, 'READONLY', 'Cannot execute query in readonly mode'],
    [497, 'ACCESS_DENIED', 'vafa: Not enough privileges'],
    [243, 'NOT_ENOUGH_SPACE', 'Cannot reserve 1.00 MiB, not enough space'],
  ])('operator (no row at fault): %i %s', (code, type, message) => {
    expect(classifySinkError(server(code, type, message))).toMatchObject({ kind: 'operator', reason: type });
  });

  it('treats Node socket errors as transient, also inside an AggregateError (happy eyeballs) or a cause', async () => {
    const refused = await refusedConnection();
    expect(classifySinkError(refused)).toMatchObject({ kind: 'transient', reason: 'ECONNREFUSED' });
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', errno: -104, syscall: 'read' });
    expect(classifySinkError(reset)).toMatchObject({ kind: 'transient', reason: 'ECONNRESET' });
    const both = new AggregateError([refused, Object.assign(new Error('connect ECONNREFUSED ::1:8123'), { code: 'ECONNREFUSED' })], '');
    expect(classifySinkError(both)).toMatchObject({ kind: 'transient', reason: 'ECONNREFUSED' });
    expect(classifySinkError(new Error('fetch failed', { cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }) }))).toMatchObject({ kind: 'transient', reason: 'UND_ERR_SOCKET' });
    expect(classifySinkError(Object.assign(new Error('getaddrinfo EAI_AGAIN clickhouse'), { code: 'EAI_AGAIN' }))).toMatchObject({ kind: 'transient', reason: 'EAI_AGAIN' });
  });

  it('treats the client timeout, a 5xx page without a ClickHouse error and anything unknown as transient', () => {
    expect(classifySinkError(new Error('Timeout error.'))).toMatchObject({ kind: 'transient', reason: 'TIMEOUT' });
    const proxy = parseError('<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>');
    expect(proxy).not.toBeInstanceOf(ClickHouseError);
    expect(classifySinkError(proxy)).toMatchObject({ kind: 'transient', reason: 'UNKNOWN' });
    expect(classifySinkError('weird')).toMatchObject({ kind: 'transient', reason: 'UNKNOWN', message: 'weird' });
  });

  it('gives no row hint when the error names none', () => {
    expect(refusedRowHint(server(53, 'TYPE_MISMATCH', 'Type mismatch'))).toBeUndefined();
    expect(refusedRowHint('x')).toBeUndefined();
  });
});

describe('refused rows to DLQ', () => {
  it('traces rows to the event that emitted them and gives deterministic DLQ ids', () => {
    const build = (): ReturnType<typeof refusedRowMessages> => {
      const emit = new TracedEmit();
      emit.applying(41, 'tx.3.transaction');
      const tx = { tx_id: 'T1', customer_id: 'C1', channel: 'pos', amount_minor: 1250, currency: 'EUR', occurred_at: '2026-01-02T10:00:00.000Z' } as TransactionV1;
      emit.event({
        type: 'transaction_scored', tx, at: Date.parse(tx.occurred_at), points: 12, churnProbability: 0.1, modelVersion: 'm', churnReasons: '',
        stage: 'welcome', tier: 'base', segment: '', rulesVersion: 'r1', partition: 3, seq: 41,
      });
      const snapshot = (seq: number): CustomerSnapshot => ({
        customerId: 'C1', seq, at: Date.parse(tx.occurred_at), profile: undefined, balance: 12, tier: 'base', churnProbability: 0.1, modelVersion: 'm',
        churnReasons: '', stage: 'welcome', expectedValue: 0, txCount30d: 1, spend30dMinor: 1250, features: [], lastTxAt: 0,
      });
      emit.customer('C1', snapshot(41));
      emit.applying(42, 'tx.3.profile');
      emit.customer('C1', () => snapshot(42));
      emit.completing(41);
      emit.event({
        type: 'points_moved', entryId: 'E1', customerId: 'C1', kind: 'earn', points: 12, ruleId: 'base', rulesVersion: 'r1', sourceId: 'T1',
        channel: 'pos', branchId: '', tier: 'base', at: Date.parse(tx.occurred_at), expiresAt: null, balanceAfter: 12, seq: 41,
      });
      const rows = emit.tableRows();
      const err = { kind: 'data' as const, reason: 'CANNOT_PARSE_NUMBER', code: '72', message: 'Cannot parse number' };
      const tables = ['scored_transactions', 'points_ledger', 'customer_state'] as const;
      const refused: RefusedRow[] = tables.map((table) => ({ table, row: rows.get(table)![0]!, error: err, isolated: true, partRows: 1 }));
      return refusedRowMessages(refused, (row) => emit.sourceOf(row));
    };
    const [a, b, c] = build();
    expect(a!.subject).toBe('dlq.sink.cannot_parse_number');
    expect(a!.headers).toMatchObject({ 'Vafa-Table': 'scored_transactions', 'Vafa-Source-Seq': '41', 'Vafa-Source-Subject': 'tx.3.transaction', 'Vafa-Error-Code': '72', 'Vafa-Error-Name': 'CANNOT_PARSE_NUMBER', 'Vafa-Detail': 'Cannot parse number' });
    expect(b!.headers).toMatchObject({ 'Vafa-Table': 'points_ledger', 'Vafa-Source-Seq': '41', 'Vafa-Source-Subject': 'tx.3.transaction' });
    expect(c!.headers).toMatchObject({ 'Vafa-Table': 'customer_state', 'Vafa-Source-Seq': '42', 'Vafa-Source-Subject': 'tx.3.profile' });
    expect(JSON.parse(Buffer.from(a!.data).toString())).toMatchObject({ tx_id: 'T1', customer_id: 'C1', amount_minor: 1250, stream_seq: 41 });
    expect(JSON.parse(Buffer.from(c!.data).toString())).toMatchObject({ customer_id: 'C1', version: 42 });
    expect(new Set([a, b, c].map((m) => m!.msgId)).size).toBe(3);
    expect(build().map((m) => m.msgId)).toEqual([a, b, c].map((m) => m!.msgId));
  });
});
