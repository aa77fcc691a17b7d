/**
 * Exports the trainers' models (`training/gbt.ts`, `training/logreg.ts`) to ONNX, in the output
 * layouts of skl2onnx so that the same serving path handles our models and converter-built ones:
 *
 * - `zipmap: false` (skl2onnx `zipmap=False`): outputs `label` int64 [N] and `probabilities`
 *   float [N, 2], column 1 = P(churn).
 * - `zipmap: true` (skl2onnx default): outputs `output_label` int64 [N] and `output_probability`,
 *   a ZipMap `seq(map(int64, float))` over class labels 0 and 1, fed by the float tensor
 *   `probabilities` [N, 2].
 *
 * The input is one float tensor `input` [N, F] whose columns are the features in order. Training
 * metadata (version, feature names, algorithm, parameters, metrics) goes into `metadata_props`
 * under `vafa.*` keys.
 */
import { f32, f64, i32 } from '../scorer/core/mod.js';
import type { GbtModel } from './gbt.js';
import type { LogregModel } from './logreg.js';
import {
  DataType, encodeModel, floatTensor, graphOf, ML_DOMAIN, modelOf, node, tensorValueInfo, zipMapValueInfo,
  type NodeProto, type TensorProto, type ValueInfoProto,
} from '../models/mod.js';

/** Options shared by both exporters. */
export interface ExportOptions {
  /** Model version, recorded with every score. */
  version: string;
  /** Ordered feature names (column j of the input is `features[j]`). */
  features: readonly string[];
  /** Emit a ZipMap probability output as skl2onnx does by default. Default false. */
  zipmap?: boolean;
  /** Name of the input tensor. Default `input`. */
  inputName?: string;
  /** When the model was trained (RFC 3339), stored as metadata. */
  trainedAt?: string;
  /** Evaluation metrics, stored as JSON metadata. */
  metrics?: unknown;
  /** Extra `metadata_props` entries. */
  metadata?: Record<string, string>;
}

/** How a logistic regression gets standardised inputs. */
export type LogregScaling =
  /** Explicit `Sub` (mean) and `Div` (std) nodes in the graph: the model takes raw features. */
  | 'nodes'
  /** Standardisation folded into the weights and intercept: the model takes raw features. */
  | 'fold'
  /** The model takes standardised features; the manifest carries each feature's mean and std. */
  | 'manifest';

/** Options of {@link exportLogreg}. */
export interface LogregExportOptions extends ExportOptions {
  /** Default `nodes`. */
  scaling?: LogregScaling;
}

/** Options of {@link exportGbt}. */
export interface GbtExportOptions extends ExportOptions {
  /**
   * `classifier`: one `ai.onnx.ml.TreeEnsembleClassifier` with a logistic post-transform, as
   * skl2onnx exports a binary GradientBoostingClassifier. `regressor`: a `TreeEnsembleRegressor`
   * giving the margin, then `Sigmoid`, with the two-column probability built from it. Default
   * `classifier`.
   */
  trees?: 'classifier' | 'regressor';
}

/** An exported model and what a manifest needs to serve it. */
export interface ExportedModel {
  /** The `.onnx` file. */
  bytes: Uint8Array;
  input: { name: string; shape: [string, number] };
  /** The output holding P(churn): a probability tensor (column 1) or a ZipMap (label 1). */
  output: { name: string; kind: 'probability_tensor' | 'zipmap'; positiveClass: 1; column: 1 };
  /** The predicted-label output. */
  labelOutput: string;
  /** Per-feature standardisation the caller must apply (only with `scaling: 'manifest'`). */
  scales?: { mean: number; std: number }[];
}

const ONNX_OPSET = 17;
const ML_OPSET = 3;
const N = 'N';

interface Layout {
  label: string;
  probabilities: string;
  outputs: ValueInfoProto[];
  tail: NodeProto[];
  output: ExportedModel['output'];
}

function layout(zipmap: boolean): Layout {
  if (!zipmap) {
    return {
      label: 'label', probabilities: 'probabilities', tail: [],
      outputs: [tensorValueInfo('label', DataType.INT64, [N]), tensorValueInfo('probabilities', DataType.FLOAT, [N, 2])],
      output: { name: 'probabilities', kind: 'probability_tensor', positiveClass: 1, column: 1 },
    };
  }
  return {
    label: 'output_label', probabilities: 'probabilities',
    tail: [node('ZipMap', ['probabilities'], ['output_probability'], { classlabels_int64s: { ints: [0, 1] } }, { domain: ML_DOMAIN })],
    outputs: [tensorValueInfo('output_label', DataType.INT64, [N]), zipMapValueInfo('output_probability', DataType.INT64)],
    output: { name: 'output_probability', kind: 'zipmap', positiveClass: 1, column: 1 },
  };
}

/** Nodes turning a margin [N, 1] into `[1 − p, p]` [N, 2] and the argmax label. */
function probabilityFromMargin(margin: string, out: Layout): { nodes: NodeProto[]; initializers: TensorProto[] } {
  return {
    initializers: [floatTensor('one', [1], [1])],
    nodes: [
      node('Sigmoid', [margin], ['p1']),
      node('Sub', ['one', 'p1'], ['p0']),
      node('Concat', ['p0', 'p1'], [out.probabilities], { axis: { int: 1 } }),
      node('ArgMax', [out.probabilities], [out.label], { axis: { int: 1 }, keepdims: { int: 0 } }),
    ],
  };
}

function metadata(opts: ExportOptions, algorithm: string, params: unknown, extra: Record<string, string>): Record<string, string> {
  return {
    'vafa.version': opts.version,
    'vafa.features': JSON.stringify(opts.features),
    'vafa.algorithm': algorithm,
    'vafa.params': JSON.stringify(params),
    'vafa.positive_class': '1',
    ...(opts.trainedAt ? { 'vafa.trained_at': opts.trainedAt } : {}),
    ...(opts.metrics !== undefined ? { 'vafa.metrics': JSON.stringify(opts.metrics) } : {}),
    ...extra,
    ...opts.metadata,
  };
}

function checkFeatures(opts: ExportOptions, nFeatures: number): void {
  if (opts.features.length !== nFeatures) {
    throw new RangeError(`export: the model has ${nFeatures} features but ${opts.features.length} names were given`);
  }
}

/** Exports a logistic regression. */
export function exportLogreg(model: LogregModel, opts: LogregExportOptions): ExportedModel {
  const nf = model.nFeatures;
  checkFeatures(opts, nf);
  const scaling = opts.scaling ?? 'nodes';
  const inputName = opts.inputName ?? 'input';
  const out = layout(opts.zipmap ?? false);
  const nodes: NodeProto[] = [];
  const initializers: TensorProto[] = [];
  let x = inputName;
  let weights = Array.from(model.coef);
  let bias = model.intercept;
  if (scaling === 'nodes') {
    initializers.push(floatTensor('mean', [nf], model.mean), floatTensor('std', [nf], model.std));
    nodes.push(node('Sub', [x, 'mean'], ['centered']), node('Div', ['centered', 'std'], ['standardized']));
    x = 'standardized';
  } else if (scaling === 'fold') {
    weights = weights.map((w, j) => w / f64(model.std, j));
    bias = model.intercept - weights.reduce((s, w, j) => s + w * f64(model.mean, j), 0);
  }
  initializers.push(floatTensor('coef', [nf, 1], weights), floatTensor('intercept', [1], [bias]));
  nodes.push(node('MatMul', [x, 'coef'], ['linear']), node('Add', ['linear', 'intercept'], ['margin']));
  const tail = probabilityFromMargin('margin', out);
  const graph = graphOf('vafa_churn_logreg', {
    nodes: [...nodes, ...tail.nodes, ...out.tail],
    initializers: [...initializers, ...tail.initializers],
    inputs: [tensorValueInfo(inputName, DataType.FLOAT, [N, nf])],
    outputs: out.outputs,
  });
  const bytes = encodeModel(modelOf(graph, { '': ONNX_OPSET, [ML_DOMAIN]: ML_OPSET }, {
    docString: 'vafa churn model: L2-regularised logistic regression',
    metadata: metadata(opts, 'logreg', model.params, { 'vafa.scaling': scaling }),
  }));
  return {
    bytes, input: { name: inputName, shape: [N, nf] }, output: out.output, labelOutput: out.label,
    ...(scaling === 'manifest' ? { scales: Array.from(model.mean, (mean, j) => ({ mean, std: f64(model.std, j) })) } : {}),
  };
}

interface FlatTrees {
  treeIds: number[];
  nodeIds: number[];
  featureIds: number[];
  modes: string[];
  values: number[];
  trueIds: number[];
  falseIds: number[];
  hitRates: number[];
  leafTree: number[];
  leafNode: number[];
  leafWeight: number[];
}

function flatten(model: GbtModel): FlatTrees {
  const f: FlatTrees = {
    treeIds: [], nodeIds: [], featureIds: [], modes: [], values: [], trueIds: [], falseIds: [], hitRates: [],
    leafTree: [], leafNode: [], leafWeight: [],
  };
  model.trees.forEach((tree, t) => {
    for (const [k, feature] of tree.feature.entries()) {
      const leaf = feature < 0;
      f.treeIds.push(t);
      f.nodeIds.push(k);
      f.featureIds.push(leaf ? 0 : feature);
      f.modes.push(leaf ? 'LEAF' : 'BRANCH_LEQ');
      f.values.push(leaf ? 0 : f32(tree.threshold, k));
      f.trueIds.push(leaf ? 0 : i32(tree.left, k));
      f.falseIds.push(leaf ? 0 : i32(tree.right, k));
      f.hitRates.push(f64(tree.count, k));
      if (leaf) {
        f.leafTree.push(t);
        f.leafNode.push(k);
        f.leafWeight.push(f64(tree.value, k));
      }
    }
  });
  return f;
}

/** Exports gradient-boosted trees. */
export function exportGbt(model: GbtModel, opts: GbtExportOptions): ExportedModel {
  const nf = model.nFeatures;
  checkFeatures(opts, nf);
  const form = opts.trees ?? 'classifier';
  const inputName = opts.inputName ?? 'input';
  const out = layout(opts.zipmap ?? false);
  const t = flatten(model);
  const nodeAttrs = {
    nodes_treeids: { ints: t.treeIds }, nodes_nodeids: { ints: t.nodeIds }, nodes_featureids: { ints: t.featureIds },
    nodes_modes: { strings: t.modes }, nodes_values: { floats: t.values }, nodes_truenodeids: { ints: t.trueIds },
    nodes_falsenodeids: { ints: t.falseIds }, nodes_hitrates: { floats: t.hitRates },
    nodes_missing_value_tracks_true: { ints: t.treeIds.map(() => 0) },
  };
  const nodes: NodeProto[] = [];
  const initializers: TensorProto[] = [];
  if (form === 'classifier') {
    // Binary convention of skl2onnx/onnxruntime: leaf weights on class id 0 and a single base value
    // are the margin of the positive class; LOGISTIC then yields [1 − p, p]. Weights on class id 1
    // make onnxruntime drop the base value and return 0.5 for p0.
    nodes.push(node('TreeEnsembleClassifier', [inputName], [out.label, out.probabilities], {
      ...nodeAttrs,
      class_treeids: { ints: t.leafTree }, class_nodeids: { ints: t.leafNode }, class_ids: { ints: t.leafTree.map(() => 0) },
      class_weights: { floats: t.leafWeight }, classlabels_int64s: { ints: [0, 1] },
      base_values: { floats: [model.baseScore] }, post_transform: 'LOGISTIC',
    }, { domain: ML_DOMAIN }));
  } else {
    nodes.push(node('TreeEnsembleRegressor', [inputName], ['margin'], {
      ...nodeAttrs,
      target_treeids: { ints: t.leafTree }, target_nodeids: { ints: t.leafNode }, target_ids: { ints: t.leafTree.map(() => 0) },
      target_weights: { floats: t.leafWeight }, n_targets: { int: 1 }, base_values: { floats: [model.baseScore] },
      aggregate_function: 'SUM', post_transform: 'NONE',
    }, { domain: ML_DOMAIN }));
    const tail = probabilityFromMargin('margin', out);
    nodes.push(...tail.nodes);
    initializers.push(...tail.initializers);
  }
  const graph = graphOf('vafa_churn_gbt', {
    nodes: [...nodes, ...out.tail],
    initializers,
    inputs: [tensorValueInfo(inputName, DataType.FLOAT, [N, nf])],
    outputs: out.outputs,
  });
  const bytes = encodeModel(modelOf(graph, { '': ONNX_OPSET, [ML_DOMAIN]: ML_OPSET }, {
    docString: 'vafa churn model: gradient-boosted trees (log loss)',
    metadata: metadata(opts, 'gbt', model.params, { 'vafa.trees': form }),
  }));
  return { bytes, input: { name: inputName, shape: [N, nf] }, output: out.output, labelOutput: out.label };
}
