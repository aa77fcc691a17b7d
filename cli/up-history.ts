/**
 * The demo's past: `vafa up --simulate` first backfills a simulated history that ends at the wall clock's
 * now, then streams the same bank's customers live from there (simulator/live.ts).
 *
 * The bank is written down in `<data dir>/demo-bank.json` before the backfill, so that a demo stopped and
 * started again continues the same bank: an interrupted backfill resumes (scorer/runtime/backfill/deployment.ts), a
 * finished one is not loaded twice, and the live stream goes on from the simulated time it had reached.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { Settings } from '../config/mod.js';
import { natsJsm, type Logger } from '../platform/mod.js';
import { loadDefaultChurn, startStack } from '../app/mod.js';
import { STREAM_TX } from '../contracts/subjects.js';
import { backfillDeployment, type DeploymentBackfillSummary, type SourceRecord } from '../scorer/runtime/backfill/mod.js';
import { createBank, splitPass, type Bank, type EventStream, type LivePosition, type Timeline } from '../simulator/mod.js';
import { backfillProgress } from './backfill.js';
import { buildEngineConfig } from '../config/mod.js';

const DAY = 86_400_000;

/** Days of the bank's future after the cut-over: what a demo can stream live before the bank runs out. */
export const CONTINUE_DAYS = 365;

/** `<data dir>/demo-bank.json`: the simulated bank of this data directory and how far it got. */
const DemoBankSchema = Type.Object({
  format: Type.Literal('vafa-demo-bank/1'),
  seed: Type.Integer(),
  customers: Type.Integer({ minimum: 1 }),
  feedback: Type.Number({ minimum: 0 }),
  /** Start of the history, RFC 3339. */
  start: Type.String(),
  historyDays: Type.Integer({ minimum: 1 }),
  continueDays: Type.Integer({ minimum: 0 }),
  /** The cut-over (the wall clock when the demo first started), RFC 3339. */
  cutover: Type.String(),
  /** `backfilling` until the backfill has finished, `live` after. */
  phase: Type.Union([Type.Literal('backfilling'), Type.Literal('live')]),
  /** Simulated time the live stream had reached when the demo last stopped, RFC 3339. */
  resumeAt: Type.String(),
});
export type DemoBank = Static<typeof DemoBankSchema>;

/** The data directory cannot take a simulated history (it holds another run), or its demo-bank.json is damaged. */
export class DemoHistoryError extends Error {
  override readonly name = 'DemoHistoryError';
}

export interface HistoryOptions {
  settings: Settings;
  logger: Logger;
  seed: number;
  customers: number;
  /** Feedback volume multiplier (`SimOptions.feedback`). */
  feedback: number;
  /** Days of history before now (≥ 1). */
  historyDays: number;
  /** The wall clock; default `Date.now`. */
  clock?: () => number;
}

export interface DemoWithHistory {
  bank: Bank;
  /** The live part: the bank's events after where the demo stands, stamped with the wall clock. */
  live: EventStream;
  /** Between the live part's stamps and the bank's time (survey answers). */
  timeline: Timeline;
  position: LivePosition;
  marker: DemoBank;
  /** The backfill this start ran; undefined when the data directory already had the history. */
  backfill?: DeploymentBackfillSummary;
  /** Writes how far the live stream got, for the next start. */
  save(): void;
}

const markerPath = (settings: Settings): string => path.join(settings.dataDir, 'demo-bank.json');

function readMarker(file: string): DemoBank | undefined {
  if (!existsSync(file)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new DemoHistoryError(`${file}: not JSON (${(err as Error).message}); remove the data directory for a new demo`);
  }
  const problem = [...Value.Errors(DemoBankSchema, value)][0];
  if (problem) throw new DemoHistoryError(`${file}: ${problem.path || '(root)'}: ${problem.message}; remove the data directory for a new demo`);
  return value as DemoBank;
}

function writeMarker(file: string, marker: DemoBank): void {
  writeFileSync(`${file}.tmp`, `${JSON.stringify(marker, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}

/**
 * Makes (or finds) the data directory's simulated bank and backfills its history when that has not been
 * done: starts the engines alone (no API, no scorer: stream `TX` must stay empty), runs the backfill with
 * a progress bar on a terminal, stops them. The caller then starts the stack and feeds `live`.
 */
export async function prepareHistory(opts: HistoryOptions): Promise<DemoWithHistory> {
  const { settings, logger } = opts;
  const clock = opts.clock ?? Date.now;
  const file = markerPath(settings);
  let marker = readMarker(file);
  if (marker && (marker.seed !== opts.seed || marker.customers !== opts.customers || marker.historyDays !== opts.historyDays || marker.feedback !== opts.feedback)) {
    logger.warn({ file, seed: marker.seed, customers: marker.customers, historyDays: marker.historyDays, feedback: marker.feedback },
      'the data directory holds a simulated bank made with other options: continuing it (remove the data directory for a new one)');
  }
  const now = clock();
  marker ??= {
    format: 'vafa-demo-bank/1', seed: opts.seed, customers: opts.customers, feedback: opts.feedback,
    start: new Date(now - opts.historyDays * DAY).toISOString(), historyDays: opts.historyDays, continueDays: CONTINUE_DAYS,
    cutover: new Date(now).toISOString(), phase: 'backfilling', resumeAt: new Date(now).toISOString(),
  };
  const cutover = Date.parse(marker.cutover);
  const start = Date.parse(marker.start);
  const bank = createBank({ seed: marker.seed, customers: marker.customers, start: new Date(start), days: marker.historyDays, feedback: marker.feedback, continueDays: marker.continueDays });
  const pass = splitPass(bank.events(), { cutover, clock });
  let summary: DeploymentBackfillSummary | undefined;
  if (marker.phase === 'backfilling') {
    summary = await backfillBank(opts, bank, pass.history(), () => pass.reached, marker, file);
    marker = { ...marker, phase: 'live' };
  } else {
    logger.info({ cutover: marker.cutover, resumeAt: marker.resumeAt }, 'the simulated history is already in the data directory: going on live');
    for (const _ of pass.history()) {
      // skipped: it is in the state store and the warehouse
    }
  }
  const live = pass.live(Date.parse(marker.resumeAt));
  const done: DemoBank = marker;
  return {
    bank, live, timeline: pass.timeline, position: pass.position, marker: done, ...(summary ? { backfill: summary } : {}),
    save() {
      if (pass.position.taken === 0) return;
      writeMarker(file, { ...done, resumeAt: new Date(pass.position.simulatedAt).toISOString() });
    },
  };
}

async function backfillBank(
  opts: HistoryOptions, bank: Bank, history: Iterable<{ kind: SourceRecord['kind']; body: object }>, reached: () => number, marker: DemoBank, file: string,
): Promise<DeploymentBackfillSummary> {
  const { settings, logger } = opts;
  const engines = await startStack({ settings, logger, scorer: false, api: false, churn: null });
  let churn: Awaited<ReturnType<typeof loadDefaultChurn>> = undefined;
  try {
    const jsm = await natsJsm(engines.nc);
    const tx = await jsm.streams.info(STREAM_TX);
    if (tx.state.messages > 0 && !existsSync(file)) {
      throw new DemoHistoryError(`${settings.dataDir} holds a vafa run without a simulated history (stream ${STREAM_TX} has ${tx.state.messages} messages): `
        + 'remove it (or set VAFA_DATA_DIR to a new directory) for a demo with a past, or run with --history-days 0');
    }
    writeMarker(file, marker);
    churn = await loadDefaultChurn(settings, logger);
    const start = Date.parse(marker.start);
    const span = Date.parse(marker.cutover) - start;
    const source = {
      *records(): Generator<SourceRecord> {
        let line = 0;
        for (const p of bank.profiles()) yield { kind: 'profile', body: p as unknown as Record<string, unknown>, file: 'simulated bank (profiles)', line: ++line, at: Date.parse(p.opened_at) };
        line = 0;
        for (const ev of history) {
          const body = ev.body as Record<string, unknown>;
          yield { kind: ev.kind, body, file: 'simulated bank (events)', line: ++line, at: Date.parse(String(body.occurred_at)) };
        }
      },
      progress: () => ({ done: Number.isNaN(reached()) ? 0 : Math.max(0, reached() - start), total: span }),
    };
    const bar = backfillProgress();
    const t0 = Date.now();
    const s = await backfillDeployment({
      paths: [], source: { records: source.records(), progress: source.progress }, nc: engines.nc, warehouse: engines.warehouse, database: settings.clickhouseDatabase,
      dataDir: settings.dataDir, engineConfig: buildEngineConfig(settings), partitions: settings.partitions, tokenKey: settings.tokenKey,
      streamReplicas: settings.streamReplicas, duplicateWindowS: settings.duplicateWindowS, logger, cutover: Date.parse(marker.cutover),
      onProgress: (p) => bar.update(p), ...(churn ? { scorer: churn } : {}),
    });
    // Noted before anything else can stop the process: `TX` now starts after the history, which is not loaded twice.
    writeMarker(file, { ...marker, phase: 'live' });
    bar.done();
    console.log(`history: ${s.events.toLocaleString('en')} events of ${marker.customers.toLocaleString('en')} customers over ${marker.historyDays} days backfilled in `
      + `${((Date.now() - t0) / 1000).toFixed(1)} s (${Math.round(s.eventsPerSecond).toLocaleString('en')} events/s); ${s.rows.toLocaleString('en')} rows; cut-over ${s.cutover ?? marker.cutover}`);
    if (s.bad > 0) logger.warn({ bad: s.bad, first: s.badLines.slice(0, 3) }, 'lines of the simulated history refused');
    return s;
  } finally {
    await (churn as { close?: () => Promise<void> } | undefined)?.close?.();
    await engines.stop();
  }
}
