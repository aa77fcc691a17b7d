// A manifest that does not match its model, or is malformed, is refused with a message naming the problem.
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifestProblems, ManifestSchema, ModelRefusedError, type Manifest } from '../../models/manifest.js';
import { DataType, encodeModel, floatTensor, graphOf, modelOf, node, tensorValueInfo } from '../../models/onnx/schema.js';
import { loadModel } from '../../scorer/runtime/model/onnx.js';
import { fixture, tempDir, writeManifest } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir()));
afterAll(() => cleanup());

const gbManifest = JSON.parse(readFileSync(fixture('manifests/sklearn-gb-zipmap-strings.manifest.json'), 'utf8')) as Manifest;
const treeManifest = JSON.parse(readFileSync(fixture('manifests/treecl2.manifest.json'), 'utf8')) as Manifest;
const fixtureDir = path.dirname(fixture('manifests/x'));
const gbOnnx = path.join(fixtureDir, gbManifest.onnx);
const treeOnnx = path.join(fixtureDir, treeManifest.onnx);

/** Loads `manifest` (written to the temp folder) and returns the refusal's problems. */
async function refusal(manifest: Record<string, unknown>): Promise<string[]> {
  const p = await writeManifest(dir, `m${Math.random().toString(36).slice(2)}`, manifest);
  const err = await loadModel(p).then(
    async (m) => {
      await m.close();
      throw new Error('the model loaded');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ModelRefusedError);
  expect((err as ModelRefusedError).message).toContain(`model ${p} refused:`);
  return (err as ModelRefusedError).problems;
}

const gb = (patch: Record<string, unknown>): Record<string, unknown> => ({ ...gbManifest, onnx: gbOnnx, ...patch });
const tree = (patch: Record<string, unknown>): Record<string, unknown> => ({ ...treeManifest, onnx: treeOnnx, ...patch });
const features = (n: number): { name: string }[] => Array.from({ length: n }, (_, j) => ({ name: `f${j}` }));

describe('model and manifest mismatches', () => {
  it('input width: says how many features are missing or extra', async () => {
    expect(await refusal(gb({ features: features(3), input: { name: 'input', shape: ['N', 3] } }))).toEqual([
      'input "input" is float[1,2]: the model takes 2 features, the manifest lists 3 (f0, f1, f2): 1 too many',
    ]);
    expect(await refusal(gb({ features: features(1), input: { name: 'input', shape: ['N', 1] } }))).toEqual([
      'input "input" is float[1,2]: the model takes 2 features, the manifest lists 1 (f0): 1 missing',
    ]);
  });

  it('input width of a [?,?] model: checked against the feature columns its trees read', async () => {
    expect(await refusal(tree({ features: features(19), input: { name: 'input', shape: ['N', 19] } }))).toEqual([
      'node "TreeEnsembleClassifier2" (TreeEnsembleClassifier) reads feature column 19, but the manifest lists only 19 features',
    ]);
  });

  it('missing output and missing input: list what the model has', async () => {
    expect(await refusal(gb({ output: { name: 'proba', kind: 'zipmap', positive_class: 'B' } }))).toEqual([
      'output.name: "proba" is not an output of the model; its outputs are: label (string[1]), probabilities (seq(map(string,float)))',
    ]);
    expect(await refusal(gb({ input: { name: 'X', shape: ['N', 2] } }))).toEqual([
      'input.name: "X" is not an input of the model; its inputs are: input (float[1,2])',
    ]);
  });

  it('wrong output kind, in both directions', async () => {
    expect(await refusal(gb({ output: { name: 'probabilities', kind: 'probability_tensor', positive_class: 'B' } }))).toEqual([
      'output "probabilities" is seq(map(string,float)) (a ZipMap): set output.kind to "zipmap"',
    ]);
    expect(await refusal(tree({ output: { name: 'proba_2', kind: 'zipmap', positive_class: 1 } }))).toEqual([
      'output "proba_2" is float[?,?], not a ZipMap: set output.kind to "probability_tensor"',
    ]);
    expect(await refusal(tree({ output: { name: 'label_2', kind: 'probability_tensor', positive_class: 1 } }))).toEqual([
      'output "label_2" is int64[?]: a probability tensor must be float or double',
    ]);
  });

  it('a positive class the model does not have', async () => {
    expect(await refusal(gb({ output: { name: 'probabilities', kind: 'zipmap', positive_class: 'churn' } }))).toEqual([
      'output.positive_class: "churn" is not a class of output "probabilities"; its classes are ["A", "B"] (string labels: give a string)',
    ]);
    expect(await refusal(tree({ output: { name: 'proba_2', kind: 'probability_tensor', positive_class: '1' } }))).toEqual([
      'output.positive_class: "1" is not a class of output "proba_2"; its classes are [0, 1] (int64 labels: give a number)',
    ]);
    expect(await refusal(tree({ output: { name: 'proba_2', kind: 'probability_tensor', positive_class: 1, column: 0 } }))).toEqual([
      'output.column: column 0 holds class 0, positive_class 1 is column 1',
    ]);
  });

  it('several problems at once', async () => {
    const problems = await refusal(gb({ input: { name: 'X', shape: ['N', 2] }, output: { name: 'nope', kind: 'zipmap', positive_class: 'B' } }));
    expect(problems).toHaveLength(2);
  });

  it('a probability tensor without class labels needs output.column; a non-probability is caught by the probe', async () => {
    const g = graphOf('g', {
      nodes: [node('MatMul', ['input', 'w'], ['score']), node('Concat', ['score', 'score'], ['two'], { axis: { int: 1 } })],
      initializers: [floatTensor('w', [2, 1], [10, 10])],
      inputs: [tensorValueInfo('input', DataType.FLOAT, ['N', 2])],
      outputs: [tensorValueInfo('score', DataType.FLOAT, ['N', 1]), tensorValueInfo('two', DataType.FLOAT, ['N', 2])],
    });
    await writeFile(path.join(dir, 'score.onnx'), encodeModel(modelOf(g, { '': 17 })));
    const m = { format: 'vafa.model/v1', version: 's', onnx: 'score.onnx', input: { name: 'input', shape: ['N', 2] }, features: features(2), threshold: 0.5 };
    expect(await refusal({ ...m, output: { name: 'two', kind: 'probability_tensor', positive_class: 1 } })).toEqual([
      'output.column: is required: output "two" is float[N,2] and its producer (Concat) declares no class labels, so the column of positive_class 1 is unknown',
    ]);
    expect(await refusal({ ...m, output: { name: 'two', kind: 'probability_tensor', positive_class: 1, column: 1 } })).toEqual([
      'output "two" column 1 gave 20 for a probe row of ones: not a probability (a margin or score?)',
    ]);
    expect(await refusal({ ...m, features: features(2).map((f) => ({ ...f, scale: { mean: 1, std: 1 } })), output: { name: 'score', kind: 'probability_tensor', positive_class: 1 } }))
      .toEqual(['output "score" column 0 gave -20 for a probe row of zeros: not a probability (a margin or score?)']);
  });

  it('files: unreadable model, wrong digest, not JSON', async () => {
    expect(await refusal(gb({ onnx: 'nowhere.onnx' }))).toEqual([expect.stringMatching(/^onnx: cannot read "nowhere.onnx": ENOENT/)]);
    expect(await refusal(gb({ sha256: '0'.repeat(64) }))).toEqual([expect.stringMatching(/^sha256: ".*GradientBoosting.*" has digest [0-9a-f]{64}, the manifest says 0{64}$/)]);
    const p = path.join(dir, 'broken.manifest.json');
    await writeFile(p, '{ "format": ');
    await expect(loadModel(p)).rejects.toThrow(/not valid JSON/);
  });
});

describe('manifest validation names the field', () => {
  const valid = { ...gbManifest };

  it('publishes the TypeBox schema as models/manifest.schema.json', () => {
    const file = JSON.parse(readFileSync(new URL('../../models/manifest.schema.json', import.meta.url), 'utf8')) as Record<string, unknown>;
    const { $schema, title, ...schema } = file;
    expect([$schema, title]).toEqual(['http://json-schema.org/draft-07/schema#', 'vafa.model/v1 manifest']);
    expect(schema).toEqual(JSON.parse(JSON.stringify(ManifestSchema)));
  });

  it('accepts the fixture manifests', () => {
    expect(manifestProblems(valid)).toEqual([]);
    expect(manifestProblems(treeManifest)).toEqual([]);
  });

  it('reports every bad field', () => {
    expect(manifestProblems({ ...valid, format: 'vafa.model/v0', threshold: 1.5, extra: 1 })).toEqual([
      'extra: unknown field',
      'format: must be \'vafa.model/v1\' (got "vafa.model/v0")',
      'threshold: must be less or equal to 1 (got 1.5)',
    ]);
    const { version: _, ...noVersion } = valid;
    expect(manifestProblems(noVersion)).toEqual(['version: is required']);
    expect(manifestProblems({ ...valid, output: { ...valid.output, kind: 'proba' } })).toEqual([
      'output.kind: must be "probability_tensor" or "zipmap" (got "proba")',
    ]);
    expect(manifestProblems({ ...valid, features: [{ name: 'a', scale: { mean: 0 } }, { name: 'b' }] })).toEqual([
      'features[0].scale: must be { "mean": number, "std": number > 0 } or { "min": number, "max": number } (got {"mean":0})',
    ]);
    expect(manifestProblems({ ...valid, input: { name: 'input', shape: [1, 2] } })).toEqual([
      'input.shape[0]: must be a symbolic batch dimension such as "N", or -1 (got 1)',
    ]);
  });

  it('checks features against each other and the input shape', () => {
    expect(manifestProblems({ ...valid, features: [{ name: 'a' }, { name: 'a', scale: { min: 1, max: 1 } }] })).toEqual([
      'features[1].name: "a" is already features[0]',
      'features[1].scale: max (1) must be greater than min (1)',
    ]);
    expect(manifestProblems({ ...valid, features: [{ name: 'a' }, { name: 'b' }, { name: 'c' }] })).toEqual([
      'input.shape[1]: is 2 but features lists 3 names',
    ]);
    expect(manifestProblems({ ...valid, trained_at: 'yesterday' })).toEqual(['trained_at: must be an RFC 3339 time (got "yesterday")']);
  });
});
