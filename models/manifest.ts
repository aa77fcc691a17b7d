/**
 * The model manifest, format `vafa.model/v1`: a JSON file next to an `.onnx` file that says how to
 * feed the model and where to read P(churn). The scorer loads models only through a manifest
 * (`scorer/runtime/model/onnx.ts`), and refuses one that does not match its model.
 *
 * ```json
 * {
 *   "format": "vafa.model/v1",
 *   "version": "churn-gbt-2024-06-30",
 *   "onnx": "churn-gbt.onnx",
 *   "sha256": "…64 hex digits, optional…",
 *   "input": { "name": "input", "shape": ["N", 3] },
 *   "features": [
 *     { "name": "recency_days" },
 *     { "name": "amount_30d", "scale": { "mean": 1.2e6, "std": 4.0e5 } },
 *     { "name": "online_share", "scale": { "min": 0, "max": 1 } }
 *   ],
 *   "output": { "name": "probabilities", "kind": "probability_tensor", "positive_class": 1, "column": 1 },
 *   "threshold": 0.42,
 *   "trained_at": "2024-07-01T00:00:00Z",
 *   "metrics": { "roc_auc": 0.81 }
 * }
 * ```
 *
 * - `onnx`: path of the model file, relative to the manifest's folder.
 * - `sha256`: if present, the model file must have this digest.
 * - `input`: the model's single float input. `shape` is `[batch, width]`; `batch` is a symbolic
 *   name (or -1) because the scorer feeds micro-batches of any size; `width` must equal the number
 *   of features.
 * - `features`: the ordered feature names from the feature catalogue; column j of a row is
 *   `features[j]`. `scale` is the transformation the model expects the server to apply before
 *   feeding it: `{ mean, std }` gives `(x − mean) / std`, `{ min, max }` gives
 *   `(x − min) / (max − min)`. Without `scale` the raw value is fed.
 * - `output.kind`: `probability_tensor` for a float tensor [N, C] (or [N] / [N, 1] holding P(churn)
 *   itself); `zipmap` for a ZipMap `seq(map(int64|string, float))` output as skl2onnx,
 *   onnxmltools and the tree converters emit (the loader removes the ZipMap node and reads the
 *   float tensor that feeds it).
 * - `output.positive_class`: the class label of "churned" (an int64 label as a number, or a string
 *   label). The loader finds its column from the class labels the model declares (ZipMap, or a
 *   classifier node feeding the tensor). `output.column` states the column outright; it is
 *   required for a multi-column tensor whose producer declares no labels.
 * - `threshold`: decision threshold on P(churn), in [0, 1].
 * - `explain`: where the reasons come from (a `vafa.explain/v1` sidecar, or occlusion reference values);
 *   `reasons`: how many the scorer stores with each score and for which scores (docs/models.md, "Reasons").
 * - `trained_at` (RFC 3339) and `metrics` (free-form) are informational.
 *
 * {@link ManifestSchema} is the schema; `models/manifest.schema.json` is the same schema as plain
 * JSON Schema (draft-07) for editors and other tools, kept equal by a test.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { calibrationProblems } from './calibration.js';
import { columnNames, mappingProblems } from './mapping.js';

/** The format tag of this manifest version. */
export const MANIFEST_FORMAT = 'vafa.model/v1';

const MeanStd = Type.Object({ mean: Type.Number(), std: Type.Number({ exclusiveMinimum: 0 }) }, { additionalProperties: false });
const MinMax = Type.Object({ min: Type.Number(), max: Type.Number() }, { additionalProperties: false });

const Vocabulary = Type.Array(Type.Number(), { minItems: 1, maxItems: 1000, description: 'a non-empty array of numbers' });

/** Categorical encoding of a column's value (see `models/mapping.ts`). */
const EncodeSchema = Type.Union([
  Type.Object({
    onehot: Type.Object({
      vocabulary: Vocabulary,
      unknown: Type.Optional(Type.Union([Type.Literal('zeros'), Type.Literal('column'), Type.Literal('missing')], { description: '"zeros", "column" or "missing"' })),
    }, { additionalProperties: false }),
  }, { additionalProperties: false }),
  Type.Object({
    ordinal: Type.Object({
      vocabulary: Vocabulary,
      unknown: Type.Optional(Type.Union([Type.Number(), Type.Literal('missing')], { description: 'a number or "missing"' })),
    }, { additionalProperties: false }),
  }, { additionalProperties: false }),
], { description: '{ "onehot": { "vocabulary": [...], "unknown"?: "zeros" | "column" | "missing" } } or { "ordinal": { "vocabulary": [...], "unknown"?: number | "missing" } }' });

/** What a missing value (NaN, or an expression's ±Infinity) becomes. */
const ImputeSchema = Type.Union([
  Type.Object({ value: Type.Number() }, { additionalProperties: false }),
  Type.Object({ mean: Type.Number() }, { additionalProperties: false }),
  Type.Literal('model'),
], { description: '{ "value": number }, { "mean": number } or "model"' });

/** One input column of the model (or, with a one-hot encoding, a group of columns). */
export const ManifestFeatureSchema = Type.Object({
  name: Type.String({ minLength: 1 }),
  feature: Type.Optional(Type.String({ minLength: 1 })),
  expr: Type.Optional(Type.String({ minLength: 1 })),
  const: Type.Optional(Type.Number()),
  encode: Type.Optional(EncodeSchema),
  impute: Type.Optional(ImputeSchema),
  scale: Type.Optional(Type.Union([MeanStd, MinMax], { description: '{ "mean": number, "std": number > 0 } or { "min": number, "max": number }' })),
  strings: Type.Optional(Type.Object({
    map: Type.Record(Type.String(), Type.String(), { description: 'numeric code → label' }),
    unknown: Type.Optional(Type.String()),
  }, { additionalProperties: false, description: '{ "map": { "0": "male", … }, "unknown"?: string }: labels of the codes, for a string input' })),
}, { additionalProperties: false });

/** Probability calibration applied to the model's P(churn) (see `models/calibration.ts`). */
export const CalibrationSchema = Type.Union([
  Type.Object({ method: Type.Literal('platt'), a: Type.Number(), b: Type.Number() }, { additionalProperties: false }),
  Type.Object({
    method: Type.Literal('isotonic'),
    x: Type.Array(Type.Number({ minimum: 0, maximum: 1 }), { minItems: 1, maxItems: 10000 }),
    y: Type.Array(Type.Number({ minimum: 0, maximum: 1 }), { minItems: 1, maxItems: 10000 }),
  }, { additionalProperties: false }),
], { description: '{ "method": "platt", "a": number, "b": number } or { "method": "isotonic", "x": [...], "y": [...] }' });

/** JSON schema (TypeBox) of a `vafa.model/v1` manifest. */
export const ManifestSchema = Type.Object({
  format: Type.Literal(MANIFEST_FORMAT),
  version: Type.String({ minLength: 1, maxLength: 128 }),
  onnx: Type.String({ minLength: 1 }),
  sha256: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$' })),
  input: Type.Object({
    name: Type.String({ minLength: 1 }),
    shape: Type.Tuple([
      Type.Union([Type.String({ minLength: 1 }), Type.Literal(-1)], { description: 'a symbolic batch dimension such as "N", or -1' }),
      Type.Integer({ minimum: 1 }),
    ], { description: '[batch, width], e.g. ["N", 7]' }),
    per_column: Type.Optional(Type.Boolean({ description: 'true: one ONNX input per features entry, named by it (then name is informational)' })),
  }, { additionalProperties: false }),
  features: Type.Array(ManifestFeatureSchema, { minItems: 1 }),
  output: Type.Object({
    name: Type.String({ minLength: 1 }),
    kind: Type.Union([Type.Literal('probability_tensor'), Type.Literal('zipmap')], { description: '"probability_tensor" or "zipmap"' }),
    positive_class: Type.Union([Type.Integer(), Type.String({ minLength: 1 })], { description: 'an integer or a string class label' }),
    column: Type.Optional(Type.Integer({ minimum: 0 })),
  }, { additionalProperties: false }),
  threshold: Type.Number({ minimum: 0, maximum: 1 }),
  calibration: Type.Optional(CalibrationSchema),
  explain: Type.Optional(Type.Union([
    Type.String({ minLength: 1 }),
    Type.Object({ reference: Type.Record(Type.String(), Type.Number(), { minProperties: 1 }) }, { additionalProperties: false }),
  ], { description: 'the path of the reasons sidecar (relative to the manifest), or { "reference": { feature: value, … } } for occlusion reasons' })),
  reasons: Type.Optional(Type.Object({
    top: Type.Optional(Type.Integer({ minimum: 0, maximum: 10, description: 'an integer from 0 (off) to 10' })),
    min_probability: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: 'a probability in [0, 1]' })),
    method: Type.Optional(Type.Union([Type.Literal('path'), Type.Literal('treeshap')], { description: '"path" or "treeshap"' })),
  }, { additionalProperties: false, description: '{ "top"?: 0–10, "min_probability"?: [0, 1], "method"?: "path" | "treeshap" }: the reasons stored with each score' })),
  trained_at: Type.Optional(Type.String()),
  metrics: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  description: Type.Optional(Type.String()),
}, { additionalProperties: false });

/** A `vafa.model/v1` manifest. */
export type Manifest = Static<typeof ManifestSchema>;

/** Per-feature scaling of a manifest. */
export type FeatureScale = NonNullable<Manifest['features'][number]['scale']>;

/** A model or manifest the server will not load, with every problem found. */
export class ModelRefusedError extends Error {
  /** Each problem, one line each, naming the field or graph element concerned. */
  readonly problems: string[];
  /** The manifest (or model file) refused. */
  readonly source: string;

  constructor(source: string, problems: string[]) {
    super(`model ${source} refused:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ModelRefusedError';
    this.source = source;
    this.problems = problems;
  }
}

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** `/output/kind` → `output.kind`, `/features/2/name` → `features[2].name`. */
function fieldOf(path: string): string {
  if (path === '') return '(manifest)';
  return path.slice(1).split('/').map((part, i) => (/^\d+$/.test(part) ? `[${part}]` : `${i ? '.' : ''}${part}`)).join('');
}

function describe(schema: TSchema, message: string, value: unknown): string {
  if (value === undefined) return 'is required';
  const d = schema.description;
  const text = typeof d === 'string' ? `must be ${d}` : message.replace(/^Expected (\w+ to be )?/, 'must be ');
  return `${text} (got ${show(value)})`;
}

/**
 * Checks a parsed manifest. Returns every problem found (empty when valid), each naming its field:
 * `output.kind: must be "probability_tensor" or "zipmap" (got "proba")`.
 */
export function manifestProblems(value: unknown): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const e of Value.Errors(ManifestSchema, value)) {
    const field = fieldOf(e.path);
    if ([...seen].some((s) => field === s || field.startsWith(`${s}.`) || field.startsWith(`${s}[`))) continue;
    seen.add(field);
    problems.push(e.message === 'Unexpected property' ? `${field}: unknown field` : `${field}: ${describe(e.schema, e.message, e.value)}`);
  }
  if (problems.length > 0) return problems;
  const m = value as Manifest;
  const names = new Map<string, number>();
  m.features.forEach((f, i) => {
    const first = names.get(f.name);
    if (first !== undefined) problems.push(`features[${i}].name: "${f.name}" is already features[${first}]`);
    else names.set(f.name, i);
    if (f.scale && 'min' in f.scale && !(f.scale.max > f.scale.min)) {
      problems.push(`features[${i}].scale: max (${f.scale.max}) must be greater than min (${f.scale.min})`);
    }
  });
  problems.push(...mappingProblems(m.features));
  if (m.input.per_column !== true) {
    m.features.forEach((f, i) => {
      if (f.strings) problems.push(`features[${i}] "${f.name}": strings labels feed string inputs of a per-column model; set input.per_column or drop them`);
    });
  }
  const width = columnNames(m.features).length;
  if (m.input.shape[1] !== width) {
    problems.push(width === m.features.length
      ? `input.shape[1]: is ${m.input.shape[1]} but features lists ${m.features.length} names`
      : `input.shape[1]: is ${m.input.shape[1]} but features make ${width} columns (${m.features.length} entries, one-hot groups expanded)`);
  }
  problems.push(...calibrationProblems(m.calibration));
  if (typeof m.explain === 'object') {
    for (const [k, v] of Object.entries(m.explain.reference)) if (!Number.isFinite(v)) problems.push(`explain.reference.${k}: must be a finite number`);
  }
  if (m.trained_at !== undefined && Number.isNaN(Date.parse(m.trained_at))) {
    problems.push(`trained_at: must be an RFC 3339 time (got ${show(m.trained_at)})`);
  }
  return problems;
}

/**
 * Parses and validates manifest JSON.
 * @param source names the manifest in error messages (its path).
 * @throws ModelRefusedError listing every problem.
 */
export function parseManifest(json: string, source: string): Manifest {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    throw new ModelRefusedError(source, [`not valid JSON: ${(err as Error).message}`]);
  }
  const problems = manifestProblems(value);
  if (problems.length > 0) throw new ModelRefusedError(source, problems);
  return value as Manifest;
}
