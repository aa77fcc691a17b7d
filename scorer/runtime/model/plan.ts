/**
 * Checks an ONNX graph against its manifest and rewrites it into the form the scorer runs: one float
 * input [N, F], one float probability tensor output. Pure: bytes in, bytes out, no onnxruntime.
 *
 * Rewrites, each recorded in `notes`:
 * - a ZipMap output (onnxruntime-node cannot return `seq(map)` values) is removed and the float
 *   tensor feeding it becomes the output; the positive class's column comes from the ZipMap labels;
 * - every other output is dropped, so onnxruntime computes only what the score needs;
 * - an input or output batch dimension fixed at 1 (as in older converter output) becomes symbolic,
 *   so micro-batches run in one call. The loader's probe run confirms the graph accepts it.
 */
import { columnNames, entryWidth, DataType, describeType, encodeModel, floatsAttribute, intsAttribute, ML_DOMAIN, stringsAttribute, tensorDims, tensorValueInfo, type ModelProto, type NodeProto, type ValueInfoProto, type Manifest } from '../../../models/mod.js';

/** What the loader needs to run a checked model. */
export interface ServingPlan {
  /** The rewritten model to hand to onnxruntime. */
  bytes: Uint8Array;
  inputName: string;
  /** Features per row. */
  width: number;
  /** The tensor output to fetch. */
  fetch: string;
  /** Column of P(positive class) in `fetch`. */
  column: number;
  /** Columns of `fetch` when the graph states them. */
  columns?: number;
  /** Class labels of the columns, when the graph declares them. */
  classLabels?: (number | string)[];
  /** What was rewritten, for logs. */
  notes: string[];
  /**
   * One ONNX input per manifest entry (`input.per_column`): where each input's columns sit in a row, its
   * element type, and for string inputs the labels of the numeric codes.
   */
  inputs?: PlanInput[];
}

/** One input of a per-column model. */
export interface PlanInput {
  name: string;
  offset: number;
  width: number;
  type: 'float32' | 'float64' | 'int64' | 'int32' | 'string';
  /** Rank of the input: 1 ([N]) or 2 ([N, width]). */
  rank: 1 | 2;
  labels?: ReadonlyMap<number, string>;
  unknown?: string;
}

const ELEM: Partial<Record<number, PlanInput['type']>> = {
  [DataType.FLOAT]: 'float32', [DataType.DOUBLE]: 'float64', [DataType.INT64]: 'int64', [DataType.INT32]: 'int32', [DataType.STRING]: 'string',
};

/** Checks a per-column model's inputs against the manifest's entries (one ONNX input per entry, by name). */
function perColumnInputs(inputs: readonly ValueInfoProto[], manifest: Manifest, problems: string[]): PlanInput[] {
  const out: PlanInput[] = [];
  let offset = 0;
  const fed = new Set<string>();
  manifest.features.forEach((f, i) => {
    const width = entryWidth(f);
    const at = offset;
    offset += width;
    const label = `features[${i}] "${f.name}"`;
    const v = inputs.find((x) => x.name === f.name);
    if (!v) {
      problems.push(`${label}: the model has no input "${f.name}" (input.per_column feeds each entry to the input of its name); its inputs are: ${list(inputs)}`);
      return;
    }
    fed.add(f.name);
    const type = ELEM[v.type?.tensorType?.elemType ?? -1];
    const dims = tensorDims(v.type);
    if (!type) {
      problems.push(`${label}: input "${f.name}" is ${describeType(v.type)}: the scorer feeds float, double, int64, int32 or string tensors`);
      return;
    }
    if (type === 'string' && !f.strings) {
      problems.push(`${label}: input "${f.name}" is ${describeType(v.type)}: give "strings" (the label of each numeric code) to feed it`);
      return;
    }
    if (type !== 'string' && f.strings) problems.push(`${label}: "strings" is only for string inputs; input "${f.name}" is ${describeType(v.type)}`);
    if (!dims || dims.length < 1 || dims.length > 2 || (dims.length === 1 && width !== 1)) {
      problems.push(`${label}: input "${f.name}" is ${describeType(v.type)}: expected [batch, ${width}]`);
      return;
    }
    if (dims.length === 2 && typeof dims[1] === 'number' && dims[1] !== width) {
      problems.push(`${label}: input "${f.name}" is ${describeType(v.type)}: the model takes ${dims[1]} columns there, the entry makes ${width}`);
    }
    if (typeof dims[0] === 'number' && dims[0] !== 1) {
      problems.push(`${label}: input "${f.name}" is ${describeType(v.type)}: its batch size is fixed at ${dims[0]}; the scorer needs a dynamic batch dimension`);
    }
    out.push({
      name: f.name, offset: at, width, type, rank: dims.length === 1 ? 1 : 2,
      ...(f.strings ? { labels: new Map(Object.entries(f.strings.map).map(([k, x]) => [Number(k), x])), unknown: f.strings.unknown ?? '' } : {}),
    });
  });
  for (const v of inputs) if (!fed.has(v.name ?? '')) problems.push(`input "${v.name}" (${describeType(v.type)}) of the model is fed by no features entry`);
  return out;
}

const passThrough = new Set(['Identity', 'Cast', 'Normalizer']);
const classifierOps = new Set(['TreeEnsembleClassifier', 'LinearClassifier', 'SVMClassifier']);
const BATCH = 'N';

function list(values: readonly ValueInfoProto[]): string {
  return values.map((v) => `${v.name ?? '?'} (${describeType(v.type)})`).join(', ') || 'none';
}

function show(v: number | string): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

function producerOf(nodes: readonly NodeProto[], name: string): NodeProto | undefined {
  return nodes.find((n) => n.output.includes(name));
}

/** Class labels an ai.onnx.ml classifier or ZipMap node declares. */
function labelsOf(n: NodeProto): (number | string)[] | undefined {
  for (const key of ['classlabels_int64s', 'classlabels_ints']) {
    const v = intsAttribute(n, key);
    if (v.length > 0) return v;
  }
  const s = stringsAttribute(n, 'classlabels_strings');
  return s.length > 0 ? s : undefined;
}

/** Labels of the classifier whose probability output reaches `name` through pass-through nodes. */
function traceLabels(nodes: readonly NodeProto[], name: string): { labels?: (number | string)[]; producer?: NodeProto } {
  let tensor = name;
  let first: NodeProto | undefined;
  for (let hops = 0; hops < 16; hops++) {
    const p = producerOf(nodes, tensor);
    first ??= p;
    if (!p) return { producer: first };
    if (classifierOps.has(p.opType ?? '') && (p.domain ?? '') === ML_DOMAIN && p.output[1] === tensor) {
      return { labels: labelsOf(p), producer: first };
    }
    if (!passThrough.has(p.opType ?? '') || !p.input[0]) return { producer: first };
    tensor = p.input[0];
  }
  return { producer: first };
}

function relaxBatch(v: ValueInfoProto): boolean {
  const d = v.type?.tensorType?.shape?.dim[0];
  if (d?.dimValue === 1) {
    delete d.dimValue;
    d.dimParam = BATCH;
    return true;
  }
  return false;
}

/** Checks that nodes reading the input directly stay within the manifest's feature columns. */
function columnProblems(nodes: readonly NodeProto[], input: string, width: number): string[] {
  const problems: string[] = [];
  for (const n of nodes) {
    if (!n.input.includes(input) || (n.domain ?? '') !== ML_DOMAIN) continue;
    const label = `node ${n.name ? `"${n.name}" ` : ''}(${n.opType ?? '?'})`;
    if (n.opType === 'TreeEnsembleClassifier' || n.opType === 'TreeEnsembleRegressor') {
      const ids = intsAttribute(n, 'nodes_featureids');
      const max = ids.reduce((a, b) => Math.max(a, b), -1);
      if (max >= width) problems.push(`${label} reads feature column ${max}, but the manifest lists only ${width} features`);
    } else if (n.opType === 'LinearClassifier' || n.opType === 'LinearRegressor') {
      const coefs = floatsAttribute(n, 'coefficients').length;
      const outputs = n.opType === 'LinearClassifier' ? (labelsOf(n)?.length ?? 0) : 1;
      const rows = outputs === 2 && coefs === width ? 1 : outputs;
      if (rows > 0 && coefs !== rows * width) {
        problems.push(`${label} has ${coefs} coefficients for ${rows} classes, i.e. ${coefs / rows} features, but the manifest lists ${width}`);
      }
    }
  }
  return problems;
}

/**
 * Checks `model` against `manifest` and builds the serving form.
 * @returns the plan, or every problem found (each naming the manifest field or graph element).
 */
export function planServing(model: ModelProto, manifest: Manifest): { plan?: ServingPlan; problems: string[] } {
  const problems: string[] = [];
  const notes: string[] = [];
  const g = model.graph;
  if (!g) return { problems: ['the ONNX file holds no graph'] };
  const columns0 = columnNames(manifest.features);
  const width = columns0.length;

  const initializers = new Set(g.initializer.map((t) => t.name));
  const inputs = g.input.filter((v) => !initializers.has(v.name));
  const perColumn = manifest.input.per_column === true;
  const planInputs = perColumn ? perColumnInputs(inputs, manifest, problems) : undefined;
  const input = perColumn ? inputs[0] : inputs.find((v) => v.name === manifest.input.name);
  if (!perColumn) problems.push(...inputProblems(g, manifest, inputs, input, columns0));

  const out = g.output.find((v) => v.name === manifest.output.name);
  const read = out ? readOutput(g, manifest, out, problems, notes) : undefined;
  if (!out) problems.push(`output.name: "${manifest.output.name}" is not an output of the model; its outputs are: ${list(g.output)}`);
  const column = out && read ? positiveColumn(g, manifest, out, read, problems) : undefined;
  if (problems.length > 0 || !input || !read || column === undefined) return { problems };

  const { fetch, columns, classLabels, zipMap } = read;
  const served = servedModel(model, { fetch, zipMap, perColumn, inputName: input.name, initializers, notes });
  const dropped = g.output.filter((v) => v.name !== out?.name).map((v) => `"${v.name}"`);
  if (dropped.length > 0) notes.push(`outputs ${dropped.join(', ')} not computed`);
  return {
    problems,
    plan: {
      bytes: encodeModel(served), inputName: input.name ?? '', width, fetch: fetch.name ?? '', column,
      ...(columns !== undefined ? { columns } : {}), ...(classLabels ? { classLabels } : {}), notes,
      ...(planInputs ? { inputs: planInputs } : {}),
    },
  };
}

type GraphProto = NonNullable<ModelProto['graph']>;

/** The problems of the single input of a model without per-column inputs: a float32 [batch, features] tensor. */
function inputProblems(g: GraphProto, manifest: Manifest, inputs: readonly ValueInfoProto[], input: ValueInfoProto | undefined, columns0: readonly string[]): string[] {
  const problems: string[] = [];
  const width = columns0.length;
  if (inputs.length > 1) {
    problems.push(`the model has ${inputs.length} inputs (${list(inputs)}); vafa.model/v1 feeds a single float tensor `
      + '[batch, features] unless input.per_column is set (then each features entry feeds the input of its name)');
  }
  if (!input) {
    problems.push(`input.name: "${manifest.input.name}" is not an input of the model; its inputs are: ${list(inputs)}`);
    return problems;
  }
  const type = describeType(input.type);
  const dims = tensorDims(input.type);
  if (input.type?.tensorType?.elemType !== DataType.FLOAT) {
    problems.push(`input "${input.name}" is ${type}: the scorer feeds float32 tensors`);
  } else if (!dims || dims.length !== 2) {
    problems.push(`input "${input.name}" is ${type}: expected rank 2, [batch, features]`);
  } else {
    const w = dims[1];
    if (typeof w === 'number' && w !== width) {
      const names = columns0.join(', ');
      problems.push(w > width
        ? `input "${input.name}" is ${type}: the model takes ${w} features, the manifest lists ${width} (${names}): ${w - width} missing`
        : `input "${input.name}" is ${type}: the model takes ${w} features, the manifest lists ${width} (${names}): ${width - w} too many`);
    }
    if (typeof dims[0] === 'number' && dims[0] !== 1) {
      problems.push(`input "${input.name}" is ${type}: its batch size is fixed at ${dims[0]}; the scorer needs a dynamic batch dimension`);
    }
    if (typeof w !== 'number') problems.push(...columnProblems(g.node, input.name ?? '', width));
  }
  return problems;
}

/** The tensor the scorer reads the probabilities from, with its columns and class labels as far as the graph says. */
interface OutputRead {
  fetch: ValueInfoProto;
  columns: number | undefined;
  classLabels: (number | string)[] | undefined;
  /** The ZipMap node to remove (output.kind `zipmap`). */
  zipMap: NodeProto | undefined;
}

/** Reads the manifest's output: a ZipMap's input tensor, or a probability tensor; undefined when it cannot (the problems say why). */
function readOutput(g: GraphProto, manifest: Manifest, out: ValueInfoProto, problems: string[], notes: string[]): OutputRead | undefined {
  if (manifest.output.kind === 'zipmap') {
    const producer = producerOf(g.node, out.name ?? '');
    if (!out.type?.sequenceType?.elemType?.mapType) {
      problems.push(`output "${out.name}" is ${describeType(out.type)}, not a ZipMap: set output.kind to "probability_tensor"`);
    } else if (producer?.opType !== 'ZipMap' || !producer.input[0]) {
      problems.push(`output "${out.name}" is produced by ${producer?.opType ?? 'no node'}, not ZipMap: its probabilities cannot be read`);
    } else if (g.node.some((n) => n.input.includes(out.name ?? ''))) {
      problems.push(`output "${out.name}" is also consumed inside the graph; the ZipMap node cannot be removed`);
    } else {
      const classLabels = labelsOf(producer) ?? [];
      const source = producer.input[0];
      const known = [...g.valueInfo, ...g.output].find((v) => v.name === source && v.type?.tensorType);
      const columns = classLabels.length;
      notes.push(`ZipMap "${out.name}" removed; reading float tensor "${source}"`);
      return { zipMap: producer, classLabels, columns, fetch: known ? structuredClone(known) : tensorValueInfo(source, DataType.FLOAT, [BATCH, columns]) };
    }
    return undefined;
  }
  if (out.type?.sequenceType) {
    problems.push(`output "${out.name}" is ${describeType(out.type)} (a ZipMap): set output.kind to "zipmap"`);
    return undefined;
  }
  const elem = out.type?.tensorType?.elemType;
  const dims = tensorDims(out.type);
  if (elem !== DataType.FLOAT && elem !== DataType.DOUBLE) {
    problems.push(`output "${out.name}" is ${describeType(out.type)}: a probability tensor must be float or double`);
    return undefined;
  }
  if (dims && dims.length !== 1 && dims.length !== 2) {
    problems.push(`output "${out.name}" is ${describeType(out.type)}: expected [N] or [N, classes]`);
    return undefined;
  }
  return {
    fetch: structuredClone(out),
    columns: !dims || dims.length === 1 ? 1 : typeof dims[1] === 'number' ? dims[1] : undefined,
    classLabels: traceLabels(g.node, out.name ?? '').labels,
    zipMap: undefined,
  };
}

/** The column of `positive_class`: the manifest's `output.column`, checked, or found from the class labels. */
function positiveColumn(g: GraphProto, manifest: Manifest, out: ValueInfoProto, read: OutputRead, problems: string[]): number | undefined {
  const { columns, classLabels } = read;
  const pc = manifest.output.positive_class;
  const explicit = manifest.output.column;
  const labelIdx = classLabels?.indexOf(pc) ?? -1;
  if (classLabels && classLabels.length > 0 && labelIdx < 0) {
    const kind = typeof classLabels[0] === 'number' ? 'int64' : 'string';
    problems.push(`output.positive_class: ${show(pc)} is not a class of output "${out.name}"; its classes are `
      + `[${classLabels.map(show).join(', ')}] (${kind} labels${kind === 'int64' ? ': give a number' : ': give a string'})`);
    return undefined;
  }
  if (explicit !== undefined) {
    if (columns !== undefined && explicit >= columns) {
      problems.push(`output.column: is ${explicit} but output "${out.name}" has ${columns} column${columns === 1 ? '' : 's'}`);
      return undefined;
    }
    if (classLabels && labelIdx >= 0 && labelIdx !== explicit) {
      const held = classLabels[explicit];
      problems.push(`output.column: column ${explicit} holds ${held === undefined ? 'no class' : `class ${show(held)}`}, positive_class ${show(pc)} is column ${labelIdx}`);
      return undefined;
    }
    return explicit;
  }
  if (labelIdx >= 0) return labelIdx;
  if (columns === 1) return 0;
  const producer = traceLabels(g.node, out.name ?? '').producer?.opType ?? 'no node';
  problems.push(`output.column: is required: output "${out.name}" is ${describeType(out.type)} and its producer (${producer}) `
    + `declares no class labels, so the column of positive_class ${show(pc)} is unknown`);
  return undefined;
}

/** The model as served: the ZipMap removed, only the probability tensor fetched, a batch fixed at 1 made symbolic. */
function servedModel(
  model: ModelProto,
  o: { fetch: ValueInfoProto; zipMap: NodeProto | undefined; perColumn: boolean; inputName: string | undefined; initializers: ReadonlySet<string | undefined>; notes: string[] },
): ModelProto {
  const served: ModelProto = structuredClone(model);
  const sg = served.graph;
  if (!sg) throw new Error('unreachable: the clone of a model with a graph has one');
  const zipMap = o.zipMap;
  if (zipMap) sg.node = sg.node.filter((n) => !(n.opType === 'ZipMap' && n.output[0] === zipMap.output[0]));
  sg.output = [o.fetch];
  let relaxedIn = false;
  for (const v of sg.input) if ((o.perColumn || v.name === o.inputName) && !o.initializers.has(v.name)) relaxedIn = relaxBatch(v) || relaxedIn;
  const relaxedOut = relaxBatch(o.fetch);
  if (relaxedIn || relaxedOut) {
    sg.valueInfo = [];
    o.notes.push(`batch dimension fixed at 1 made symbolic (${[relaxedIn && (o.perColumn ? 'inputs' : `input "${o.inputName}"`), relaxedOut && `output "${o.fetch.name}"`].filter(Boolean).join(', ')})`);
  }
  return served;
}
