/**
 * Types of the scorer's pure core. The core is a deterministic function of the ordered stream:
 * `(state, event) → (state', outputs)`. Time is event time (epoch milliseconds, UTC) and a per-partition
 * watermark; no wall clock, no I/O, no randomness (lint enforces it for scorer/core).
 */
import type { CoreMessage } from '../../contracts/events.js';
import type { CustomerSnapshot, DomainEvent } from './events.js';
import { DAY_MS } from '../../config/schema/mod.js';
import { item } from './invariant.js';

/**
 * An opening balance from a bank's previous loyalty club (`vafa backfill`, club files): never on `TX`.
 * One lot of `points` (0: none) expiring at `expires_at` (absent: the member tier's expiry from
 * `migrated_at`), and the member's tier there (`tier`, when the rules define it: held until the first
 * review, which then follows vafa's rules). `source` names the file and line it came from.
 */
export interface MigrationV1 {
  migration_id: string;
  customer_id: string;
  points: number;
  migrated_at: string;
  expires_at?: string;
  tier?: string;
  source: string;
}

/** One message of stream `TX`, as the core sees it. */
export interface CoreEvent {
  /** Stream sequence: orders events within a partition and versions every row they cause. */
  seq: number;
  partition: number;
  msg: CoreMessage | { kind: 'migration'; body: MigrationV1 };
  /**
   * History loaded by `vafa backfill`, not a live event: it moves state (points, features, stages, tiers,
   * expiry) as of its own time, but decides no offer or survey (nothing is sent for the past). It also
   * raises the partition's cut-over (`PartitionState.cutover`) to its clock. Absent: live.
   */
  historical?: boolean;
  /**
   * For an `erase_mentions` control message: the customers of the partition whose data names the erased
   * customer, as the runtime found them (a lazily loaded partition cannot list its customers to the core).
   * The core looks only at these; absent: at every customer in `state.customers`.
   */
  mentions?: readonly string[];
}

/** What the core knows about "now" while applying one event. */
export interface Ctx {
  seq: number;
  partition: number;
  /** Event time of the event being applied, epoch ms. */
  at: number;
  /** Partition watermark after this event, epoch ms: timers due at or before it fire. */
  watermark: number;
  /** The event is history (`CoreEvent.historical`): no offer or survey is decided for it. */
  historical?: boolean;
}

/** A message to publish on a stream; `msgId` becomes `Nats-Msg-Id`. */
export interface Publish {
  subject: string;
  msgId: string;
  payload: Record<string, unknown>;
}

/**
 * Everything one batch caused, as domain events (events.ts) in the order they happened, the latest
 * snapshot of every customer it touched, and the events refused. What the outputs make of them is
 * `sinks/mapping.ts`'s business.
 */
export class Emit {
  readonly events: DomainEvent[] = [];
  /** Events that could not be processed (poison), with the reason: they go to DLQ. */
  readonly rejected: { seq: number; reason: string }[] = [];

  private readonly snapshots = new Map<string, CustomerSnapshot | (() => CustomerSnapshot)>();

  event(e: DomainEvent): void {
    this.events.push(e);
  }

  /**
   * The customer's latest snapshot: a snapshot, or a builder called only if no later snapshot of the
   * same customer replaces it in this batch (it must capture what it reads: the snapshot is as of now).
   */
  customer(id: string, snapshot: CustomerSnapshot | (() => CustomerSnapshot)): void {
    this.snapshots.set(id, snapshot);
  }

  /** The latest snapshot of every customer the batch touched, by id, in first-touch order. */
  get customers(): Map<string, CustomerSnapshot> {
    for (const [id, s] of this.snapshots) if (typeof s === 'function') this.snapshots.set(id, s());
    return this.snapshots as Map<string, CustomerSnapshot>;
  }

  /** Customers with a snapshot (without building any). */
  get customerCount(): number {
    return this.snapshots.size;
  }
}

/** The churn score the runtime obtained for a feature vector (one model call per micro-batch). */
export interface Score {
  probability: number;
  modelVersion: string;
  /**
   * The score's top reasons as the JSON text stored in `churn_reasons` (built by the runtime,
   * scorer/runtime/model/reasons.ts; carried as is). Absent: none (no explainer, or reasons off for it).
   */
  reasons?: string;
}

/** Milliseconds in a day (defined with the policy files' calendar notation). */
export { DAY_MS };

/** The last instants formatted (an event formats its own time, an expiry, an opening several times over). */
const ISO_SLOTS = 4;
const isoMs = new Array<number>(ISO_SLOTS).fill(Number.NaN);
const isoText = new Array<string>(ISO_SLOTS).fill('');
let isoNext = 0;

/** RFC 3339 UTC with milliseconds (`Date.prototype.toISOString`), remembering the last few. */
export function iso(ms: number): string {
  for (let i = 0; i < ISO_SLOTS; i++) if (isoMs[i] === ms) return item(isoText, i);
  const text = formatIso(ms);
  isoMs[isoNext] = ms;
  isoText[isoNext] = text;
  isoNext = (isoNext + 1) % ISO_SLOTS;
  return text;
}

/** 10000-01-01T00:00:00Z: from 1970 up to here every year has four digits. */
const FOUR_DIGIT_YEARS_END = 253_402_300_800_000;

/** Character code of the ones digit of `n` (0 ≤ n, an integer). */
const digit = (n: number): number => 48 + (n % 10);

/**
 * `new Date(ms).toISOString()` without the Date, for whole ms in 1970–9999 (civil date from the day
 * number, H. Hinnant's algorithm); anything else goes through Date. The text is made in one
 * `String.fromCharCode`: one flat string, no partial strings (a template literal leaves a tree of them
 * that outlives the call in every row that holds it; a join of parts costs three times as much).
 */
export function formatIso(ms: number): string {
  if (!(ms >= 0 && ms < FOUR_DIGIT_YEARS_END && Number.isInteger(ms))) return new Date(ms).toISOString();
  const days = Math.floor(ms / DAY_MS);
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const dayOfEra = z - era * 146_097;
  const yearOfEra = Math.floor((dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365);
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const monthFromMarch = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * monthFromMarch + 2) / 5) + 1;
  const month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9;
  const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
  let rest = ms - days * DAY_MS;
  const hour = Math.floor(rest / 3_600_000);
  rest -= hour * 3_600_000;
  const minute = Math.floor(rest / 60_000);
  rest -= minute * 60_000;
  const second = Math.floor(rest / 1000);
  const milli = rest - second * 1000;
  return String.fromCharCode(
    digit(Math.floor(year / 1000)), digit(Math.floor(year / 100)), digit(Math.floor(year / 10)), digit(year), 45,
    digit(Math.floor(month / 10)), digit(month), 45, digit(Math.floor(day / 10)), digit(day), 84,
    digit(Math.floor(hour / 10)), digit(hour), 58, digit(Math.floor(minute / 10)), digit(minute), 58,
    digit(Math.floor(second / 10)), digit(second), 46, digit(Math.floor(milli / 100)), digit(Math.floor(milli / 10)), digit(milli), 90,
  );
}

export function parseTime(s: string): number {
  const t = Date.parse(s);
  if (Number.isNaN(t)) throw new Error(`not a date: ${s}`);
  return t;
}
