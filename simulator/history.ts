/**
 * Labelled history for churn-model training: a simulated bank written to a folder as NDJSON
 * (`profiles.ndjson`, `events.ndjson` in event-time order: transactions, redemptions and feedback,
 * `labels.ndjson`, plus `meta.json`), and a reader that streams it back. With `gzip`, the NDJSON files are `*.ndjson.gz`.
 */
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import type { Writable } from 'node:stream';
import type { CustomerProfileV1 } from '../contracts/events.js';
import type { SimEvent } from './generator.js';
import type { Bank, ChurnHazard } from './mod.js';

/** One line of `labels.ndjson`: the ground truth for one customer (`null` where there is nothing to say). */
export interface HistoryLabel {
  customer_id: string;
  churned: boolean;
  churn_at: string | null;
  opened_at: string;
  reactivated_at: string | null;
  /** The churn process the simulator ran for this customer (`CustomerTruth.hazard`, law `vafa.churn/v2`), for the oracle. */
  hazard?: ChurnHazard;
}

/** `meta.json`: how the history was made and what it holds. */
export interface HistoryMeta {
  format: 'vafa-sim-history/1';
  seed: number;
  customers: number;
  start: string;
  /** Exclusive end of the events. */
  end: string;
  days: number;
  currency: string;
  utcOffsetMinutes: number;
  activity: number;
  idPrefix: string;
  /** Churn is known up to here (a year past `end`): a `churn_at` after `end` may be a customer already drifting in the data. */
  truthHorizon: string;
  counts: { profiles: number; transactions: number; redemptions: number; feedback: number; labels: number };
  gzip: boolean;
}

export interface WriteHistoryOptions {
  /** Write `*.ndjson.gz` instead of plain NDJSON. */
  gzip?: boolean;
}

export interface HistoryReader {
  /** From `meta.json`; undefined for a folder written without it. */
  meta: HistoryMeta | undefined;
  profiles(): AsyncIterable<CustomerProfileV1>;
  /** Events in event-time order, each `{ kind, body }` as the bank produced it. */
  events(): AsyncIterable<SimEvent>;
  labels(): AsyncIterable<HistoryLabel>;
}

const CHUNK = 1 << 18;

class NdjsonWriter {
  private buf = '';
  private readonly out: Writable;
  private readonly done: Promise<void>;

  constructor(path: string, gzip: boolean) {
    const file = createWriteStream(path);
    if (gzip) {
      const gz = createGzip({ level: 6 });
      this.out = gz;
      this.done = pipeline(gz, file);
    } else {
      this.out = file;
      this.done = once(file, 'finish').then(() => undefined);
    }
  }

  async write(value: unknown): Promise<void> {
    this.buf += JSON.stringify(value) + '\n';
    if (this.buf.length >= CHUNK) await this.flush();
  }

  private async flush(): Promise<void> {
    const chunk = this.buf;
    this.buf = '';
    if (!this.out.write(chunk)) await once(this.out, 'drain');
  }

  async close(): Promise<void> {
    if (this.buf) await this.flush();
    this.out.end();
    await this.done;
  }
}

/**
 * Writes `bank` into `dir` (created if missing): profiles, every event in event-time order, one
 * label per customer, and `meta.json` last (its presence marks a complete history). Streams: memory
 * stays at one simulated day. Returns the meta written.
 */
export async function writeHistory(bank: Bank, dir: string, opts: WriteHistoryOptions = {}): Promise<HistoryMeta> {
  const gzip = opts.gzip === true;
  const ext = gzip ? '.ndjson.gz' : '.ndjson';
  await mkdir(dir, { recursive: true });
  const counts = { profiles: 0, transactions: 0, redemptions: 0, feedback: 0, labels: 0 };

  const pw = new NdjsonWriter(join(dir, `profiles${ext}`), gzip);
  for (const p of bank.profiles()) {
    await pw.write(p);
    counts.profiles++;
  }
  await pw.close();

  const ew = new NdjsonWriter(join(dir, `events${ext}`), gzip);
  for (const ev of bank.events()) {
    await ew.write(ev);
    if (ev.kind === 'transaction') counts.transactions++;
    else if (ev.kind === 'redemption') counts.redemptions++;
    else counts.feedback++;
  }
  await ew.close();

  const lw = new NdjsonWriter(join(dir, `labels${ext}`), gzip);
  for (const [customer_id, t] of bank.truth()) {
    const label: HistoryLabel = {
      customer_id, churned: t.churned, churn_at: t.churn_at ?? null, opened_at: t.opened_at, reactivated_at: t.reactivated_at ?? null,
      ...(t.hazard ? { hazard: t.hazard } : {}),
    };
    await lw.write(label);
    counts.labels++;
  }
  await lw.close();

  const o = bank.options;
  const meta: HistoryMeta = {
    format: 'vafa-sim-history/1',
    seed: o.seed,
    customers: o.customers,
    start: o.start.toISOString(),
    end: o.end.toISOString(),
    days: o.days,
    currency: o.currency,
    utcOffsetMinutes: o.utcOffsetMinutes,
    activity: o.activity,
    idPrefix: o.idPrefix,
    truthHorizon: new Date(o.end.getTime() + 365 * 86_400_000).toISOString(),
    counts,
    gzip,
  };
  await writeFile(join(dir, 'meta.json.tmp'), JSON.stringify(meta, null, 2) + '\n');
  await rename(join(dir, 'meta.json.tmp'), join(dir, 'meta.json'));
  return meta;
}

async function* lines<T>(path: string): AsyncGenerator<T> {
  const raw = createReadStream(path);
  const input = path.endsWith('.gz') ? raw.pipe(createGunzip()) : raw;
  const rl = createInterface({ input, crlfDelay: Infinity });
  let n = 0;
  try {
    for await (const line of rl) {
      n++;
      if (!line.trim()) continue;
      try {
        yield JSON.parse(line) as T;
      } catch (err) {
        throw new Error(`${path}:${n}: not JSON (${(err as Error).message})`, { cause: err });
      }
    }
  } finally {
    rl.close();
    raw.destroy();
  }
}

/** A folder given as a history lacks one of its files. */
export class HistoryFileMissingError extends Error {
  override readonly name = 'HistoryFileMissingError';
}

/** Opens a history written by {@link writeHistory}; each method streams its file from the start. */
export async function readHistory(dir: string): Promise<HistoryReader> {
  const file = (name: string): string => {
    for (const ext of ['.ndjson', '.ndjson.gz']) {
      const p = join(dir, name + ext);
      if (existsSync(p)) return p;
    }
    throw new HistoryFileMissingError(`${dir}: no ${name}.ndjson or ${name}.ndjson.gz (a history as \`vafa simulate --out DIR\` writes it)`);
  };
  const metaPath = join(dir, 'meta.json');
  const meta = existsSync(metaPath) ? (JSON.parse(await readFile(metaPath, 'utf8')) as HistoryMeta) : undefined;
  const paths = { profiles: file('profiles'), events: file('events'), labels: file('labels') };
  return {
    meta,
    profiles: () => lines<CustomerProfileV1>(paths.profiles),
    events: () => lines<SimEvent>(paths.events),
    labels: () => lines<HistoryLabel>(paths.labels),
  };
}
