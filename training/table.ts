/**
 * Tabular training data: a CSV (RFC 4180: header row, quoted fields with `""` escapes) or NDJSON file of
 * one row per customer → a labelled {@link ChurnDataset}.
 *
 * - The label column gives 1 for churn: its value equals `positive` (when given), else it must be one of
 *   `1`/`0`, `true`/`false`, `yes`/`no`.
 * - An id column (optional) is kept apart and never used as a feature.
 * - A time column (optional; RFC 3339 dates or epoch numbers) orders rows for a time split; without one
 *   every row gets the same time.
 * - Feature columns: every other column unless listed. A column is numeric when every non-empty value is
 *   a number (empty, `NA`, `NaN`, `null` are missing: NaN); otherwise — or when declared categorical —
 *   it is categorical and one-hot encoded into `column=value` columns (values by frequency, at most
 *   `maxCategories`; rarer values and values unseen later fall in no column, i.e. all zeros). A
 *   categorical column with more distinct values than `maxCategories` and no repeats (an identifier) is
 *   dropped with a note.
 */
import { readFile } from 'node:fs/promises';
import { item, f32, f64 } from '../scorer/core/mod.js';
import type { ChurnDataset } from './data.js';

/** Raw rows: column names and, per column, the values as strings (`null` for missing). */
export interface Table {
  columns: string[];
  values: (string | null)[][];
  rows: number;
}

/** One column of the encoded dataset. */
export type EncodedColumn =
  | { kind: 'numeric'; source: string; name: string }
  | { kind: 'onehot'; source: string; name: string; category: string };

export interface TabularDataset {
  dataset: ChurnDataset;
  /** How each dataset column was made. */
  encoding: EncodedColumn[];
  /** Id of each row (the id column, else the row number). */
  ids: string[];
  /** Categorical source columns and their kept categories, in column order. */
  categorical: { column: string; categories: string[] }[];
  /** What was left out, and why. */
  notes: string[];
  /** Positive label count. */
  positives: number;
}

export interface TabularOptions {
  label: string;
  /** The label value meaning "churned". */
  positive?: string;
  id?: string;
  time?: string;
  /** Feature columns to use (default: all but label, id, time and `exclude`). */
  features?: string[];
  exclude?: string[];
  /** Columns to one-hot encode even when their values are numbers. */
  categorical?: string[];
  /** Most categories kept per categorical column. Default 50. */
  maxCategories?: number;
}

/** A problem with the table or the options, in one line. */
export class TableError extends Error {}

const MISSING = new Set(['', 'na', 'nan', 'null', 'none', 'n/a']);

/** Parses CSV text (RFC 4180). */
export function parseCsv(text: string, source = 'csv'): Table {
  const records: string[][] = [];
  let field = '';
  let record: string[] = [];
  let i = 0;
  const n = text.length;
  let quoted = false;
  let any = false;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (quoted) {
      if (c === 34) {
        if (text.charCodeAt(i + 1) === 34) {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        continue;
      }
      const next = text.indexOf('"', i);
      const end = next < 0 ? n : next;
      field += text.slice(i, end);
      i = end;
      continue;
    }
    if (c === 34 && field === '') {
      quoted = true;
      any = true;
      i++;
    } else if (c === 44) {
      record.push(field);
      field = '';
      any = true;
      i++;
    } else if (c === 10 || c === 13) {
      if (any || field !== '') {
        record.push(field);
        records.push(record);
      }
      record = [];
      field = '';
      any = false;
      i += c === 13 && text.charCodeAt(i + 1) === 10 ? 2 : 1;
    } else {
      // Plain run up to the next delimiter.
      let j = i;
      while (j < n) {
        const d = text.charCodeAt(j);
        if (d === 44 || d === 10 || d === 13 || d === 34) break;
        j++;
      }
      if (j === i) {
        field += text[i];
        j = i + 1;
      } else {
        field += text.slice(i, j);
      }
      any = true;
      i = j;
    }
  }
  if (quoted) throw new TableError(`${source}: a quoted field is not closed`);
  if (any || field !== '') {
    record.push(field);
    records.push(record);
  }
  return tableOfRecords(records, source);
}

/** The header record's names and, per column, the other records' values (missing ones `null`). */
function tableOfRecords(records: string[][], source: string): Table {
  const [header, ...rows] = records;
  if (header === undefined) throw new TableError(`${source}: empty file`);
  const columns = header.map((s) => s.trim());
  const values = columns.map(() => new Array<string | null>(rows.length));
  for (const [r, rec] of rows.entries()) {
    if (rec.length !== columns.length) {
      throw new TableError(`${source}: line ${r + 2} has ${rec.length} fields, the header ${columns.length}`);
    }
    for (const [c, v] of rec.entries()) item(values, c)[r] = MISSING.has(v.trim().toLowerCase()) ? null : v;
  }
  return { columns, values, rows: rows.length };
}

/** Parses NDJSON text: one JSON object a line; columns are the union of keys in first-seen order. */
export function parseNdjson(text: string, source = 'ndjson'): Table {
  const objs: Record<string, unknown>[] = [];
  const lines = text.split('\n');
  lines.forEach((line, k) => {
    if (line.trim() === '') return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (err) {
      throw new TableError(`${source}: line ${k + 1} is not JSON: ${(err as Error).message}`);
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TableError(`${source}: line ${k + 1} is not a JSON object`);
    objs.push(v as Record<string, unknown>);
  });
  const columns: string[] = [];
  const seen = new Set<string>();
  for (const o of objs) {
    for (const key of Object.keys(o)) {
      if (seen.has(key)) continue;
      seen.add(key);
      columns.push(key);
    }
  }
  const values = columns.map((c) => objs.map((o) => {
    const v = o[c];
    if (v === null || v === undefined) return null;
    const s = typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v);
    return MISSING.has(s.trim().toLowerCase()) ? null : s;
  }));
  return { columns, values, rows: objs.length };
}

/** Reads a `.csv` or `.ndjson` / `.jsonl` file (by extension, or `format`). */
export async function readTable(file: string, format?: 'csv' | 'ndjson'): Promise<Table> {
  const text = await readFile(file, 'utf8');
  const f = format ?? (/\.(nd)?jsonl?$|\.ndjson$/i.test(file) ? 'ndjson' : 'csv');
  return f === 'ndjson' ? parseNdjson(text, file) : parseCsv(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text, file);
}

function labelOf(v: string | null, positive: string | undefined, row: number, column: string): number {
  if (v === null) throw new TableError(`label column "${column}": row ${row + 1} has no value`);
  const s = v.trim();
  if (positive !== undefined) return s === positive ? 1 : 0;
  const l = s.toLowerCase();
  if (l === '1' || l === 'true' || l === 'yes') return 1;
  if (l === '0' || l === 'false' || l === 'no') return 0;
  throw new TableError(`label column "${column}": row ${row + 1} is ${JSON.stringify(v)}; give --positive VALUE (the value meaning churn)`);
}

/** Encodes a table into a labelled dataset. */
export function tabularDataset(t: Table, opts: TabularOptions): TabularDataset {
  const col = (name: string, what: string): number => {
    const k = t.columns.indexOf(name);
    if (k < 0) throw new TableError(`${what} column "${name}" is not in the table; its columns are: ${t.columns.join(', ')}`);
    return k;
  };
  const valuesOf = (k: number): (string | null)[] => item(t.values, k);
  const li = col(opts.label, 'label');
  const ii = opts.id !== undefined ? col(opts.id, 'id') : -1;
  const ti = opts.time !== undefined ? col(opts.time, 'time') : -1;
  const n = t.rows;
  if (n < 2) throw new TableError(`the table has ${n} rows`);
  const { y, positives } = labelsOf(valuesOf(li), n, opts);
  const time = new Float64Array(n);
  if (ti >= 0) readTimes(valuesOf(ti), time, opts.time);
  const ids = ii >= 0 ? valuesOf(ii).map((v, r) => v ?? `row${r + 1}`) : Array.from({ length: n }, (_, r) => `row${r + 1}`);

  const skip = new Set([opts.label, opts.id, opts.time, ...(opts.exclude ?? [])].filter((x): x is string => x !== undefined));
  for (const e of opts.exclude ?? []) col(e, 'excluded');
  const featureCols = opts.features ? opts.features.map((f) => (col(f, 'feature'), f)) : t.columns.filter((c) => !skip.has(c));
  for (const c of opts.categorical ?? []) col(c, 'categorical');
  const declared = new Set(opts.categorical ?? []);
  const maxCat = opts.maxCategories ?? 50;
  const notes: string[] = [];
  const encoding: EncodedColumn[] = [];
  const categorical: { column: string; categories: string[] }[] = [];
  const sources: EncodedSource[] = [];
  for (const c of featureCols) {
    const k = t.columns.indexOf(c);
    const vals = valuesOf(k);
    if (!declared.has(c) && isNumericColumn(vals, n)) {
      encoding.push({ kind: 'numeric', source: c, name: c });
      sources.push({ vals, numeric: true });
      continue;
    }
    const kept = keptCategories(vals, n, c, maxCat, notes);
    if (!kept) continue;
    categorical.push({ column: c, categories: kept });
    for (const v of kept) encoding.push({ kind: 'onehot', source: c, name: `${c}=${v}`, category: v });
    sources.push({ vals, numeric: false, cats: new Map(kept.map((v, q) => [v, q])) });
  }
  if (encoding.length === 0) throw new TableError('no feature columns left');
  const x = featureMatrix(sources, n, encoding.length);
  return { dataset: { features: encoding.map((e) => e.name), x, y, time }, encoding, ids, categorical, notes, positives };
}

/** A source column of the encoded dataset: numeric (one column), or categorical (one column a kept category). */
type EncodedSource = { vals: (string | null)[]; numeric: true } | { vals: (string | null)[]; numeric: false; cats: Map<string, number> };

/** The labels (1 = churn) and how many are positive; both classes must be there. */
function labelsOf(labels: (string | null)[], n: number, opts: TabularOptions): { y: Uint8Array; positives: number } {
  const y = new Uint8Array(n);
  for (let r = 0; r < n; r++) y[r] = labelOf(labels[r] ?? null, opts.positive, r, opts.label);
  const positives = y.reduce((sum, label) => sum + label, 0);
  if (positives === 0 || positives === n) {
    throw new TableError(`label column "${opts.label}" has ${positives} positives of ${n} rows${opts.positive !== undefined ? ` (--positive ${opts.positive})` : ''}: both classes are needed`);
  }
  return { y, positives };
}

/** Fills `time` with the time column's values: epoch numbers, or dates Date.parse reads. */
function readTimes(tv: (string | null)[], time: Float64Array, column: string | undefined): void {
  for (let r = 0; r < time.length; r++) {
    const s = tv[r] ?? null;
    const x = s === null ? NaN : /^-?\d+(\.\d+)?$/.test(s.trim()) ? Number(s) : Date.parse(s);
    if (!Number.isFinite(x)) throw new TableError(`time column "${column}": row ${r + 1} is ${JSON.stringify(s)}, not a date or a number`);
    time[r] = x;
  }
}

function isNumericColumn(vals: (string | null)[], n: number): boolean {
  for (let r = 0; r < n; r++) {
    const v = vals[r];
    if (v !== null && !Number.isFinite(Number(v))) return false;
  }
  return true;
}

/**
 * A categorical column's kept categories, sorted: the `maxCat` most frequent. Undefined when the column
 * is dropped (more distinct values than `maxCat`, none repeated: an identifier); what was left out goes to `notes`.
 */
function keptCategories(vals: (string | null)[], n: number, c: string, maxCat: number, notes: string[]): string[] | undefined {
  const freq = new Map<string, number>();
  for (let r = 0; r < n; r++) {
    const v = vals[r];
    if (v !== null && v !== undefined) freq.set(v, (freq.get(v) ?? 0) + 1);
  }
  if (freq.size > maxCat && [...freq.values()].every((x) => x === 1)) {
    notes.push(`column "${c}" dropped: ${freq.size} distinct text values, none repeated (an identifier?)`);
    return undefined;
  }
  const kept = [...freq.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, maxCat).map(([v]) => v);
  if (freq.size > maxCat) notes.push(`column "${c}": ${freq.size} categories, the ${maxCat} most frequent kept (the rest encode as all zeros)`);
  return kept.sort();
}

/** The row-major feature matrix: numbers as they are (missing: NaN), categories one-hot. */
function featureMatrix(sources: EncodedSource[], n: number, nf: number): Float32Array {
  const x = new Float32Array(n * nf);
  let j = 0;
  for (const s of sources) {
    const { vals } = s;
    if (s.numeric) {
      for (let r = 0; r < n; r++) {
        const v = vals[r];
        x[r * nf + j] = v === null ? NaN : Number(v);
      }
      j++;
    } else {
      const { cats } = s;
      for (let r = 0; r < n; r++) {
        const v = vals[r];
        const q = v === null || v === undefined ? undefined : cats.get(v);
        if (q !== undefined) x[r * nf + j + q] = 1;
      }
      j += cats.size;
    }
  }
  return x;
}

/**
 * Replaces NaN by the column mean of the rows in `fitRows` (all rows by default), in place.
 * @returns the mean used per column (NaN-free columns included).
 */
export function imputeMeans(data: ChurnDataset, fitRows?: ArrayLike<number>): Float64Array {
  const nf = data.features.length;
  const n = data.y.length;
  const sum = new Float64Array(nf);
  const cnt = new Float64Array(nf);
  const rows = fitRows ? Array.from(fitRows) : Array.from({ length: n }, (_, i) => i);
  for (const i of rows) {
    for (let f = 0; f < nf; f++) {
      const v = f32(data.x, i * nf + f);
      if (!Number.isNaN(v)) {
        sum[f] = f64(sum, f) + v;
        cnt[f] = f64(cnt, f) + 1;
      }
    }
  }
  const mean = sum.map((s, f) => (f64(cnt, f) > 0 ? s / f64(cnt, f) : 0));
  for (let i = 0; i < n; i++) {
    for (let f = 0; f < nf; f++) if (Number.isNaN(f32(data.x, i * nf + f))) data.x[i * nf + f] = f64(mean, f);
  }
  return mean;
}
