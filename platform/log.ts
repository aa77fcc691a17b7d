/**
 * Structured logs (pino). Redaction keeps card data and secrets out of every line: see docs/redaction.md.
 * Free text from customers (feedback) is never logged at all.
 */
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { prettyFactory, type PrettyOptions } from 'pino-pretty';

export type { Logger };

/** Paths pino censors wherever they appear in a log object. */
export const REDACT_PATHS = [
  'pan', '*.pan', 'card_number', '*.card_number', 'cards', '*.cards', 'track2', '*.track2',
  'password', '*.password', 'token_key', '*.token_key', 'tokenKey', '*.tokenKey', 'text', '*.text',
  'authorization', '*.authorization', 'req.headers.authorization', 'headers.authorization', 'apiKeys', '*.apiKeys',
  'clickhousePassword', '*.clickhousePassword', 'webhookSecret', '*.webhookSecret', 'secret', '*.secret', 'req.headers["x-clickhouse-key"]',
  'natsPassword', '*.natsPassword', 'natsToken', '*.natsToken', 'cookie', '*.cookie', 'headers.cookie', 'req.headers.cookie',
];

/** Replaces anything shaped like a card number (13–19 digits) in a free-form string. */
export function maskPans(s: string): string {
  return s.replace(/\b(?:\d[ -]?){12,18}\d\b/g, (m) => {
    const digits = m.replace(/\D/g, '');
    return `[PAN ${digits.length} digits]`;
  });
}

/** `pretty`: human-readable lines; `json`: one JSON object a line; `auto`: pretty on a terminal, JSON otherwise. */
export type LogFormat = 'pretty' | 'json' | 'auto';
export const LOG_FORMATS: readonly LogFormat[] = ['pretty', 'json', 'auto'];

export interface LoggerSettings {
  /** Least level written. Default env `LOG_LEVEL`, else `info`. */
  level?: string;
  /** Component name, logged as `component`. */
  name?: string;
  /** Where lines go. Default stdout. */
  destination?: NodeJS.WritableStream;
  /** Output format. Default env `LOG_FORMAT`, else `auto`. */
  format?: LogFormat;
}

function isLogFormat(v: string | undefined): v is LogFormat {
  return (LOG_FORMATS as readonly string[]).includes(v ?? '');
}

/** The format a logger writes: `auto` becomes `pretty` when the destination is a terminal. */
export function resolveLogFormat(format: LogFormat, isTTY: boolean): 'pretty' | 'json' {
  return format === 'auto' ? (isTTY ? 'pretty' : 'json') : format;
}

function prettyOptions(colorize: boolean, errorKeys?: string[]): PrettyOptions {
  return {
    colorize,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,service,component,module',
    messageFormat: (log, messageKey) => {
      const where = [log.component, log.module].filter((v) => typeof v === 'string' && v).join('/');
      return `${where ? `${where}: ` : ''}${String(log[messageKey] ?? '')}`;
    },
    singleLine: true,
    ...(errorKeys ? { errorLikeObjectKeys: errorKeys } : {}),
  };
}

const isErrorLike = (log: Record<string, unknown>): boolean =>
  ['err', 'error'].some((k) => typeof log[k] === 'object' && log[k] !== null);

/**
 * A pretty stream that formats and writes in the caller's turn: no worker thread (as a pino transport
 * would use) and no stream pipeline, so a line logged just before `process.exit()` is still written.
 * pino redacts and masks before it serializes, so the line formatted here is already clean.
 */
function prettyStream(out: NodeJS.WritableStream | undefined, colorize: boolean): DestinationStream {
  // An error object gets its stack on the lines below; a one-line summary (FailureEpisode) stays inline.
  const withStack = prettyFactory(prettyOptions(colorize));
  const inline = prettyFactory(prettyOptions(colorize, []));
  const sink = out ?? pino.destination({ dest: 1, sync: true });
  return {
    write(line: string): void {
      let log: Record<string, unknown>;
      try {
        log = JSON.parse(line) as Record<string, unknown>;
      } catch {
        sink.write(line);
        return;
      }
      sink.write((isErrorLike(log) ? withStack : inline)(log));
    },
  };
}

function loggerOptions(opts: LoggerSettings): LoggerOptions {
  return {
    level: opts.level ?? process.env.LOG_LEVEL ?? 'info',
    base: { service: 'vafa', ...(opts.name ? { component: opts.name } : {}) },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
    hooks: {
      // A PAN can still reach a message string (an upstream error quoting its input): mask it there too.
      logMethod(args, method) {
        const masked = args.map((a) => (typeof a === 'string' ? maskPans(a) : a)) as typeof args;
        method.apply(this, masked);
      },
    },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
}

export function createLogger(opts: LoggerSettings = {}): Logger {
  const envFormat = process.env.LOG_FORMAT;
  const tty = (opts.destination ?? process.stdout) as { isTTY?: boolean };
  const format = resolveLogFormat(opts.format ?? (isLogFormat(envFormat) ? envFormat : 'auto'), tty.isTTY === true);
  const options = loggerOptions(opts);
  if (format === 'pretty') return pino(options, prettyStream(opts.destination, tty.isTTY === true && !process.env.NO_COLOR));
  return opts.destination ? pino(options, opts.destination as DestinationStream) : pino(options);
}
