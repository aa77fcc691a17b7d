/**
 * A one-line progress display for humans: redrawn in place at most 5 times a second on a terminal,
 * silent until the final line otherwise (logs and CI stay clean).
 */
import type { FeederProgress } from './feeder.js';

export interface Progress {
  /** Shows the latest figures (throttled; cheap to call often). */
  update(p: FeederProgress): void;
  /** Prints the final line (always, TTY or not) and ends the redrawn line. */
  done(p: FeederProgress): void;
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

function clock(seconds: number): string {
  const m = Math.floor(seconds / 60);
  const s = seconds - m * 60;
  return `${String(m).padStart(2, '0')}:${s.toFixed(1).padStart(4, '0')}`;
}

/**
 * The status line for `p`, e.g. `events sent 12,000 · 2,000/s · accepted 11,990 · failed 10 · feedback 41 · answers 3 · 00:06.0`
 * (feedback once there is some, answers when the feeder answers surveys).
 */
export function formatProgress(p: FeederProgress, label = p.phase === 'profiles' ? 'profiles' : 'events'): string {
  const parts = [
    `${label} sent ${fmt(p.sent)}`,
    `${fmt(p.eventsPerSecond)}/s`,
    `accepted ${fmt(p.accepted)}`,
    ...(p.duplicates ? [`duplicates ${fmt(p.duplicates)}`] : []),
    ...(p.invalid ? [`invalid ${fmt(p.invalid)}`] : []),
    `failed ${fmt(p.failed)}`,
    ...(p.feedback || p.answers !== undefined ? [`feedback ${fmt(p.feedback ?? 0)}`] : []),
    ...(p.answers !== undefined ? [`answers ${fmt(p.answers)}`] : []),
    clock(p.seconds),
    ...(p.eventTime ? [`event time ${p.eventTime.slice(0, 16).replace('T', ' ')}Z`] : []),
  ];
  return parts.join(' · ');
}

/**
 * Creates a progress line on `stream` (default stdout). `maxPerSecond` bounds redraws (default 5);
 * `now` is the clock in ms (default `performance.now`).
 */
export function createProgress(opts: { stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number }; maxPerSecond?: number; now?: () => number } = {}): Progress {
  const stream = opts.stream ?? process.stdout;
  const tty = stream.isTTY === true;
  const minGap = 1000 / (opts.maxPerSecond ?? 5);
  const now = opts.now ?? (() => performance.now());
  let last = -Infinity;
  let drawn = false;
  const fit = (line: string): string => {
    const cols = stream.columns ?? 0;
    return cols > 1 && line.length >= cols ? line.slice(0, cols - 1) : line;
  };
  return {
    update(p) {
      if (!tty) return;
      const t = now();
      if (t - last < minGap) return;
      last = t;
      stream.write(`\r\x1b[2K${fit(formatProgress(p))}`);
      drawn = true;
    },
    done(p) {
      stream.write(`${tty && drawn ? '\r\x1b[2K' : ''}${formatProgress(p, p.phase === 'profiles' ? 'profiles' : 'events')}\n`);
      drawn = false;
    },
  };
}
