/**
 * One interface for everything the scorer writes to: the ClickHouse tables, JetStream `OFFERS` and `DLQ`,
 * the offer webhook. Every output keeps the same promises, checked for each by one conformance suite
 * (test/outputs/conformance.ts):
 *
 * - **Durable before resolve**: `write(batch)` resolves only once every item of the batch is durable
 *   downstream (a row in its table, a message persisted by JetStream, a 2xx from the receiver), or
 *   refused for its data.
 * - **Idempotent on replay**: items carry deterministic ids (ReplacingMergeTree keys, `Nats-Msg-Id`,
 *   `Idempotency-Key`), so writing a batch again after a crash adds nothing.
 * - **Back-pressure**: at most `maxPending` items are accepted and not yet durable; a writer beyond the
 *   bound waits (in order of arrival) until earlier writes are durable. Memory never grows with an outage.
 * - **Failures are classified** the same way everywhere (sinks/clickhouse/errors.ts):
 *   `transient` and `operator` failures are retried with capped back-off and the writer waits (nothing is
 *   acked meanwhile); `data` refusals come back from `write` as `Refusal`s with a reason, for the caller to
 *   send to `DLQ` with their source; `closed`: the output was closed (or its deadline passed) before the
 *   batch was durable and `write` rejects with `SinkClosedError`.
 * - **Shutdown within the deadline**: `close(deadlineMs)` refuses new writes, lets pending ones finish, and
 *   at the deadline rejects what is still pending with `SinkClosedError` and resolves.
 */
import { SinkClosedError, type SinkFailureKind } from './clickhouse/errors.js';

export { SinkClosedError } from './clickhouse/errors.js';

/** How a failure is handled: `SinkFailureKind` of the ClickHouse sink, plus `closed`. */
export type OutputFailureKind = SinkFailureKind | 'closed';

/** An item the downstream refused for its data (never retried: it goes to `DLQ` with its reason). */
export interface Refusal {
  /** Short machine-readable reason, e.g. `CANNOT_PARSE_NUMBER`, `http_422`, `max_payload`. */
  reason: string;
  /** Human-readable detail (first line of the error), at most 1,000 characters. */
  detail: string;
}

/** What an output reports about itself (metrics, tests). */
export interface OutputStats {
  /** Items accepted by `write` and not yet durable or refused. */
  pending: number;
  /** Writes waiting for room under `maxPending`. */
  waiting: number;
  /** True while the last attempt downstream failed and is being retried. */
  degraded: boolean;
}

/**
 * An output: a batch `B` in, the refused items `F` back once the rest is durable.
 */
export interface Output<B, F extends Refusal = Refusal> {
  readonly name: string;
  /**
   * Resolves once every item of `batch` is durable or refused (the refusals are returned; usually none).
   * Waits while the output holds `maxPending` items. Rejects with `SinkClosedError` when the output is
   * closed before then; nothing else rejects it (transient failures are retried).
   */
  write(batch: B): Promise<F[]>;
  /** Refuses new writes, finishes pending ones until `deadlineMs` (ms from now), then rejects the rest. Resolves by the deadline. */
  close(deadlineMs: number): Promise<void>;
  readonly stats: OutputStats;
}

/** Most items an output holds accepted and not yet durable, unless configured. */
export const DEFAULT_MAX_PENDING = 100_000;

interface Admission {
  size: number;
  admit: () => void;
  reject: (err: Error) => void;
}

/**
 * The bookkeeping every output shares: admission under `maxPending` (first come, first served; a batch
 * larger than the bound is admitted alone), the writes in flight, and a close with a deadline that rejects
 * what is still pending even when the downstream call it waits for hangs.
 */
export class OutputGate {
  private pending = 0;
  private readonly queue: Admission[] = [];
  private readonly inFlight = new Set<{ reject: (err: Error) => void; done: Promise<unknown> }>();
  private closedReason: string | undefined;

  /** @param maxPending most items accepted and not yet durable; default `DEFAULT_MAX_PENDING`. */
  constructor(readonly name: string, readonly maxPending = DEFAULT_MAX_PENDING) {
    if (!(Number.isInteger(maxPending) && maxPending >= 1)) throw new RangeError(`${name}: maxPending must be an integer ≥ 1, got ${maxPending}`);
  }

  get closed(): boolean {
    return this.closedReason !== undefined;
  }

  stats(degraded: boolean): OutputStats {
    return { pending: this.pending, waiting: this.queue.length, degraded };
  }

  /** Runs `work` for a batch of `size` items once there is room; its result, or `SinkClosedError` if closed first. */
  async run<R>(size: number, work: () => Promise<R>): Promise<R> {
    if (this.closedReason) throw new SinkClosedError(`${this.name}: ${this.closedReason}`);
    if (size > 0 && (this.queue.length > 0 || (this.pending > 0 && this.pending + size > this.maxPending))) {
      // Admitted by admitWaiting, which counts the batch as pending first (no later arrival overtakes it).
      await new Promise<void>((admit, reject) => this.queue.push({ size, admit, reject }));
    } else {
      this.pending += size;
    }
    let reject!: (err: Error) => void;
    const result = new Promise<R>((res, rej) => {
      reject = rej;
      work().then(res, rej);
    });
    const entry = { reject, done: result.catch(() => undefined) };
    this.inFlight.add(entry);
    try {
      return await result;
    } finally {
      this.inFlight.delete(entry);
      this.pending -= size;
      this.admitWaiting();
    }
  }

  private admitWaiting(): void {
    for (let next = this.queue[0]; next && (this.pending === 0 || this.pending + next.size <= this.maxPending); next = this.queue[0]) {
      this.queue.shift();
      this.pending += next.size;
      next.admit();
    }
  }

  /**
   * Closes: no new writes; waits for the writes in flight until `deadlineMs`, then rejects the rest (and
   * the waiting ones) with `SinkClosedError`. `onDeadline` runs first at the deadline (abort the downstream).
   */
  async close(deadlineMs: number, onDeadline?: () => void): Promise<void> {
    this.closedReason ??= 'closed';
    const rejectAll = (why: string): void => {
      this.closedReason = why;
      for (const w of this.queue.splice(0)) w.reject(new SinkClosedError(`${this.name}: ${why}`));
      for (const f of this.inFlight) f.reject(new SinkClosedError(`${this.name}: ${why}`));
    };
    for (const w of this.queue.splice(0)) w.reject(new SinkClosedError(`${this.name}: closed`));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        onDeadline?.();
        rejectAll('closed at its deadline with writes not durable');
        resolve();
      }, Math.max(0, deadlineMs));
    });
    try {
      await Promise.race([Promise.all([...this.inFlight].map((f) => f.done)), deadline]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Capped exponential back-off between attempts: `initialMs` doubling up to `maxMs`. */
export function nextDelay(previousMs: number | undefined, initialMs: number, maxMs: number): number {
  return previousMs === undefined ? initialMs : Math.min(previousMs * 2, maxMs);
}
