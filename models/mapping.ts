/**
 * Input mapping: how each input column of a model is computed from vafa's feature vector, so any model
 * can be served whatever its inputs are called and however they were derived. The manifest's
 * `features` list is the model's input columns, in order; each entry says where its value comes from:
 *
 * | entry | column value |
 * | --- | --- |
 * | `{ "name": "recency_days" }` | the vafa feature of that name (the original form) |
 * | `{ "name": "f0", "feature": "recency_days" }` | a renamed feature: the model calls it `f0` |
 * | `{ "name": "log_spend", "expr": "log1p(spend_30d_minor)" }` | an expression over features (`models/expr.ts`) |
 * | `{ "name": "bias", "const": 1 }` | a constant |
 *
 * then, in this order:
 * 1. `impute`: a missing value (NaN, or a non-finite expression result such as a division by zero)
 *    becomes `{ "value": v }` or `{ "mean": m }` (the training mean, same effect, says where it came from),
 *    or `"model"`: NaN is fed and the model's own missing-value handling decides (tree ensembles route
 *    it; a linear model gives NaN). Default `"model"`.
 * 2. `encode` (categorical features):
 *    - `{ "onehot": { "vocabulary": [0, 1, 2], "unknown": "zeros" } }` turns the entry into one column per
 *      vocabulary value (named `name=value`), 1 in the matching column and 0 elsewhere. A value not in
 *      the vocabulary (or missing) gives all zeros (`"zeros"`, default, as scikit-learn's
 *      `handle_unknown="ignore"`), 1 in an extra last column `name=unknown` (`"column"`), or NaN in every
 *      column (`"missing"`).
 *    - `{ "ordinal": { "vocabulary": [3, 1, 2], "unknown": -1 } }`: the value's position in the vocabulary
 *      (0-based); an unknown (or missing) value gives `unknown` (a number, default -1) or NaN (`"missing"`).
 * 3. `scale` (applied by the model loader, per column): `(x − mean) / std` or `(x − min) / (max − min)`.
 *
 * The mapping is checked and compiled once per model into one function writing a model row from the
 * catalogue-ordered feature vector ({@link compileMapping}); a model whose inputs cannot be fed is refused
 * with a message naming the input and why.
 */
import { InvariantError, i32 } from '../scorer/core/mod.js';
import type { Manifest } from './manifest.js';
import { compileExpr, ExprError, parseExpr, type Compiled } from './expr.js';

export type ManifestFeature = Manifest['features'][number];

/** Writes one model row from a feature vector: `out[offset + j]` for every column j. */
export type RowFeeder = (values: ArrayLike<number>, out: Float32Array, offset: number) => void;

/** A compiled mapping. */
export interface CompiledMapping {
  /** Number of model input columns. */
  width: number;
  /** Column names, in order (one-hot groups expanded). */
  columns: string[];
  /** The vafa features read, in order of first use. */
  reads: string[];
  /** Writes one row. */
  feed: RowFeeder;
  /** True when every column is a plain (renamed) feature, fed as is. */
  direct: boolean;
}

const label = (i: number, f: ManifestFeature): string => `features[${i}] "${f.name}"`;

/** How many columns an entry stands for. */
export function entryWidth(f: ManifestFeature): number {
  if (f.encode && 'onehot' in f.encode) return f.encode.onehot.vocabulary.length + (f.encode.onehot.unknown === 'column' ? 1 : 0);
  return 1;
}

/** The model's input columns: one per entry, one-hot groups expanded to `name=value` (and `name=unknown`). */
export function columnNames(features: readonly ManifestFeature[]): string[] {
  const out: string[] = [];
  for (const f of features) {
    if (f.encode && 'onehot' in f.encode) {
      for (const v of f.encode.onehot.vocabulary) out.push(`${f.name}=${v}`);
      if (f.encode.onehot.unknown === 'column') out.push(`${f.name}=unknown`);
    } else {
      out.push(f.name);
    }
  }
  return out;
}

/** Per-column scale of the expanded columns (one-hot columns are never scaled). */
export function columnScales(features: readonly ManifestFeature[]): (ManifestFeature['scale'] | undefined)[] {
  const out: (ManifestFeature['scale'] | undefined)[] = [];
  for (const f of features) for (let k = 0; k < entryWidth(f); k++) out.push(f.scale);
  return out;
}

/** Checks of the mapping that need no feature catalogue (syntax, exclusive sources, vocabularies). */
export function mappingProblems(features: readonly ManifestFeature[]): string[] {
  const problems: string[] = [];
  features.forEach((f, i) => {
    const sources = (['feature', 'expr', 'const'] as const).filter((k) => f[k] !== undefined);
    if (sources.length > 1) problems.push(`${label(i, f)}: give one of feature, expr or const, not ${sources.join(' and ')}`);
    if (f.expr !== undefined) {
      try {
        parseExpr(f.expr);
      } catch (err) {
        if (!(err instanceof ExprError)) throw err;
        problems.push(`${label(i, f)}: expr ${JSON.stringify(f.expr)}: ${err.message}`);
      }
    }
    if (f.const !== undefined && !Number.isFinite(f.const)) problems.push(`${label(i, f)}: const must be a finite number`);
    for (const k of Object.keys(f.strings?.map ?? {})) {
      if (k.trim() === '' || !Number.isFinite(Number(k))) problems.push(`${label(i, f)}: strings.map key ${JSON.stringify(k)} is not a number (the keys are the codes the column holds)`);
    }
    const enc = f.encode;
    if (enc) {
      const vocab = 'onehot' in enc ? enc.onehot.vocabulary : enc.ordinal.vocabulary;
      const seen = new Set<number>();
      for (const v of vocab) {
        if (seen.has(v)) problems.push(`${label(i, f)}: encode vocabulary lists ${v} twice`);
        seen.add(v);
      }
      if ('onehot' in enc && f.scale) problems.push(`${label(i, f)}: a one-hot encoded entry cannot also be scaled`);
      if ('onehot' in enc && f.strings) problems.push(`${label(i, f)}: a one-hot encoded entry cannot also have string labels`);
      if (f.const !== undefined) problems.push(`${label(i, f)}: a constant needs no encoding`);
    }
  });
  return problems;
}

/** The value of an entry before encoding, or undefined with a problem. */
function sourceOf(f: ManifestFeature, i: number, indexOf: (name: string) => number | undefined, problems: string[], reads: string[]): Compiled | undefined {
  if (f.const !== undefined) {
    const c = f.const;
    return () => c;
  }
  if (f.expr !== undefined) {
    try {
      const names: string[] = [];
      const g = compileExpr(f.expr, (n) => {
        const k = indexOf(n);
        if (k !== undefined && !names.includes(n)) names.push(n);
        return k;
      });
      for (const n of names) if (!reads.includes(n)) reads.push(n);
      return g;
    } catch (err) {
      if (!(err instanceof ExprError)) throw err;
      problems.push(`${label(i, f)}: expr ${JSON.stringify(f.expr)}: ${err.message}${/unknown feature/.test(err.message) ? ' (not in the feature catalogue; see docs/features.md)' : ''}`);
      return undefined;
    }
  }
  const name = f.feature ?? f.name;
  const k = indexOf(name);
  if (k === undefined) {
    problems.push(f.feature === undefined
      ? `${label(i, f)}: the feature catalogue has no "${name}"; map the input to a vafa feature with "feature", "expr" or "const"`
      : `${label(i, f)}: feature "${name}" is not in the feature catalogue (see docs/features.md)`);
    return undefined;
  }
  if (!reads.includes(name)) reads.push(name);
  return (v) => v[k] ?? NaN;
}

/**
 * Checks every entry against a feature index and compiles the mapping into one row writer.
 * @param indexOf the position of a feature name in the vectors that will be fed, undefined if unknown.
 * @returns the mapping, or every problem found, each naming the input (`features[3] "log_spend": …`).
 */
export function compileMapping(features: readonly ManifestFeature[], indexOf: (name: string) => number | undefined): { mapping?: CompiledMapping; problems: string[] } {
  const problems = mappingProblems(features);
  const reads: string[] = [];
  const columns = columnNames(features);
  const writers: ((v: ArrayLike<number>, out: Float32Array, at: number) => void)[] = [];
  let direct = true;
  const directIdx: number[] = [];
  const directCol: number[] = [];
  let col = 0;
  features.forEach((f, i) => {
    const src = sourceOf(f, i, indexOf, problems, reads);
    const j = col;
    col += entryWidth(f);
    if (!src) return;
    const plain = f.const === undefined && f.expr === undefined && !f.encode && (f.impute === undefined || f.impute === 'model');
    if (plain) {
      const k = indexOf(f.feature ?? f.name);
      if (k === undefined) throw new InvariantError(`mapping: features[${i}] has a source but its feature "${f.feature ?? f.name}" has no index`);
      directIdx.push(k);
      directCol.push(j);
      return;
    }
    direct = false;
    const imp = f.impute;
    const fill = imp === undefined || imp === 'model' ? undefined : 'value' in imp ? imp.value : imp.mean;
    const value: Compiled = fill === undefined
      ? src
      : (v) => {
        const x = src(v);
        return Number.isFinite(x) ? x : fill;
      };
    const enc = f.encode;
    if (!enc) {
      writers.push((v, out, at) => {
        out[at + j] = value(v);
      });
    } else if ('onehot' in enc) {
      const vocab = enc.onehot.vocabulary;
      const pos = new Map(vocab.map((x, k) => [x, k]));
      const unknown = enc.onehot.unknown ?? 'zeros';
      const w = entryWidth(f);
      writers.push((v, out, at) => {
        const k = pos.get(value(v));
        const base = at + j;
        if (k === undefined && unknown === 'missing') {
          for (let q = 0; q < w; q++) out[base + q] = NaN;
          return;
        }
        for (let q = 0; q < w; q++) out[base + q] = 0;
        if (k !== undefined) out[base + k] = 1;
        else if (unknown === 'column') out[base + w - 1] = 1;
      });
    } else {
      const pos = new Map(enc.ordinal.vocabulary.map((x, k) => [x, k]));
      const unknown = enc.ordinal.unknown === 'missing' ? NaN : (enc.ordinal.unknown ?? -1);
      writers.push((v, out, at) => {
        out[at + j] = pos.get(value(v)) ?? unknown;
      });
    }
  });
  if (problems.length > 0) {
    const at = (m: string): number => Number(/^features\[(\d+)\]/.exec(m)?.[1] ?? -1);
    return { problems: [...new Set(problems)].sort((a, b) => at(a) - at(b)) };
  }
  let feed: RowFeeder;
  const idx = Int32Array.from(directIdx);
  if (direct) {
    feed = (v, out, at) => {
      for (let j = 0; j < idx.length; j++) out[at + j] = v[i32(idx, j)] ?? NaN;
    };
  } else {
    // Plain columns by an indexed copy, the others through their closures.
    const cols = Int32Array.from(directCol);
    feed = (v, out, at) => {
      for (let q = 0; q < idx.length; q++) out[at + i32(cols, q)] = v[i32(idx, q)] ?? NaN;
      for (const write of writers) write(v, out, at);
    };
  }
  return { mapping: { width: col, columns, reads, feed, direct }, problems };
}
