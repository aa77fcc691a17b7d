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
import type { EngineConfig } from '../../../config/schema/engine.js';
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

export async function backfill(opts: BackfillOptions): Promise<BackfillSummary> {
  const started = performance.now();
  const files = opts.source ? [] : listSources(opts.paths);
  const meter = new ReadMeter();
  const read = (): { done: number; total: number } => opts.source?.progress() ?? { done: meter.bytes, total: files.reduce((n, f) => n + f.bytes, 0) };
  const preparer = new RecordPreparer(opts.partitions, opts.tokenKey);
  const batchSize = opts.batch ?? 4096;
  const commitEvery = opts.commitEvery ?? 250_000;
  const commitCustomers = opts.commitCustomers ?? 50_000;
  const keepBad = opts.keepBad ?? 100;
  const summary: BackfillSummary = {
    events: 0, byKind: { transaction: 0, profile: 0, redemption: 0, feedback: 0, migration: 0 }, bad: 0, badLines: [], afterCutover: 0, resumed: 0,
    duplicates: 0, rows: 0, refusedRows: 0, position: opts.base, cutover: null, seconds: 0, eventsPerSecond: 0,
  };

  const onBad = (b: BadLine): void => {
    summary.bad++;
    if (opts.strict) throw new BackfillError(`${b.file}:${b.line}: ${b.reason}`);
    if (summary.badLines.length < keepBad) {
      summary.badLines.push(b);
      opts.logger?.warn({ file: b.file, line: b.line, reason: b.reason }, 'backfill: line refused');
    }
  };

  const registrations: Promise<void>[] = [];
  /** The record as the core gets it (validated, normalised), or why it is refused. */
  const prepare = (rec: SourceRecord): { value: Record<string, unknown> } | { bad: BadLine } => {
    if (rec.file === CREDIT) return { value: rec.body }; // the core's own message (negative points), as a worker reads it from TX
    const prepared = preparer.prepare(rec.kind, rec.body, rec.file, rec.line);
    if ('reason' in prepared) return { bad: { file: rec.file, line: rec.line, reason: prepared.reason } };
    const value = prepared.value;
    if (rec.kind === 'profile' && opts.cards) {
      for (const t of (value as { card_tokens?: string[] }).card_tokens ?? []) registrations.push(opts.cards.register(t, String(value.customer_id)));
    }
    return { value };
  };

  const partitions = partitionsOf(opts);
  let seq = opts.base;
  let sinceCommit = 0;
  /** Referral credits published by the last batch: applied first in the next one, as `TX` would deliver them. */
  let credits: SourceRecord[] = [];
  /** Input records consumed by the batches run (what a commit's mark says a rerun skips). */
  let consumed = 0;
  /** Batches since the last commit, and the credits they published (each partition commits those of its events). */
  let batchNo = 0;
  let published: PublishedCredit[] = [];

  let statements: StatementRecord[] = [];
  const commitAll = async (position: number, cutover?: number): Promise<void> => {
    await partitions.flush(); // rows first: a committed position never covers rows that are not durable
    if (statements.length > 0 && opts.onStatements) {
      const audited = statements;
      statements = [];
      await opts.onStatements(audited);
    }
    const feeder: FeederMark = { records: consumed, credits: credits.map((c) => c.body), events: summary.resumed + summary.events };
    await partitions.commit(position, { feeder, published }, cutover);
    batchNo = 0;
    published = [];
  };

  try {
    const opened = await partitions.open();
    const starts = new Map(opened.map((s) => [s.partition, s.seq]));
    const resume = resumePoint(opened, opts.base);
    if (resume.ahead > resume.seq) opts.logger?.warn({ from: resume.seq, to: resume.ahead }, 'backfill: the partitions were committed at different positions (a run stopped during a commit): resuming from the earliest');
    seq = resume.seq;
    credits = resume.credits.map(creditRecord);
    summary.resumed = resume.events;
    /** Until the feeder is past every partition's position, no commit: the partitions ahead have their next one there. */
    let replayTo = resume.ahead > resume.seq ? resume.ahead : 0;

    /** Refusals of the records the runners validate (`check`), by record number, as their answers come. */
    const refused = new Map<number, string>();
    const checks: { first: number; last: number; done: Promise<void> }[] = [];
    const checkAhead = (fresh: { rec: SourceRecord; n: number }[]): void => {
      const items: CheckItem[] = [];
      for (const { rec, n } of fresh) if (checkedByRunner(rec)) items.push({ record: n, partition: routeOf(rec, opts.partitions), kind: rec.kind, body: rec.body, file: rec.file, line: rec.line });
      if (items.length === 0 || !partitions.check) return;
      const done = partitions.check(items).then((list) => {
        for (const r of list) refused.set(r.record, r.reason);
      });
      done.catch(() => undefined); // awaited with its batch
      checks.push({ first: items[0]!.record, last: items.at(-1)!.record, done });
    };
    const checkedByRunner = (rec: SourceRecord): boolean => partitions.check !== undefined && RUNNER_CHECKED.has(rec.kind) && rec.file !== CREDIT;
    /** Waits for the answers about the records up to `last`. */
    const checkedThrough = async (last: number): Promise<void> => {
      while (checks.length > 0 && checks[0]!.last <= last) await checks.shift()!.done;
      if (checks.length > 0 && checks[0]!.first <= last) await checks[0]!.done; // holds the last records
    };

    /** Validates the records (or takes the runners' word) and gives each event its sequence and partition; refused lines keep their place. */
    const entriesOf = (items: ReadItem[]): Entry[] => {
      const entries: Entry[] = [];
      let index = 0;
      for (const item of items) {
        if ('bad' in item) {
          entries.push(item);
          if (opts.strict) break; // nothing after the first bad line is applied
          continue;
        }
        const { rec, n } = item;
        const byRunner = checkedByRunner(rec);
        const reason = byRunner ? refused.get(n) : undefined;
        const prepared = byRunner ? (reason === undefined ? undefined : { bad: { file: rec.file, line: rec.line, reason } }) : prepare(rec);
        if (prepared && 'bad' in prepared) {
          entries.push(prepared);
          if (opts.strict) break;
          continue;
        }
        if (opts.cutover !== undefined && rec.kind !== 'profile' && rec.at > opts.cutover) {
          summary.afterCutover++;
          continue;
        }
        const partition = prepared ? partitionOf(String(prepared.value.customer_id), opts.partitions) : routeOf(rec, opts.partitions);
        const s = ++seq;
        const at = index++; // a skipped event keeps its place: credits are ordered by it
        if (s <= starts.get(partition)!) {
          summary.resumed++;
          continue;
        }
        entries.push({ event: { index: at, seq: s, partition, kind: rec.kind, ...(prepared ? { body: prepared.value } : { record: n }) }, rec });
      }
      return entries;
    };

    /** Counts what the batch applied and reports what it refused, in the records' order. */
    const account = (entries: Entry[], outcome: BatchOutcome): void => {
      const failed = new Map(outcome.failures.map((f) => [f.index, f.message]));
      for (const entry of entries) {
        if ('bad' in entry) {
          onBad(entry.bad);
          continue;
        }
        const { event, rec } = entry;
        const failure = failed.get(event.index);
        if (failure !== undefined) {
          onBad({ file: rec.file, line: rec.line, reason: `refused by the scorer: ${failure}` });
          continue;
        }
        if (rec.kind === 'profile' && opts.onStatements && event.body && (event.body.membership !== undefined || event.body.consent !== undefined)) {
          statements.push({ file: rec.file, line: rec.line, seq: event.seq, body: event.body });
        }
        summary.events++;
        summary.byKind[rec.kind]++;
        sinceCommit++;
      }
      summary.duplicates += outcome.duplicates;
      summary.rows += outcome.rows;
    };

    /** Runs a batch (the credits, then the records taken); reads the next batch's records while the runners work. */
    const runBatch = async (items: ReadItem[]): Promise<void> => {
      let last = 0;
      for (const item of items) if ('rec' in item) last = item.n;
      if (last > 0) await checkedThrough(last);
      consumed = Math.max(consumed, last);
      const entries = entriesOf([...credits.map((rec) => ({ rec, n: 0 })), ...items]);
      const running = partitions.run(entries.flatMap((e) => ('event' in e ? [e.event] : [])), last);
      running.catch(() => undefined); // awaited below
      checkAhead(await reader.fill(batchSize));
      const outcome = await running;
      if (registrations.length) {
        await Promise.all(registrations);
        registrations.length = 0;
      }
      account(entries, outcome);
      // In the order one thread publishes them (stable: one event's credits keep theirs), whichever runner did;
      // with those the partitions ahead of a resumed run published before it stopped (their events are skipped).
      const batchCredits = [...outcome.credits, ...(resume.published.get(batchNo) ?? [])].sort((a, b) => a.order - b.order);
      for (const c of batchCredits) published.push({ ...c, batch: batchNo });
      batchNo++;
      credits = batchCredits.map((c) => creditRecord(c.body));
      const due = replayTo > 0 ? seq >= replayTo : sinceCommit >= commitEvery || outcome.pendingCustomers >= commitCustomers;
      if (due) {
        replayTo = 0;
        resume.published.clear(); // every partition is past its position: no event skipped from here
        sinceCommit = 0;
        await commitAll(seq);
      }
      if (opts.onProgress) {
        const { done, total } = read();
        opts.onProgress({ events: summary.events, bad: summary.bad, bytesRead: done, bytesTotal: total, seconds: (performance.now() - started) / 1000 });
      }
    };

    // Records a commit covers were consumed by the runs before (their bad lines reported by them): skipped.
    const reader = new ReadAhead((bad) => opts.source?.records ?? streamOrder(files, meter, bad), resume.records);
    consumed = resume.records;
    checkAhead(await reader.fill(batchSize));
    // A batch is the credits of the one before, then records up to `batchSize` (at least one); at the end, credits alone.
    for (;;) {
      const want = Math.max(1, batchSize - credits.length);
      checkAhead(await reader.fill(want));
      const items = reader.take(want);
      if (items.length === 0 && credits.length === 0) break;
      await runBatch(items);
    }
    // One cut-over for the bank: the history holds everything up to the latest clock of any partition.
    const cutover = await partitions.latestCutover();
    await commitAll(seq, cutover);
    summary.refusedRows = (await partitions.close()).refusedRows;
    summary.position = seq;
    summary.cutover = cutover > 0 ? new Date(cutover).toISOString() : null;
  } catch (err) {
    await partitions.close().catch(() => undefined);
    throw err;
  }
  summary.seconds = (performance.now() - started) / 1000;
  summary.eventsPerSecond = summary.events / Math.max(1e-9, summary.seconds);
  return summary;
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
