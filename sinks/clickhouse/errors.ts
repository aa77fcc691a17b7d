/**
 * What a failed insert means. The sink treats three kinds of failure differently:
 *
 * | kind | examples | what the sink does |
 * | --- | --- | --- |
 * | `transient` | connection refused/reset, socket and request timeouts, DNS failures, a 5xx or proxy page without a ClickHouse error, TOO_MANY_PARTS, MEMORY_LIMIT_EXCEEDED, TOO_MANY_SIMULTANEOUS_QUERIES, TIMEOUT_EXCEEDED, replica/keeper trouble, any unrecognised error | retry with capped back-off; writers wait, nothing is acked |
 * | `operator` | UNKNOWN_TABLE, UNKNOWN_DATABASE, authentication, ACCESS_DENIED, READONLY, NOT_ENOUGH_SPACE, SYNTAX_ERROR | the same retry and wait (no row is at fault, so no row goes to DLQ), but logged as needing an operator |
 * | `data` | CANNOT_PARSE_*, TYPE_MISMATCH, VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE, INCORRECT_DATA (an unknown field), CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN, VIOLATED_CONSTRAINT, too many partitions for one insert block | split the insert to find the rows the server refuses; the rest lands, the refused rows go back to their writers |
 *
 * Unknown errors are transient on purpose: waiting loses nothing, while guessing "data" could send good
 * rows to DLQ.
 */
import { ClickHouseError } from '@clickhouse/client';

export type SinkFailureKind = 'transient' | 'operator' | 'data';

export interface SinkFailure {
  kind: SinkFailureKind;
  /** ClickHouse error name (`CANNOT_PARSE_NUMBER`), Node error code (`ECONNREFUSED`), `TIMEOUT` or `UNKNOWN`. */
  reason: string;
  /** ClickHouse error code (`'72'`), when the server answered with one. */
  code?: string;
  /** First line of the message. */
  message: string;
}

/** The sink was closed or aborted (shutdown) while rows were waiting: they are not durable. */
export class SinkClosedError extends Error {
  override readonly name = 'SinkClosedError';
}

/** Refused by the server for the data itself: splitting the insert finds the rows at fault. */
const DATA_ERRORS = new Set([
  'CANNOT_PARSE_TEXT', 'CANNOT_PARSE_ESCAPE_SEQUENCE', 'CANNOT_PARSE_QUOTED_STRING', 'CANNOT_PARSE_INPUT_ASSERTION_FAILED',
  'CANNOT_PARSE_DATE', 'CANNOT_PARSE_DATETIME', 'CANNOT_PARSE_NUMBER', 'CANNOT_PARSE_BOOL', 'CANNOT_PARSE_UUID',
  'CANNOT_PARSE_IPV4', 'CANNOT_PARSE_IPV6', 'CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING', 'CANNOT_READ_ALL_DATA',
  'TYPE_MISMATCH', 'CANNOT_CONVERT_TYPE', 'VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE', 'ARGUMENT_OUT_OF_BOUND', 'DECIMAL_OVERFLOW',
  'INCORRECT_DATA', 'NO_SUCH_COLUMN_IN_TABLE', 'THERE_IS_NO_COLUMN', 'UNKNOWN_IDENTIFIER', 'TOO_LARGE_STRING_SIZE',
  'CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN', 'VIOLATED_CONSTRAINT', 'UNEXPECTED_DATA_AFTER_PARSED_VALUE',
  'SIZES_OF_ARRAYS_DONT_MATCH', 'ILLEGAL_TYPE_OF_ARGUMENT', 'ILLEGAL_COLUMN', 'QUERY_IS_TOO_LARGE', 'INVALID_PARTITION_VALUE',
]);

/** Not the data's fault and not going away by itself: someone must fix the schema, the credentials or the disk. */
const OPERATOR_ERRORS = new Set([
  'UNKNOWN_TABLE', 'UNKNOWN_DATABASE', 'AUTHENTICATION_FAILED', 'UNKNOWN_USER', 'WRONG_PASSWORD', 'REQUIRED_PASSWORD',
  'IP_ADDRESS_NOT_ALLOWED', 'ACCESS_DENIED', 'READONLY', 'NOT_ENOUGH_SPACE', 'SYNTAX_ERROR', 'UNKNOWN_SETTING',
  'QUOTA_EXCEEDED', 'QUOTA_EXPIRED',
]);

/** "Too many partitions for single INSERT block": a smaller insert has fewer partitions, so it is split. */
const TOO_MANY_PARTITIONS = /partitions for (a )?single insert block/i;

/** Classifies anything an insert through `@clickhouse/client` rejects with. */
export function classifySinkError(err: unknown): SinkFailure {
  const message = firstLine(err);
  if (err instanceof ClickHouseError || isClickHouseShaped(err)) {
    const { code, type } = err as { code: string; type: string };
    if (type === 'TOO_MANY_PARTS' && TOO_MANY_PARTITIONS.test(message)) return { kind: 'data', reason: type, code, message };
    const kind: SinkFailureKind = DATA_ERRORS.has(type) ? 'data' : OPERATOR_ERRORS.has(type) ? 'operator' : 'transient';
    return { kind, reason: type, code, message };
  }
  const sys = systemCode(err);
  if (sys) return { kind: 'transient', reason: sys, message };
  if (/timeout/i.test(message)) return { kind: 'transient', reason: 'TIMEOUT', message };
  return { kind: 'transient', reason: 'UNKNOWN', message };
}

/** The row number a ClickHouse parse error names ("(at row 3)", 1-based within the insert), when it names one. */
export function refusedRowHint(err: unknown): number | undefined {
  const m = err instanceof Error ? /\(at row (\d+)\)/.exec(err.message) : null;
  return m ? Number(m[1]) : undefined;
}

function isClickHouseShaped(err: unknown): boolean {
  const e = err as { code?: unknown; type?: unknown } | null;
  return err instanceof Error && typeof e?.code === 'string' && /^\d+$/.test(e.code) && typeof e.type === 'string' && /^[A-Z0-9_]+$/.test(e.type);
}

/** A Node system error code (`ECONNREFUSED`, `UND_ERR_SOCKET`), also inside an AggregateError or a cause. */
function systemCode(err: unknown, depth = 0): string | undefined {
  if (!(err instanceof Error) || depth > 3) return undefined;
  const code = (err as NodeJS.ErrnoException).code;
  if (typeof code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(code)) return code;
  const inner = err instanceof AggregateError ? (err.errors as unknown[]) : [];
  for (const e of [...inner, err.cause]) {
    const c = systemCode(e, depth + 1);
    if (c) return c;
  }
  return undefined;
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const end = text.indexOf('\n');
  return (end < 0 ? text : text.slice(0, end)).trim().slice(0, 500);
}
