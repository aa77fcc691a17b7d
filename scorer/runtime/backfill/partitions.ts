/**
 * The partitions' side of a backfill: the scorer core over the events of the partitions one runner owns,
 * the churn model once per micro-batch, the rows to the sink, the state store's commits. `backfill.ts`
 * (the feeder) reads, validates and orders the history and gives every event its stream sequence; it hands
 * each micro-batch to the runners, in process (`PartitionRunner`, one runner owning every partition) or on
 * worker threads (`threads.ts`, one runner per worker owning the partitions `p % workers === index`).
 *
 * Partitions share nothing in the core but the referral credits it publishes to `TX`: a runner returns the
 * batch's credits keyed by the phase and the batch position of the event that published them, so the
 * feeder puts them at the head of the next batch in the order one runner owning every partition gives.
 */
import { parseTxSubject } from '../../../contracts/subjects.js';
import { Engine, type Pending, newPartitionState, type PartitionState, Emit } from '../../core/mod.js';
import type { EngineConfig } from '../../../config/schema/mod.js';
import { messageOf, tableRows, type Row, type TableName, type ClickHouseSink } from '../../../sinks/mod.js';
import type { ChangeTracker } from '../store/changes.js';
import type { LmdbStateStore } from '../store/lmdb-store.js';
import type { ChurnScorer } from '../worker.js';
import type { Logger } from '../../../platform/mod.js';
import type { RecordKind } from './sources.js';

/** A backfill stopped at a bad line (`strict`), or a store that already holds live state. */
export class BackfillError extends Error {
  override readonly name = 'BackfillError';
}

/** One validated event of a micro-batch, with the stream sequence it would have had on `TX`. */
export interface BatchEvent {
  /** Its place in the micro-batch (0-based, over every partition). */
  index: number;
  seq: number;
  partition: number;
  kind: RecordKind;
  /** The event as validated; absent when the runner validated it itself (`check`) and keeps it by `record`. */
  body?: Record<string, unknown>;
  /** The input record's number (threads.ts: the worker that checked it holds its body). */
  record?: number;
}

/** An input record a runner validates itself (on its own thread), by number; the feeder learns only the refusals. */
export interface CheckItem {
  record: number;
  partition: number;
  kind: RecordKind;
  body: Record<string, unknown>;
  file: string;
  line: number;
}

/** A record refused by validation, by number, with ingest's reason. */
export interface CheckRefusal {
  record: number;
  reason: string;
}

/** A referral credit the core published to `TX`, with where in the batch it was published. */
export interface CreditOut {
  /** Phase 1 (`apply`) credits of the whole batch come before phase 2 (`complete`) ones: `phase * 2^32 + index`. */
  order: number;
  /** The partition of the event that published it. */
  partition: number;
  body: Record<string, unknown>;
}

/** A referral credit published since the last commit, with the batch (0: the first after that commit) it came from. */
export interface PublishedCredit extends CreditOut {
  batch: number;
}

/**
 * Where the feeder stood at a commit: committed with every partition's state, in the transaction that
 * commits its position, so a rerun starts exactly there (backfill.ts).
 */
export interface FeederMark {
  /** Input records consumed, in stream order (refused lines and events after the cut-over included). */
  records: number;
  /** Referral credits published by the last batch before the commit, bodies in order: the head of the next batch. */
  credits: Record<string, unknown>[];
  /** Events applied up to the commit, over every run. */
  events: number;
}

/** What a commit records of the backfill besides the position. */
export interface CommitMark {
  feeder: FeederMark;
  /** Every credit published since the previous commit; each partition keeps those of its own events. */
  published: PublishedCredit[];
}

/**
 * A partition's record of the backfill that committed it (in its state, `PartitionState.backfill`): the
 * feeder's mark, and the credits its events published since the previous commit, which a rerun needs when
 * the partitions stopped at different commits (a run stopped while the workers committed).
 */
export interface BackfillMark extends FeederMark {
  published: PublishedCredit[];
}

/** The partition's {@link BackfillMark}: what `commit` wrote (the state store restores the field as it was committed). */
function backfillMark(state: PartitionState): BackfillMark | undefined {
  return state.backfill as BackfillMark | undefined;
}

/** What a micro-batch did on a runner's partitions. */
export interface BatchOutcome {
  /** Events the core refused (the rest were applied), by batch index. */
  failures: { index: number; message: string }[];
  /** Duplicates the core recognised in the batch. */
  duplicates: number;
  credits: CreditOut[];
  rows: number;
  /** Customers changed since the last commit, waiting in memory. */
  pendingCustomers: number;
}

/** A partition as the store held it before the first event: events at or below `seq` are skipped (resume). */
export interface PartitionStart {
  partition: number;
  seq: number;
  /** Where the feeder stood at the commit of `seq`; absent for a partition never committed by a backfill (or by one before marks). */
  mark?: BackfillMark;
}

/** The partitions of a backfill, in process or on worker threads: the feeder sees no difference. */
export interface BackfillPartitions {
  /** Loads (claims) every partition; refuses a store holding live state or a finished backfill. */
  open(): Promise<PartitionStart[]>;
  /**
   * Validates records on the runners' threads (threads.ts), ahead of the batches that hold them; absent:
   * the feeder validates every record itself. Resolves with the refused ones.
   */
  check?(items: CheckItem[]): Promise<CheckRefusal[]>;
  /** Applies the batch's events (in order, each on its partition), scores, completes, sends the rows; records up to `through` are then forgotten by `check`. */
  run(events: BatchEvent[], through?: number): Promise<BatchOutcome>;
  /** Resolves once every row sent so far is durable. */
  flush(): Promise<void>;
  /** Commits every partition at `position` with the feeder's mark (and, given, the bank's `cutover`). */
  commit(position: number, mark: CommitMark, cutover?: number): Promise<void>;
  /** The latest cut-over of any partition (the history's clock at its end, at least the option's). */
  latestCutover(): Promise<number>;
  /** Waits for the rows, releases what the runner opened; resolves with the rows ClickHouse refused. */
  close(): Promise<{ refusedRows: number }>;
}

/** Options of {@link PartitionRunner}. */
export interface PartitionRunnerOptions {
  engineConfig: EngineConfig;
  /** The partitions this runner owns. */
  owned: readonly number[];
  store: Pick<LmdbStateStore, 'load' | 'commit' | 'track'>;
  /** Where the rows go; undefined: built and counted only. */
  sink?: Pick<ClickHouseSink, 'write'>;
  scorer?: ChurnScorer;
  /** The `TX` position before the first backfilled event. */
  base: number;
  /** Cut-over, epoch ms: every partition's cut-over is at least this. Default: none. */
  cutover?: number;
  /** Stop a batch at the core's first refusal, writing none of its rows (the feeder then stops). Default false. */
  strict?: boolean;
  logger?: Logger;
}

interface Part {
  state: PartitionState;
  tracker: ChangeTracker;
}

const PHASE_2 = 2 ** 32;

/** The core over the partitions one runner owns (the in-process backfill owns them all). */
export class PartitionRunner implements BackfillPartitions {
  private readonly engine: Engine;
  private readonly parts = new Map<number, Part>();
  private writing: Promise<void> = Promise.resolve();
  private refusedRows = 0;

  constructor(private readonly opts: PartitionRunnerOptions) {
    this.engine = new Engine(opts.engineConfig);
  }

  async open(): Promise<PartitionStart[]> {
    const starts: PartitionStart[] = [];
    for (const p of this.opts.owned) {
      const loaded = await this.opts.store.load(p);
      if (loaded && loaded.seq > this.opts.base && loaded.cutover === undefined) {
        throw new BackfillError(`partition ${p}: the state store already holds live state (seq ${loaded.seq}) and no backfill: backfill into a new store`);
      }
      if (loaded && loaded.cutover !== undefined && loaded.seq > 0 && loaded.seq <= this.opts.base) {
        throw new BackfillError(`partition ${p}: the state store already holds a finished backfill (up to seq ${loaded.seq}; TX continues after it): loading history again would count it twice`);
      }
      const state = loaded ?? newPartitionState(p);
      if (this.opts.cutover !== undefined) state.cutover = Math.max(state.cutover ?? 0, this.opts.cutover);
      this.parts.set(p, { state, tracker: this.opts.store.track(state) });
      const mark = backfillMark(state);
      starts.push({ partition: p, seq: state.seq, ...(mark ? { mark } : {}) });
    }
    return starts;
  }

  async run(events: BatchEvent[]): Promise<BatchOutcome> {
    const emit = new Emit();
    const pendings: { p: Pending; part: Part; index: number }[] = [];
    const outcome: BatchOutcome = { failures: [], duplicates: 0, credits: [], rows: 0, pendingCustomers: 0 };
    for (const ev of events) {
      const part = this.part(ev.partition);
      const dupBefore = part.state.stats.duplicates;
      const published = emit.events.length;
      try {
        const body = ev.body;
        if (!body) throw new Error(`record ${ev.record}: reached the engine without its validated body`);
        const p = this.engine.apply(part.state, { seq: ev.seq, partition: ev.partition, msg: { kind: ev.kind, body } as never, historical: true }, emit);
        if (p) pendings.push({ p, part, index: ev.index });
      } catch (err) {
        part.state.seq = ev.seq;
        part.state.stats.rejected++;
        outcome.failures.push({ index: ev.index, message: (err as Error).message });
        if (this.opts.strict) return outcome;
        continue;
      } finally {
        collectCredits(emit, published, ev.index, ev.partition, outcome.credits);
      }
      outcome.duplicates += part.state.stats.duplicates - dupBefore;
    }
    const scores = this.opts.scorer && pendings.length ? await this.opts.scorer.scoreBatch(pendings.map((x) => x.p.features)) : [];
    pendings.forEach((x, i) => {
      const published = emit.events.length;
      this.engine.complete(x.part.state, x.p, scores[i], emit);
      collectCredits(emit, published, PHASE_2 + x.index, x.part.state.partition, outcome.credits);
    });
    const rows = tableRows(emit);
    for (const l of rows.values()) outcome.rows += l.length;
    this.send(rows);
    for (const { tracker } of this.parts.values()) outcome.pendingCustomers += tracker.pending;
    return outcome;
  }

  /** One write in flight while the next batch runs through the core. */
  private send(rows: Map<TableName, Row[]>): void {
    const sink = this.opts.sink;
    if (!sink) return;
    this.writing = this.writing.then(async () => {
      const refused = await sink.write(rows);
      const [first] = refused;
      if (first) {
        this.refusedRows += refused.length;
        this.opts.logger?.warn({ rows: refused.length, tables: [...new Set(refused.map((r) => r.table))], error: first.error.message }, 'backfill: rows refused by ClickHouse');
      }
    });
  }

  private part(partition: number): Part {
    const part = this.parts.get(partition);
    if (!part) throw new Error(`partition ${partition}: not owned by this backfill runner`);
    return part;
  }

  async flush(): Promise<void> {
    await this.writing;
  }

  async commit(position: number, mark: CommitMark, cutover?: number): Promise<void> {
    await this.writing; // rows first: a committed position never covers rows that are not durable
    await Promise.all([...this.parts.values()].map(({ state, tracker }) => {
      state.seq = Math.max(state.seq, position);
      if (cutover !== undefined) state.cutover = cutover;
      state.cutover ??= 0; // marks a backfilled partition (a rerun resumes it)
      const own: BackfillMark = { ...mark.feeder, published: mark.published.filter((c) => c.partition === state.partition) };
      state.backfill = own;
      return this.opts.store.commit(state, tracker.take());
    }));
  }

  latestCutover(): Promise<number> {
    return Promise.resolve(Math.max(0, ...[...this.parts.values()].map((x) => x.state.cutover ?? 0)));
  }

  async close(): Promise<{ refusedRows: number }> {
    await this.writing;
    return { refusedRows: this.refusedRows };
  }
}

/** The referral credits among the messages of the events since `from` (`tx.<p>.redemption`; offers are never decided for history). */
function collectCredits(emit: Emit, from: number, order: number, partition: number, out: CreditOut[]): void {
  for (const event of emit.events.slice(from)) {
    const m = messageOf(event);
    if (m && parseTxSubject(m.subject)?.kind === 'redemption') out.push({ order, partition, body: m.payload });
  }
}
