/**
 * Backfill: a bank's history, from files, through the same scorer core as the live stream, straight into
 * the state store and ClickHouse — never streamed through `TX` as if it were new (DESIGN.md, principle 10).
 *
 * Exactly what streaming would give: each record is validated and normalised by the ingest service's own
 * `prepare` (profiles' cards tokenized under the same key), partitioned by customer the same way, and given
 * the stream sequence it would have had on `TX` (`base + n` in stream order, sources.ts); the core runs in
 * micro-batches, phase 1 then one model call then phase 2, like a partition worker; referral credits the
 * core publishes to `TX` are applied after their batch, as a worker keeping up with the stream would see them.
 *
 * What differs, on purpose: every event is `historical` (CoreEvent) — points, features, stages, tiers and
 * expiry move as of history, but no offer or survey is decided (nothing would be sent for the past, and no
 * campaign report counts one), and every partition gets the bank's cut-over: the latest clock of the history (or `--cutover`).
 *
 * Position: every partition's state is committed with `seq = base + events` (the position it covers), so a
 * live scorer resumes `TX` after it; the caller advances an empty `TX` to start there (cli/backfill.ts).
 * Interrupted, a rerun resumes exactly: each commit records with the position, in the same transaction,
 * where the feeder stood (records of the input consumed, the referral credits waiting for the next batch,
 * events applied: partitions.ts `FeederMark`); a rerun skips those records unread by the core, starts
 * with those credits and the committed sequence, so it cuts the same batches and gives the same
 * sequences as one uninterrupted run. Partitions committed at different positions (a run stopped while
 * the workers committed) resume from the earliest: events at or below a partition's own position are
 * skipped, as a worker skips a redelivery, and the credits they had published come from that
 * partition's record of them (`BackfillMark.published`).
 *
 * This module is the feeder: reading, sequences, bad lines, statements, commits and progress stay in the
 * calling thread; the core runs on the partitions' runners (partitions.ts), in this thread or on worker
 * threads (threads.ts), with a barrier per micro-batch so the batches, the credits and therefore every
 * state and row are the same whatever the number of workers. With workers, the events (transactions,
 * redemptions, feedback) are validated by the worker owning their customer's partition, sent to it as
 * soon as they are read (`check`); the feeder learns the refusals before it gives the batch its sequences,
 * and reads the next batch's records while the workers run this one. Profiles and club lines are
 * validated here (profiles register their cards).
 */
import { partitionOf } from '../../../contracts/subjects.js';
import type { EngineConfig } from '../../../config/schema/mod.js';
import type { CardDirectory } from '../../../ingest/mod.js';
import type { ClickHouseSink } from '../../../sinks/mod.js';
import type { LmdbStateStore } from '../store/lmdb-store.js';
import type { ChurnScorer } from '../worker.js';
import type { Logger } from '../../../platform/mod.js';
import { listSources, ReadMeter, streamOrder, type BadLine, type RecordKind, type SourceRecord } from './sources.js';
import { BackfillError, PartitionRunner, type BackfillPartitions, type BatchEvent, type BatchOutcome, type CheckItem, type CreditOut, type FeederMark, type PartitionStart, type PublishedCredit } from './partitions.js';
import { RecordPreparer } from './prepare.js';
import { ReadAhead, type ReadItem } from './reader.js';
import { ThreadedPartitions, type BackfillWorkers } from './threads.js';

/** Options of {@link backfill}. */
export interface BackfillOptions {
  /** History files or directories (sources.ts says what is read and in which order); ignored with `source`. */
  paths: readonly string[];
  /** History made in the process instead of read from files (the demo's simulated bank). */
  source?: RecordSource;
  /** The live scorer's engine configuration (rules, lifecycle, offers, partitions): the same core. */
  engineConfig: EngineConfig;
  /** Number of partitions of `tx.>` (`VAFA_PARTITIONS`). */
  partitions: number;
  /** The card-tokenization key of ingest (`VAFA_TOKEN_KEY`): profile cards become the same tokens. */
  tokenKey: string;
  /** The scorer's state store (the same LMDB environment the live scorer opens). */
  store: Pick<LmdbStateStore, 'load' | 'commit' | 'track'>;
  /** Where the rows go; undefined: state only (the rows can be rebuilt later by `vafa replay`… not of history: keep it set). */
  sink?: Pick<ClickHouseSink, 'write'>;
  /**
   * Where profiles register their cards (card token → customer), as ingest does for `POST /v1/customers`,
   * so the ISO 8583 adapter keys a live card transaction by its customer from day one. Undefined: not registered.
   */
  cards?: CardDirectory;
  /** The churn model, one call per micro-batch; undefined: no scores (as a scorer without a model). */
  scorer?: ChurnScorer;
  /**
   * Run the partitions on worker threads (threads.ts): each worker opens the store, the sink and the
   * model these settings name, and `store`, `sink`, `scorer` and `engineConfig` are then not used for
   * the partitions. Default: none, every partition in this thread (as with `count` 1). The count is
   * capped by `partitions`.
   */
  workers?: BackfillWorkers;
  /** The `TX` position before the first backfilled event (its last sequence; 0 for a new stream). */
  base: number;
  /**
   * Cut-over, epoch ms: events after it belong to the live stream and are left out (counted); each
   * partition's cut-over is at least this. Default: none (the history's own clock at its end).
   */
  cutover?: number;
  /** Stop at the first bad line (default false: count it, report it, go on). */
  strict?: boolean;
  /** Events per micro-batch. Default 4096. */
  batch?: number;
  /** Events between two commits of the state store (every partition; a commit also lets the customer cache drop what it holds). Default 250,000. */
  commitEvery?: number;
  /**
   * Customers changed since the last commit, over all partitions, that make the next batch end with a
   * commit however few events it held: they stay in memory until committed (a bank of millions would
   * otherwise hold most of them). Default 50,000.
   */
  commitCustomers?: number;
  /** Most bad lines kept in the summary (every one is counted and logged up to this). Default 100. */
  keepBad?: number;
  logger?: Logger;
  /** Called after every batch. */
  onProgress?: (p: BackfillProgress) => void;
  /**
   * Called with the profiles applied since the last commit that state consent or membership, before the
   * commit that covers them (a failure fails the backfill before they count as applied, so a rerun offers
   * them again): `vafa backfill` audits them (docs/security.md, Consent and membership). A resumed run
   * skips what a commit covered, so each is offered once unless a run died between the call and its commit.
   */
  onStatements?: (statements: StatementRecord[]) => Promise<void>;
}

/** A profile from a history file that states consent or membership, as applied. */
export interface StatementRecord {
  file: string;
  line: number;
  /** The stream sequence it was applied at. */
  seq: number;
  /** The profile as validated and normalised (cards tokenized). */
  body: Record<string, unknown>;
}

/**
 * Records that are not in files: they must come in stream order (every profile first, then the events by
 * time), as `streamOrder` gives them for files. Their `file` and `line` name them in bad-line reports.
 */
export interface RecordSource {
  records: Iterable<SourceRecord> | AsyncIterable<SourceRecord>;
  /** How far the records are, in the source's own units (e.g. ms of event time), for the progress bar and ETA. */
  progress(): { done: number; total: number };
}

export interface BackfillProgress {
  events: number;
  bad: number;
  /** Input bytes read / total (compressed bytes for gzipped files); with a `RecordSource`, its own units. */
  bytesRead: number;
  bytesTotal: number;
  seconds: number;
}

export interface BackfillSummary {
  /** Events applied through the core (profiles, transactions, redemptions, feedback, referral credits). */
  events: number;
  byKind: Record<RecordKind, number>;
  /** Lines refused: unreadable, invalid (contract validation), or failing in the core. */
  bad: number;
  /** The first `keepBad` of them, each naming its file and line. */
  badLines: BadLine[];
  /** Events after the cut-over, left for the live stream. */
  afterCutover: number;
  /** Events a resumed run did not apply again: applied by the runs before it, as its store's commits record. */
  resumed: number;
  /** Duplicates the core recognised (a tx id seen before), as streaming would. */
  duplicates: number;
  rows: number;
  /** Rows ClickHouse refused for their data (named in the log). */
  refusedRows: number;
  /** The position every partition's state covers: the live scorer resumes `TX` at `position + 1`. */
  position: number;
  /** Latest cut-over over the partitions, RFC 3339 (the live stream takes over after it). */
  cutover: string | null;
  seconds: number;
  eventsPerSecond: number;
}

export { BackfillError } from './partitions.js';

/** A record of a micro-batch after validation: an event for the core, or a line refused. */
type Entry = { bad: BadLine } | { event: BatchEvent; rec: SourceRecord };

/** The partitions of this backfill: on worker threads when asked for more than one, else in this thread. */
function partitionsOf(opts: BackfillOptions): BackfillPartitions {
  const common = { base: opts.base, ...(opts.cutover !== undefined ? { cutover: opts.cutover } : {}), ...(opts.strict ? { strict: true } : {}), ...(opts.logger ? { logger: opts.logger } : {}) };
  const workers = Math.min(opts.workers?.count ?? 1, opts.partitions);
  if (opts.workers && workers > 1) return new ThreadedPartitions({ ...common, ...opts.workers, count: workers, partitions: opts.partitions });
  return new PartitionRunner({
    ...common, engineConfig: opts.engineConfig, owned: Array.from({ length: opts.partitions }, (_, p) => p), store: opts.store,
    ...(opts.sink ? { sink: opts.sink } : {}), ...(opts.scorer ? { scorer: opts.scorer } : {}),
  });
}

/**
 * Backfills the history of `opts` (files or a record source) into the state store and ClickHouse through
 * the scorer core, resuming where an interrupted run's last commit stood, and returns what it applied.
 *
 * @throws BackfillError when the store holds live state or a finished backfill, or (`strict`) at the first bad line.
 */
export async function backfill(opts: BackfillOptions): Promise<BackfillSummary> {
  const started = performance.now();
  const files = opts.source ? [] : listSources(opts.paths);
  const meter = new ReadMeter();
  const input: Input = {
    open: (bad) => opts.source?.records ?? streamOrder(files, meter, bad),
    progress: () => opts.source?.progress() ?? { done: meter.bytes, total: files.reduce((n, f) => n + f.bytes, 0) },
  };
  const preparer = new RecordPreparer(opts.partitions, opts.tokenKey);
  const summary = emptySummary(opts.base);
  const partitions = partitionsOf(opts);
  try {
    const run = new FeederRun(opts, partitions, await partitions.open(), { input, preparer, summary, started });
    await run.feed();
    await run.finish();
  } catch (err) {
    await partitions.close().catch(() => undefined);
    throw err;
  }
  summary.seconds = (performance.now() - started) / 1000;
  summary.eventsPerSecond = summary.events / Math.max(1e-9, summary.seconds);
  return summary;
}

function emptySummary(base: number): BackfillSummary {
  return {
    events: 0, byKind: { transaction: 0, profile: 0, redemption: 0, feedback: 0, migration: 0 }, bad: 0, badLines: [], afterCutover: 0, resumed: 0,
    duplicates: 0, rows: 0, refusedRows: 0, position: base, cutover: null, seconds: 0, eventsPerSecond: 0,
  };
}

/** The history's records in stream order, and how far they are read (for the progress bar). */
interface Input {
  open(bad: (b: BadLine) => void): Iterable<SourceRecord> | AsyncIterable<SourceRecord>;
  progress(): { done: number; total: number };
}

/**
 * One run of the feeder over the partitions opened: reads the records ahead, cuts micro-batches (the
 * credits of the batch before, then records), gives their events sequences, runs them with a barrier,
 * counts them and commits. Its fields are what a commit's mark records and a rerun resumes from.
 */
class FeederRun {
  private readonly batchSize: number;
  private readonly commitEvery: number;
  private readonly commitCustomers: number;
  private readonly keepBad: number;
  private readonly input: Input;
  private readonly preparer: RecordPreparer;
  private readonly summary: BackfillSummary;
  private readonly started: number;
  /** Each partition's committed sequence: its events at or below it are skipped (a resumed run). */
  private readonly starts: Map<number, number>;
  private readonly resume: ResumePoint;
  private readonly checks: RunnerChecks;
  private readonly reader: ReadAhead;
  /** Card registrations of the batch's profiles, awaited before the batch counts. */
  private readonly registrations: Promise<void>[] = [];
  /** The sequence of the last event given one. */
  private seq: number;
  private sinceCommit = 0;
  /** Referral credits published by the last batch: applied first in the next one, as `TX` would deliver them. */
  private credits: SourceRecord[];
  /** Input records consumed by the batches run (what a commit's mark says a rerun skips). */
  private consumed: number;
  /** Batches since the last commit, and the credits they published (each partition commits those of its events). */
  private batchNo = 0;
  private published: PublishedCredit[] = [];
  /** Profiles stating consent or membership since the last commit. */
  private statements: StatementRecord[] = [];
  /** Until the feeder is past every partition's position, no commit: the partitions ahead have their next one there. */
  private replayTo: number;

  constructor(
    private readonly opts: BackfillOptions,
    private readonly partitions: BackfillPartitions,
    opened: readonly PartitionStart[],
    run: { input: Input; preparer: RecordPreparer; summary: BackfillSummary; started: number },
  ) {
    this.batchSize = opts.batch ?? 4096;
    this.commitEvery = opts.commitEvery ?? 250_000;
    this.commitCustomers = opts.commitCustomers ?? 50_000;
    this.keepBad = opts.keepBad ?? 100;
    ({ input: this.input, preparer: this.preparer, summary: this.summary, started: this.started } = run);
    this.starts = new Map(opened.map((s) => [s.partition, s.seq]));
    this.resume = resumePoint(opened, opts.base);
    if (this.resume.ahead > this.resume.seq) opts.logger?.warn({ from: this.resume.seq, to: this.resume.ahead }, 'backfill: the partitions were committed at different positions (a run stopped during a commit): resuming from the earliest');
    this.seq = this.resume.seq;
    this.credits = this.resume.credits.map(creditRecord);
    this.summary.resumed = this.resume.events;
    this.replayTo = this.resume.ahead > this.resume.seq ? this.resume.ahead : 0;
    this.checks = new RunnerChecks(partitions, opts.partitions);
    // Records a commit covers were consumed by the runs before (their bad lines reported by them): skipped.
    this.reader = new ReadAhead((bad) => this.input.open(bad), this.resume.records);
    this.consumed = this.resume.records;
  }

  /** Runs every batch: a batch is the credits of the one before, then records up to `batch` (at least one); at the end, credits alone. */
  async feed(): Promise<void> {
    this.checks.send(await this.reader.fill(this.batchSize));
    for (;;) {
      const want = Math.max(1, this.batchSize - this.credits.length);
      this.checks.send(await this.reader.fill(want));
      const items = this.reader.take(want);
      if (items.length === 0 && this.credits.length === 0) break;
      await this.runBatch(items);
    }
  }

  /** The last commit, with the bank's one cut-over: the history holds everything up to the latest clock of any partition. */
  async finish(): Promise<void> {
    const cutover = await this.partitions.latestCutover();
    await this.commitAll(this.seq, cutover);
    this.summary.refusedRows = (await this.partitions.close()).refusedRows;
    this.summary.position = this.seq;
    this.summary.cutover = cutover > 0 ? new Date(cutover).toISOString() : null;
  }

  /** Runs a batch (the credits, then the records taken); reads the next batch's records while the runners work. */
  private async runBatch(items: ReadItem[]): Promise<void> {
    let last = 0;
    for (const item of items) if ('rec' in item) last = item.n;
    if (last > 0) await this.checks.through(last);
    this.consumed = Math.max(this.consumed, last);
    const entries = this.entriesOf([...this.credits.map((rec) => ({ rec, n: 0 })), ...items]);
    const running = this.partitions.run(entries.flatMap((e) => ('event' in e ? [e.event] : [])), last);
    running.catch(() => undefined); // awaited below
    this.checks.send(await this.reader.fill(this.batchSize));
    const outcome = await running;
    if (this.registrations.length) {
      await Promise.all(this.registrations);
      this.registrations.length = 0;
    }
    this.account(entries, outcome);
    this.takeCredits(outcome);
    await this.commitIfDue(outcome);
    this.reportProgress();
  }

  /** Validates the records (or takes the runners' word) and gives each event its sequence and partition; refused lines keep their place. */
  private entriesOf(items: ReadItem[]): Entry[] {
    const entries: Entry[] = [];
    let index = 0;
    for (const item of items) {
      if ('bad' in item) {
        entries.push(item);
        if (this.opts.strict) break; // nothing after the first bad line is applied
        continue;
      }
      const { rec, n } = item;
      const prepared = this.verdictOf(rec, n);
      if (prepared && 'bad' in prepared) {
        entries.push(prepared);
        if (this.opts.strict) break;
        continue;
      }
      if (this.opts.cutover !== undefined && rec.kind !== 'profile' && rec.at > this.opts.cutover) {
        this.summary.afterCutover++;
        continue;
      }
      const partition = prepared ? partitionOf(String(prepared.value.customer_id), this.opts.partitions) : routeOf(rec, this.opts.partitions);
      const s = ++this.seq;
      const at = index++; // a skipped event keeps its place: credits are ordered by it
      if (s <= this.startOf(partition)) {
        this.summary.resumed++;
        continue;
      }
      entries.push({ event: { index: at, seq: s, partition, kind: rec.kind, ...(prepared ? { body: prepared.value } : { record: n }) }, rec });
    }
    return entries;
  }

  /** The record validated here, or refused by its runner; undefined: accepted by its runner, which holds it. */
  private verdictOf(rec: SourceRecord, n: number): Prepared | undefined {
    if (!this.checks.byRunner(rec)) return this.prepare(rec);
    const reason = this.checks.refusal(n);
    return reason === undefined ? undefined : { bad: { file: rec.file, line: rec.line, reason } };
  }

  /** The record as the core gets it (validated, normalised), or why it is refused; a profile's cards are registered. */
  private prepare(rec: SourceRecord): Prepared {
    if (rec.file === CREDIT) return { value: rec.body }; // the core's own message (negative points), as a worker reads it from TX
    const prepared = this.preparer.prepare(rec.kind, rec.body, rec.file, rec.line);
    if ('reason' in prepared) return { bad: { file: rec.file, line: rec.line, reason: prepared.reason } };
    const value = prepared.value;
    const cards = this.opts.cards;
    if (rec.kind === 'profile' && cards) {
      for (const t of (value as { card_tokens?: string[] }).card_tokens ?? []) this.registrations.push(cards.register(t, String(value.customer_id)));
    }
    return { value };
  }

  private startOf(partition: number): number {
    const start = this.starts.get(partition);
    if (start === undefined) throw new Error(`backfill: partition ${partition} was not opened`);
    return start;
  }

  /** Counts what the batch applied and reports what it refused, in the records' order. */
  private account(entries: Entry[], outcome: BatchOutcome): void {
    const failed = new Map(outcome.failures.map((f) => [f.index, f.message]));
    for (const entry of entries) {
      if ('bad' in entry) {
        this.onBad(entry.bad);
        continue;
      }
      const { event, rec } = entry;
      const failure = failed.get(event.index);
      if (failure !== undefined) {
        this.onBad({ file: rec.file, line: rec.line, reason: `refused by the scorer: ${failure}` });
        continue;
      }
      if (rec.kind === 'profile' && this.opts.onStatements && event.body && (event.body.membership !== undefined || event.body.consent !== undefined)) {
        this.statements.push({ file: rec.file, line: rec.line, seq: event.seq, body: event.body });
      }
      this.summary.events++;
      this.summary.byKind[rec.kind]++;
      this.sinceCommit++;
    }
    this.summary.duplicates += outcome.duplicates;
    this.summary.rows += outcome.rows;
  }

  private onBad(b: BadLine): void {
    this.summary.bad++;
    if (this.opts.strict) throw new BackfillError(`${b.file}:${b.line}: ${b.reason}`);
    if (this.summary.badLines.length < this.keepBad) {
      this.summary.badLines.push(b);
      this.opts.logger?.warn({ file: b.file, line: b.line, reason: b.reason }, 'backfill: line refused');
    }
  }

  /**
   * The batch's credits, for the next batch and the next commit's mark: in the order one thread publishes
   * them (stable: one event's credits keep theirs), whichever runner did; with those the partitions ahead
   * of a resumed run published before it stopped (their events are skipped).
   */
  private takeCredits(outcome: BatchOutcome): void {
    const batchCredits = [...outcome.credits, ...(this.resume.published.get(this.batchNo) ?? [])].sort((a, b) => a.order - b.order);
    for (const c of batchCredits) this.published.push({ ...c, batch: this.batchNo });
    this.batchNo++;
    this.credits = batchCredits.map((c) => creditRecord(c.body));
  }

  /** Commits after `commitEvery` events or `commitCustomers` customers held (or, resuming, once past every partition's position). */
  private async commitIfDue(outcome: BatchOutcome): Promise<void> {
    const due = this.replayTo > 0 ? this.seq >= this.replayTo : this.sinceCommit >= this.commitEvery || outcome.pendingCustomers >= this.commitCustomers;
    if (!due) return;
    this.replayTo = 0;
    this.resume.published.clear(); // every partition is past its position: no event skipped from here
    this.sinceCommit = 0;
    await this.commitAll(this.seq);
  }

  private async commitAll(position: number, cutover?: number): Promise<void> {
    await this.partitions.flush(); // rows first: a committed position never covers rows that are not durable
    if (this.statements.length > 0 && this.opts.onStatements) {
      const audited = this.statements;
      this.statements = [];
      await this.opts.onStatements(audited);
    }
    const feeder: FeederMark = { records: this.consumed, credits: this.credits.map((c) => c.body), events: this.summary.resumed + this.summary.events };
    await this.partitions.commit(position, { feeder, published: this.published }, cutover);
    this.batchNo = 0;
    this.published = [];
  }

  private reportProgress(): void {
    if (!this.opts.onProgress) return;
    const { done, total } = this.input.progress();
    this.opts.onProgress({ events: this.summary.events, bad: this.summary.bad, bytesRead: done, bytesTotal: total, seconds: (performance.now() - this.started) / 1000 });
  }
}

/** A record validated here: its value for the core, or why it is refused. */
type Prepared = { value: Record<string, unknown> } | { bad: BadLine };

/**
 * The records the runners validate (`check`), sent as soon as they are read; their refusals, by record
 * number, as the answers come. A batch waits for the answers about its records before it is cut.
 */
class RunnerChecks {
  private readonly refused = new Map<number, string>();
  private readonly pending: { first: number; last: number; done: Promise<void> }[] = [];

  constructor(private readonly partitions: BackfillPartitions, private readonly partitionCount: number) {}

  /** Whether a runner validates this record (with workers: transactions, redemptions, feedback from the input). */
  byRunner(rec: SourceRecord): boolean {
    return this.partitions.check !== undefined && RUNNER_CHECKED.has(rec.kind) && rec.file !== CREDIT;
  }

  /** Sends the records just read that the runners validate. */
  send(fresh: { rec: SourceRecord; n: number }[]): void {
    const items: CheckItem[] = [];
    for (const { rec, n } of fresh) if (this.byRunner(rec)) items.push({ record: n, partition: routeOf(rec, this.partitionCount), kind: rec.kind, body: rec.body, file: rec.file, line: rec.line });
    const first = items[0];
    const last = items.at(-1);
    if (first === undefined || last === undefined || !this.partitions.check) return;
    const done = this.partitions.check(items).then((list) => {
      for (const r of list) this.refused.set(r.record, r.reason);
    });
    done.catch(() => undefined); // awaited with its batch
    this.pending.push({ first: first.record, last: last.record, done });
  }

  /** Waits for the answers about the records up to `last`. */
  async through(last: number): Promise<void> {
    for (let head = this.pending[0]; head !== undefined && head.last <= last; head = this.pending[0]) {
      this.pending.shift();
      await head.done;
    }
    const holding = this.pending[0];
    if (holding !== undefined && holding.first <= last) await holding.done; // holds the last records
  }

  /** Why a runner refused record `n`; undefined: it did not (or was not asked). */
  refusal(n: number): string | undefined {
    return this.refused.get(n);
  }
}

const CREDIT = '(referral credit)';

/** The kinds a worker thread validates itself (ingest's `prepare` alone); profiles (their cards are registered here) and club lines stay with the feeder. */
const RUNNER_CHECKED: ReadonlySet<RecordKind> = new Set(['transaction', 'redemption', 'feedback']);

/** The partition of a record not validated yet: its customer id's (a record without one is refused by whichever worker checks it). */
function routeOf(rec: SourceRecord, partitions: number): number {
  return typeof rec.body.customer_id === 'string' ? partitionOf(rec.body.customer_id, partitions) : 0;
}

/** Where a rerun starts: the earliest partition's mark, and the credits the partitions ahead of it published since. */
interface ResumePoint {
  /** The sequence of the earliest commit (`base` when a partition has none). */
  seq: number;
  /** The latest partition's position: up to it, partitions ahead skip their events. */
  ahead: number;
  records: number;
  credits: Record<string, unknown>[];
  events: number;
  /** By batch after the earliest commit: credits the partitions ahead published in it. */
  published: Map<number, CreditOut[]>;
}

function resumePoint(starts: readonly PartitionStart[], base: number): ResumePoint {
  const at = (s: PartitionStart): number => (s.mark ? s.seq : base); // a partition without a mark: from the start
  const first = starts.reduce((a, b) => (at(b) < at(a) ? b : a));
  const seq = at(first);
  const published = new Map<number, CreditOut[]>();
  for (const s of starts) {
    if (at(s) <= seq || !s.mark) continue;
    for (const { batch, ...c } of s.mark.published) published.set(batch, [...(published.get(batch) ?? []), c]);
  }
  const mark = first.mark;
  return {
    seq, ahead: Math.max(base, ...starts.map((s) => s.seq)), records: mark?.records ?? 0, credits: mark?.credits ?? [], events: mark?.events ?? 0, published,
  };
}

/** A referral credit the core published to `TX` (`tx.<p>.redemption`), as a record for the next batch. */
function creditRecord(body: Record<string, unknown>): SourceRecord {
  return { kind: 'redemption', body, file: CREDIT, line: 0, at: Date.parse(String(body.occurred_at)) };
}
