/**
 * Failure episodes in the logs. A dependency that fails (ClickHouse down, NATS reconnecting, a lease
 * round that cannot reach the KV bucket) is logged once when the episode starts, then at most every
 * `repeatMs` with the number of failures since the last line, then once when it ends: never a line, let
 * alone a stack dump, per retry.
 */
import type { Logger } from './log.js';

export interface EpisodeOptions {
  /** Least time between two "still failing" lines, ms. Default 10,000. */
  repeatMs?: number;
  /** Clock, for tests. Default `Date.now`. */
  now?: () => number;
}

/** The text up to its first line break. */
function firstLine(text: string): string {
  const end = text.indexOf('\n');
  return end < 0 ? text : text.slice(0, end);
}

/** One line of an error: its code (when it has one) and the first line of its message. */
export function errorSummary(err: unknown): string {
  if (!(err instanceof Error)) return firstLine(String(err));
  const code = (err as { code?: unknown }).code;
  const first = firstLine(err.message).trim();
  const cause = err.cause instanceof Error && !first ? errorSummary(err.cause) : '';
  const text = first || cause || err.name;
  return typeof code === 'string' && code && !text.includes(code) ? `${code}: ${text}` : text;
}

export class FailureEpisode {
  private startedAt: number | undefined;
  private lastLineAt = 0;
  private failures = 0;
  private sinceLine = 0;
  private readonly repeatMs: number;
  private readonly now: () => number;

  constructor(private readonly logger: Logger, private readonly what: string, opts: EpisodeOptions = {}) {
    this.repeatMs = opts.repeatMs ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  /** True between the first failure and the next success. */
  get active(): boolean {
    return this.startedAt !== undefined;
  }

  /** Failures in the current episode (0 when none is active). */
  get count(): number {
    return this.failures;
  }

  /** Records a failure; logs when an episode starts and then at most every `repeatMs`. */
  fail(err: unknown, fields: Record<string, unknown> = {}): void {
    const t = this.now();
    this.failures++;
    this.sinceLine++;
    if (this.startedAt === undefined) {
      this.startedAt = t;
      this.lastLineAt = t;
      this.sinceLine = 0;
      this.logger.warn({ ...fields, err: errorSummary(err) }, `${this.what} failing; retrying`);
      return;
    }
    if (t - this.lastLineAt >= this.repeatMs) {
      this.logger.warn(
        { ...fields, err: errorSummary(err), failures: this.failures, failures_since_last_line: this.sinceLine, for_s: Math.round((t - this.startedAt) / 1000) },
        `${this.what} still failing`,
      );
      this.lastLineAt = t;
      this.sinceLine = 0;
    }
  }

  /** Records a success; ends the episode (with one line) when one was active. */
  ok(fields: Record<string, unknown> = {}): void {
    if (this.startedAt === undefined) return;
    const t = this.now();
    this.logger.info({ ...fields, failures: this.failures, for_s: Math.round((t - this.startedAt) / 1000) }, `${this.what} recovered`);
    this.startedAt = undefined;
    this.failures = 0;
    this.sinceLine = 0;
  }
}
