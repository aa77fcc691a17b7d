/**
 * Backfill input: a bank's history as files, streamed (never loaded whole) and put in stream order.
 *
 * What is read, by file name (optionally gzipped: `.gz`), NDJSON (`.ndjson`, `.jsonl`, `.json`) or CSV
 * (`.csv`, a header line naming the contract's fields):
 * - `profiles*`: customer profiles v1 (CSV: `products` and `cards` as `|`-separated lists);
 * - `transactions*`, `redemptions*`, `feedback*`: one event of that kind a line;
 * - `club*`, `migration*`, `balances*`: opening balances from the bank's previous loyalty club, one lot a
 *   line: `customer_id`, `points` (integer ≥ 0; 0 for a tier only), `migrated_at` (RFC 3339: when the
 *   balance stood), optional `expires_at` (RFC 3339; absent: the tier's expiry from `migrated_at`), `tier`,
 *   `migration_id` (absent: file name and line). A customer's opening balance is the sum of their lines;
 *   each becomes a `points_ledger` entry of kind `migration` whose `source_id` is the file and line;
 * - `events*` (NDJSON only): `{ "kind": "transaction" | "redemption" | "feedback", "body": {...} }` a line,
 *   the simulator's layout (`vafa simulate --out DIR` writes `profiles.ndjson` and `events.ndjson`).
 * A directory stands for the files above in it (sorted by name; `labels*` and `meta.json` are skipped).
 *
 * Stream order (what streaming the same history through `TX` would see): every profile first, in file
 * order; then the events of all files merged by `occurred_at` (ties: the file given first, then line
 * order). A file is expected in time order; a line out of order is applied where it stands, as a late
 * event, as the live stream would apply it.
 */
import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import type { StreamKind } from '../../../contracts/events.js';
import { UsageError } from '../../../config/mod.js';

/** A file of history and what it holds. */
export interface SourceFile {
  path: string;
  /** `events`: mixed kinds (`{kind, body}` lines). */
  kind: RecordKind | 'events';
  format: 'ndjson' | 'csv';
  bytes: number;
}

/** What a record is: an event kind of `TX`, or an opening balance of the previous club. */
export type RecordKind = StreamKind | 'migration';

/** One line of input, parsed but not yet validated. */
export interface SourceRecord {
  kind: RecordKind;
  body: Record<string, unknown>;
  file: string;
  line: number;
  /** Event time, epoch ms (NaN when missing or unreadable: validation names it). */
  at: number;
}

/** A line that could not be read as a record (validation errors come later, with the same shape). */
export interface BadLine {
  file: string;
  line: number;
  reason: string;
}

const KIND_BY_PREFIX: readonly [string, SourceFile['kind']][] = [
  ['profiles', 'profile'], ['profile', 'profile'], ['customers', 'profile'],
  ['transactions', 'transaction'], ['transaction', 'transaction'], ['tx', 'transaction'],
  ['redemptions', 'redemption'], ['redemption', 'redemption'],
  ['feedback', 'feedback'],
  ['events', 'events'],
  ['club', 'migration'], ['migration', 'migration'], ['migrations', 'migration'], ['balances', 'migration'],
];

/** What a file name says it holds, or undefined for a file backfill does not read. */
export function classify(path: string): Pick<SourceFile, 'kind' | 'format'> | undefined {
  const name = basename(path).toLowerCase().replace(/\.gz$/, '');
  const format = /\.csv$/.test(name) ? 'csv' : /\.(ndjson|jsonl|json)$/.test(name) ? 'ndjson' : undefined;
  if (!format || name === 'meta.json') return undefined;
  const stem = name.replace(/\.(csv|ndjson|jsonl|json)$/, '');
  for (const [prefix, kind] of KIND_BY_PREFIX) {
    if (stem === prefix || stem.startsWith(`${prefix}-`) || stem.startsWith(`${prefix}_`) || stem.startsWith(`${prefix}.`)) return { kind, format };
  }
  return undefined;
}

/** The files given (files or directories), classified; throws a UsageError naming a path that is missing or unreadable. */
export function listSources(paths: readonly string[]): SourceFile[] {
  const out: SourceFile[] = [];
  for (const p of paths) {
    if (!existsSync(p)) throw new UsageError(`${p}: no such file or directory`);
    if (statSync(p).isDirectory()) {
      for (const name of readdirSync(p).sort()) {
        const full = join(p, name);
        const c = classify(full);
        if (c && statSync(full).isFile()) out.push({ path: full, ...c, bytes: statSync(full).size });
      }
      continue;
    }
    const c = classify(p);
    if (!c) throw new UsageError(`${p}: the name does not say what it holds (profiles*, transactions*, redemptions*, feedback*, club* or events*, .ndjson/.jsonl/.csv, optionally .gz)`);
    if (c.kind === 'events' && c.format === 'csv') throw new UsageError(`${p}: an events file mixes kinds and must be NDJSON ({"kind", "body"} a line)`);
    out.push({ path: p, ...c, bytes: statSync(p).size });
  }
  if (out.length === 0) throw new UsageError(`no history files in ${paths.join(', ')}`);
  return out;
}

/** Bytes of input read so far (compressed bytes for a gzipped file), for progress and ETA. */
export class ReadMeter {
  bytes = 0;
}

async function* rawLines(file: SourceFile, meter: ReadMeter): AsyncGenerator<string> {
  const raw = createReadStream(file.path, { highWaterMark: 1 << 20 });
  raw.on('data', (chunk) => (meter.bytes += chunk.length));
  const input = file.path.endsWith('.gz') ? raw.pipe(createGunzip()) : raw;
  const rl = createInterface({ input, crlfDelay: Infinity });
  try {
    yield* rl;
  } finally {
    rl.close();
    raw.destroy();
  }
}

/** Splits one CSV line (RFC 4180 quoting; a quoted field may not span lines). */
export function splitCsv(line: string): string[] | undefined {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let v = '';
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) return undefined;
        v += line.slice(i, q);
        if (line[q + 1] === '"') {
          v += '"';
          i = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      out.push(v);
      if (i >= line.length) return out;
      if (line[i] !== ',') return undefined;
      i++;
    } else {
      const c = line.indexOf(',', i);
      if (c < 0) {
        out.push(line.slice(i));
        return out;
      }
      out.push(line.slice(i, c));
      i = c + 1;
    }
  }
}

const INTEGER_FIELDS = new Set(['amount_minor', 'points', 'score']);
const LIST_FIELDS = new Set(['products', 'cards']);

/** A CSV cell as the contract's JSON would carry it: empty → absent, integers, `|`-separated lists. */
function csvValue(field: string, raw: string): unknown {
  if (INTEGER_FIELDS.has(field)) return /^-?\d+$/.test(raw.trim()) ? Number(raw.trim()) : raw;
  if (LIST_FIELDS.has(field)) return raw.split('|').map((s) => s.trim()).filter(Boolean);
  return raw;
}

function timeOf(kind: RecordKind, body: Record<string, unknown>): number {
  const v = kind === 'profile' ? body.opened_at : kind === 'migration' ? body.migrated_at : body.occurred_at;
  return typeof v === 'string' ? Date.parse(v) : Number.NaN;
}

const KINDS = new Set<string>(['transaction', 'redemption', 'feedback', 'profile']);

/** Records of one file, in file order; unreadable lines go to `bad` and are skipped. */
export async function* readSource(file: SourceFile, meter: ReadMeter, bad: (b: BadLine) => void): AsyncGenerator<SourceRecord> {
  let header: string[] | undefined;
  let n = 0;
  for await (const text of rawLines(file, meter)) {
    n++;
    if (!text.trim()) continue;
    if (file.format === 'csv') {
      const cells = splitCsv(text);
      if (!header) {
        if (!cells) throw new Error(`${file.path}:${n}: the header line is not CSV`);
        header = cells.map((h) => h.trim());
        continue;
      }
      if (!cells) {
        bad({ file: file.path, line: n, reason: 'not CSV (an unclosed quote?)' });
        continue;
      }
      if (cells.length !== header.length) {
        bad({ file: file.path, line: n, reason: `${cells.length} fields where the header names ${header.length}` });
        continue;
      }
      const body: Record<string, unknown> = {};
      header.forEach((h, i) => {
        const cell = cells[i];
        if (cell !== undefined && cell !== '') body[h] = csvValue(h, cell);
      });
      const kind = file.kind as RecordKind;
      yield { kind, body, file: file.path, line: n, at: timeOf(kind, body) };
      continue;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      bad({ file: file.path, line: n, reason: `not JSON (${(err as Error).message})` });
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      bad({ file: file.path, line: n, reason: 'expected a JSON object' });
      continue;
    }
    let kind: RecordKind;
    let body: Record<string, unknown>;
    if (file.kind === 'events') {
      const v = value as { kind?: unknown; body?: unknown };
      if (typeof v.kind !== 'string' || !KINDS.has(v.kind) || typeof v.body !== 'object' || v.body === null || Array.isArray(v.body)) {
        bad({ file: file.path, line: n, reason: 'expected {"kind": "transaction"|"redemption"|"feedback"|"profile", "body": {...}}' });
        continue;
      }
      kind = v.kind as StreamKind;
      body = v.body as Record<string, unknown>;
    } else {
      kind = file.kind;
      body = value as Record<string, unknown>;
    }
    yield { kind, body, file: file.path, line: n, at: timeOf(kind, body) };
  }
}

/**
 * Every record in stream order (see the module comment): profiles first, then the event files merged by
 * time with one record of lookahead per file (bounded memory whatever the history's size). Profiles in an
 * events file are applied in its time order.
 */
export async function* streamOrder(files: readonly SourceFile[], meter: ReadMeter, bad: (b: BadLine) => void): AsyncGenerator<SourceRecord> {
  for (const f of files) if (f.kind === 'profile') yield* readSource(f, meter, bad);
  const heads: { it: AsyncGenerator<SourceRecord>; rec: SourceRecord; order: number }[] = [];
  let order = 0;
  for (const f of files) {
    if (f.kind === 'profile') continue;
    const it = readSource(f, meter, bad);
    const first = await it.next();
    if (!first.done) heads.push({ it, rec: first.value, order: order++ });
  }
  // A record without a readable time goes first (validation refuses it): it must not stall its file.
  const key = (r: SourceRecord): number => (Number.isNaN(r.at) ? -Infinity : r.at);
  for (;;) {
    let best = -1;
    let h: (typeof heads)[number] | undefined;
    for (const [i, head] of heads.entries()) {
      const a = key(head.rec);
      const b = h ? key(h.rec) : Infinity;
      if (!h || a < b || (a === b && head.order < h.order)) {
        best = i;
        h = head;
      }
    }
    if (!h) break;
    yield h.rec;
    const next = await h.it.next();
    if (next.done) heads.splice(best, 1);
    else h.rec = next.value;
  }
}
