/**
 * The catalogue of API error codes: one place for code, HTTP status and message. docs/api-errors.md is
 * generated from it and a test keeps the two in sync.
 */
export const ERRORS = {
  VAFA_INVALID_ITEMS: { status: 400, message: 'Some items are invalid; each is named by index with the field and the reason. Valid items of the same request were accepted.' },
  VAFA_BAD_BODY: { status: 400, message: 'The body is not JSON, a JSON array, or NDJSON.' },
  VAFA_BATCH_TOO_LARGE: { status: 413, message: 'A request holds at most 1,000 items; split the batch.' },
  VAFA_BODY_TOO_LARGE: { status: 413, message: 'The request body exceeds the size limit.' },
  VAFA_UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Send application/json or application/x-ndjson.' },
  VAFA_UNAUTHORIZED: { status: 401, message: 'A valid credential is required once keys are configured: `Authorization: Bearer <key>`, or for the dashboard a session (sign in at /login).' },
  VAFA_FORBIDDEN: { status: 403, message: 'The credential is valid but lacks the scope this route needs (`required_scope`: ingest, read or admin); a dashboard session reads only.' },
  VAFA_KEY_FILE_REFUSED: { status: 422, message: 'The API key file does not parse (the line is named); the keys in force stay.' },
  VAFA_RATE_LIMITED: { status: 429, message: 'Too many requests for this API key; retry after the interval in Retry-After.' },
  VAFA_JETSTREAM_UNAVAILABLE: { status: 503, message: 'JetStream is unavailable; nothing reported as failed was stored. Retry the request after Retry-After seconds: items already stored are reported as duplicates.' },
  VAFA_WAREHOUSE_UNAVAILABLE: { status: 503, message: 'ClickHouse is unavailable; retry later.' },
  VAFA_SCORER_UNAVAILABLE: { status: 503, message: 'The scorer has not confirmed it forgot the customer (NATS unreachable, or the scorer behind or down); nothing was erased from the warehouse. Retry: it resumes with the same erasure id.' },
  VAFA_NOT_FOUND: { status: 404, message: 'No such resource.' },
  VAFA_INTERNAL: { status: 500, message: 'Internal error; the request id in the response identifies it in the logs.' },
} as const;

export type ErrorCode = keyof typeof ERRORS;

export interface ErrorBody {
  error: ErrorCode;
  message: string;
  request_id?: string;
  [extra: string]: unknown;
}

export function errorBody(code: ErrorCode, extra: Record<string, unknown> = {}, message?: string): ErrorBody {
  return { error: code, message: message ?? ERRORS[code].message, ...extra };
}

/** The catalogue as the Markdown table in docs/api-errors.md (a test keeps the file in sync). */
export function renderErrorsMarkdown(): string {
  const rows = Object.entries(ERRORS).map(([code, e]) => `| \`${code}\` | ${e.status} | ${e.message} |`);
  return [
    '# API error codes',
    '',
    'Every error response is JSON: `{ "error": CODE, "message": ..., "request_id": ... }`, plus per-item',
    '`results` for the ingest endpoints (each with `index`, `status` and, for an invalid item, `errors[]`',
    'naming the `field` and what is wrong). Generated from `api/errors.ts`.',
    '',
    '| code | HTTP status | meaning |',
    '| --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
}
