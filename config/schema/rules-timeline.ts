/**
 * Hot reload, the pure part: which rules apply to which stream position. A reload never changes the
 * rules "now"; it appends `{ version, fromSeq, rules }` and every event with stream sequence ≥ fromSeq is
 * evaluated with them. Replaying the stream with the same timeline applies the same rules at the same
 * positions, so ledgers and balances are reproduced exactly.
 *
 * Stream sequences are the `TX` stream's (shared by all partitions), so one timeline serves every
 * partition: the runtime records fromSeq = the stream's last sequence at reload time + 1.
 */
import type { LoyaltyRules } from './loyalty-rules.js';

export interface TimelineEntry {
  version: string;
  /** First stream sequence these rules apply to. */
  fromSeq: number;
  rules: LoyaltyRules;
}

function missingEntry(i: number, length: number): never {
  throw new Error(`rules timeline: no entry at index ${i} of ${length}`);
}

export class RulesTimeline {
  private readonly list: TimelineEntry[] = [];

  constructor(entries: readonly TimelineEntry[]) {
    if (entries.length === 0) throw new Error('a rules timeline needs at least one entry');
    for (const e of entries) this.add(e);
  }

  /** A timeline with one entry that applies from the start of the stream. */
  static of(rules: LoyaltyRules): RulesTimeline {
    return new RulesTimeline([{ version: rules.version, fromSeq: 0, rules }]);
  }

  static fromJSON(entries: readonly TimelineEntry[]): RulesTimeline {
    return new RulesTimeline(entries);
  }

  get entries(): readonly TimelineEntry[] {
    return this.list;
  }

  get latest(): TimelineEntry {
    return this.entryAt(this.list.length - 1);
  }

  /** The rules in force at stream sequence `seq` (positions before the first entry get the first entry). */
  at(seq: number): TimelineEntry {
    const l = this.list;
    let lo = 0;
    let hi = l.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.entryAt(mid).fromSeq <= seq) lo = mid;
      else hi = mid - 1;
    }
    return this.entryAt(lo);
  }

  /** The constructor refuses an empty timeline and entries are never removed: index `i` is there or this is a bug. */
  private entryAt(i: number): TimelineEntry {
    return this.list[i] ?? missingEntry(i, this.list.length);
  }

  /**
   * Appends a reload. Refused (throws, the timeline unchanged) when `fromSeq` is not after the last
   * entry's, when the version was already used, or when `version` is not the rules' own version.
   */
  add(entry: TimelineEntry): void {
    if (!Number.isSafeInteger(entry.fromSeq) || entry.fromSeq < 0) throw new Error(`fromSeq must be a non-negative integer, got ${entry.fromSeq}`);
    if (entry.version !== entry.rules.version) throw new Error(`timeline version ${entry.version} differs from the rules' version ${entry.rules.version}`);
    const last = this.list[this.list.length - 1];
    if (last && entry.fromSeq <= last.fromSeq) throw new Error(`rules ${entry.version} from seq ${entry.fromSeq}: must start after ${last.version} (from seq ${last.fromSeq})`);
    if (this.list.some((e) => e.version === entry.version)) throw new Error(`rules version ${entry.version} is already in the timeline: give the new file a new version`);
    this.list.push(entry);
  }

  toJSON(): TimelineEntry[] {
    return [...this.list];
  }
}
