/**
 * Structured logs (pino). Redaction keeps card data and secrets out of every line: see docs/redaction.md.
 * Free text from customers (feedback) is never logged at all.
 */
import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/** Paths pino censors wherever they appear in a log object. */
export const REDACT_PATHS = [
  'pan', '*.pan', 'card_number', '*.card_number', 'cards', '*.cards', 'track2', '*.track2',
  'password', '*.password', 'token_key', '*.token_key', 'tokenKey', '*.tokenKey', 'text', '*.text',
  'authorization', '*.authorization', 'req.headers.authorization', 'headers.authorization', 'apiKeys', '*.apiKeys',
  'clickhousePassword', '*.clickhousePassword', 'webhookSecret', '*.webhookSecret', 'secret', '*.secret', 'req.headers["x-clickhouse-key"]',
];

/** Replaces anything shaped like a card number (13–19 digits) in a free-form string. */
export function maskPans(s: string): string {
  return s.replace(/\b(?:\d[ -]?){12,18}\d\b/g, (m) => {
    const digits = m.replace(/\D/g, '');
    return `[PAN ${digits.length} digits]`;
  });
}

export function createLogger(opts: { level?: string; name?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const options: LoggerOptions = {
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
  return opts.destination ? pino(options, opts.destination as pino.DestinationStream) : pino(options);
}
