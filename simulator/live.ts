/**
 * A simulated bank with a past and a present: one pass over its events split at a cut-over, the part
 * before it as history (for `vafa backfill`), the part after it streamed live at the wall clock.
 *
 * Live, each event keeps its id, customer and kind but is stamped with the wall clock when it is taken
 * (never earlier than the event before it, never at or before the cut-over): the bank's future is played
 * at the feed's rate, so its customers live faster than in life, and everything vafa sees happens "now".
 * A due date moves with its payment (whole days), so a bill paid early stays as early as the bank drew it.
 * Survey answers (feeder.ts, `respond`) are timed in the bank's time through {@link SplitPass.timeline}.
 */
import { num } from '../scorer/core/mod.js';
import type { EventStream, SimEvent } from './generator.js';
import type { Timeline } from './feeder.js';

const DAY = 86_400_000;

/** Where the live part of a pass stands: see {@link SplitPass.position}. */
export interface LivePosition {
  /** Simulated time of the latest live event taken (epoch ms); NaN before the first. */
  simulatedAt: number;
  /** The wall-clock time it was stamped with (epoch ms); NaN before the first. */
  stampedAt: number;
  /** Live events taken. */
  taken: number;
}

/** One pass over a bank split at a cut-over (see the module comment). */
export interface SplitPass {
  /** Events strictly before the cut-over, in event-time order; iterate it once, before `live`. */
  history(): Generator<SimEvent, void, undefined>;
  /**
   * Events at or after `from` (default the cut-over) stamped with the wall clock: what is left of the pass
   * after `history()` (or, without it, the pass from its start, the history skipped).
   */
  live(from?: number): EventStream;
  /** Simulated time the pass has reached (epoch ms of the latest event taken, either part); NaN before. */
  readonly reached: number;
  readonly position: LivePosition;
  /** Between the wall-clock stamps of the live part and the bank's time (for the feeder's survey answers). */
  readonly timeline: Timeline;
}

/** Stamp ↔ simulated time pairs kept for {@link SplitPass.timeline}: enough for minutes of live traffic. */
const MAX_POINTS = 20_000;

export interface SplitOptions {
  /** The cut-over, epoch ms: history is what happened before it. */
  cutover: number;
  /** The wall clock (epoch ms); default `Date.now`. */
  clock?: () => number;
}

const timeOf = (ev: SimEvent): number => Date.parse(ev.body.occurred_at ?? '');

/** Splits `pass` (a fresh `bank.events()`) at `opts.cutover`. */
export function splitPass(pass: EventStream, opts: SplitOptions): SplitPass {
  const clock = opts.clock ?? Date.now;
  let held: SimEvent | undefined;
  let reached = Number.NaN;
  const position: LivePosition = { simulatedAt: Number.NaN, stampedAt: Number.NaN, taken: 0 };
  let last = opts.cutover;
  const stampNow = (): number => (last = Math.max(last + 1, clock()));
  let stamps: number[] = [];
  let simulatedTimes: number[] = [];
  const note = (stamped: number, simulated: number): void => {
    if (stamps.length >= MAX_POINTS) {
      stamps = stamps.slice(MAX_POINTS / 2);
      simulatedTimes = simulatedTimes.slice(MAX_POINTS / 2);
    }
    stamps.push(stamped);
    simulatedTimes.push(simulated);
  };
  /** The bank's time at a wall-clock stamp: from the latest live event stamped at or before it, plus the wall time since. */
  const toSimulated = (stamped: number): number => {
    let lo = 0;
    let hi = stamps.length - 1;
    const first = stamps[0];
    if (first === undefined || stamped < first) return stamped - (first ?? stamped) + (simulatedTimes[0] ?? stamped);
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (num(stamps, mid) <= stamped) lo = mid;
      else hi = mid - 1;
    }
    return num(simulatedTimes, lo) + (stamped - num(stamps, lo));
  };

  function* history(): Generator<SimEvent, void, undefined> {
    for (;;) {
      const r = pass.next();
      if (r.done) return;
      const t = timeOf(r.value);
      reached = t;
      if (t >= opts.cutover) {
        held = r.value;
        return;
      }
      yield r.value;
    }
  }

  function* live(from: number): Generator<SimEvent, void, undefined> {
    for (;;) {
      let ev: SimEvent;
      if (held) {
        ev = held;
        held = undefined;
      } else {
        const r = pass.next();
        if (r.done) return;
        ev = r.value;
      }
      const simulated = timeOf(ev);
      reached = simulated;
      if (simulated < from) continue;
      const stamped = stampNow();
      note(stamped, simulated);
      position.simulatedAt = simulated;
      position.stampedAt = stamped;
      position.taken++;
      yield restamp(ev, simulated, stamped);
    }
  }

  return {
    history,
    // `satisfaction` is asked in the bank's time: the feeder maps stamps through `timeline` first.
    live: (from = opts.cutover) => Object.assign(live(from), { satisfaction: (id: string, at?: number) => pass.satisfaction(id, at) }),
    timeline: { toSimulated, stamp: stampNow },
    get reached() {
      return reached;
    },
    position,
  };
}

/** A copy of `ev` moved from `simulated` to `stamped`. */
function restamp(ev: SimEvent, simulated: number, stamped: number): SimEvent {
  const occurred_at = new Date(stamped).toISOString();
  if (ev.kind !== 'transaction') return { ...ev, body: { ...ev.body, occurred_at } } as SimEvent;
  const body = { ...ev.body, occurred_at };
  if (body.due_date !== undefined) {
    const shift = Math.floor(simulated / DAY) - Math.floor(stamped / DAY);
    body.due_date = new Date(Date.parse(`${body.due_date}T00:00:00Z`) - shift * DAY).toISOString().slice(0, 10);
  }
  return { kind: 'transaction', body };
}
