import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  attribute, AttributeType, DataType, decodeModel, describeType, encodeModel, floatTensor, graphOf, int64Tensor, metadataOf,
  ML_DOMAIN, modelOf, node, stringAttribute, stringsAttribute, tensorNumbers, tensorValueInfo, zipMapValueInfo, type ModelProto,
} from '../../models/onnx/schema.js';
import { fixture } from './helpers.js';

const converterFiles = [
  'sklearn-onnx-2018/SklearnBinGradientBoostingClassifier.model.onnx',
  'sklearn-onnx-2018/SklearnBinRandomForestClassifier.model.onnx',
  'sklearn-onnx-2018/SklearnBinDecisionTreeClassifier.model.onnx',
  'sklearn-onnx-2018/SklearnBinExtraTreesClassifier.model.onnx',
  'sklearn-onnx-2018/SklearnLogitisticRegressionBinary.model.onnx',
  'sklearn-onnx-docs/pipeline_titanic.onnx',
  'sklearn-onnx-docs/pipeline_titanic_nozipmap.onnx',
  'sklearn-onnx-tests/treecl2.onnx',
];

describe('ONNX schema', () => {
  it.each(converterFiles)('re-encodes %s byte for byte', (file) => {
    const bytes = readFileSync(fixture(file));
    expect(Buffer.from(encodeModel(decodeModel(bytes))).equals(bytes)).toBe(true);
  });

  it('reads converter graphs: opsets, ZipMap types, string labels', () => {
    const m = decodeModel(readFileSync(fixture('sklearn-onnx-docs/pipeline_titanic.onnx')));
    expect(m.irVersion).toBe(7);
    expect(m.producerName).toBe('skl2onnx');
    expect(m.opsetImport).toEqual([{ domain: '', version: 11 }, { domain: ML_DOMAIN, version: 1 }]);
    const g = m.graph!;
    expect(g.input.map((v) => `${v.name}:${describeType(v.type)}`)).toEqual([
      'pclass:string[?,1]', 'sex:string[?,1]', 'age:float[?,1]', 'fare:float[?,1]', 'embarked:string[?,1]',
    ]);
    expect(g.output.map((v) => describeType(v.type))).toEqual(['int64[?]', 'seq(map(int64,float))']);
    const ohe = g.node.find((n) => n.opType === 'OneHotEncoder' && n.input[0] === 'embarked')!;
    expect(stringsAttribute(ohe, 'cats_strings')).toEqual(['C', 'Q', 'S', 'missing']);
    const gb = decodeModel(readFileSync(fixture('sklearn-onnx-2018/SklearnBinGradientBoostingClassifier.model.onnx'))).graph!;
    expect(stringAttribute(gb.node[0]!, 'post_transform')).toBe('LOGISTIC');
    expect(describeType(gb.output[1]!.type)).toBe('seq(map(string,float))');
  });

  it('round-trips every attribute kind, tensors, value types, opsets and metadata', () => {
    const weights = floatTensor('w', [2, 2], [0.5, -1.25, 3, 1e-3]);
    const g = graphOf('g', {
      nodes: [
        node('MatMul', ['x', 'w'], ['y']),
        node('Custom', ['y'], ['z', 'zz'], {
          f: { float: 0.25 }, i: { int: -7 }, s: 'LOGISTIC', fs: { floats: [1.5, -2] }, is: { ints: [0, 2 ** 40] },
          ss: { strings: ['A', 'ب'] }, t: { tensor: int64Tensor('k', [3], [1, -2, 3]) },
        }, { domain: ML_DOMAIN, name: 'custom' }),
      ],
      initializers: [weights],
      inputs: [tensorValueInfo('x', DataType.FLOAT, ['N', 2])],
      outputs: [tensorValueInfo('z', DataType.INT64, ['N']), zipMapValueInfo('zz', DataType.STRING)],
      valueInfo: [tensorValueInfo('y', DataType.FLOAT, ['N', 2])],
    });
    const model: ModelProto = modelOf(g, { '': 17, [ML_DOMAIN]: 3 }, { metadata: { 'vafa.version': 'v1', note: 'دو' } });
    const back = decodeModel(encodeModel(model));
    expect(back.opsetImport).toEqual([{ domain: '', version: 17 }, { domain: ML_DOMAIN, version: 3 }]);
    expect(metadataOf(back)).toEqual({ 'vafa.version': 'v1', note: 'دو' });
    const n = back.graph!.node[1]!;
    const byName = Object.fromEntries(n.attribute.map((a) => [a.name, a]));
    expect(byName.f).toMatchObject({ type: AttributeType.FLOAT, f: 0.25 });
    expect(byName.i).toMatchObject({ type: AttributeType.INT, i: -7 });
    expect(byName.fs).toMatchObject({ type: AttributeType.FLOATS, floats: [1.5, -2] });
    expect(byName.is).toMatchObject({ type: AttributeType.INTS, ints: [0, 2 ** 40] });
    expect(stringAttribute(n, 's')).toBe('LOGISTIC');
    expect(stringsAttribute(n, 'ss')).toEqual(['A', 'ب']);
    expect(tensorNumbers(byName.t!.t!)).toEqual([1, -2, 3]);
    expect(n.domain).toBe(ML_DOMAIN);
    expect(tensorNumbers(back.graph!.initializer[0]!)).toEqual([0.5, -1.25, 3, Math.fround(1e-3)]);
    expect(back.graph!.output.map((v) => describeType(v.type))).toEqual(['int64[N]', 'seq(map(string,float))']);
    expect(describeType(back.graph!.valueInfo[0]!.type)).toBe('float[N,2]');
    expect(attribute('x', { ints: [1] }).type).toBe(AttributeType.INTS);
  });

  it('reads raw_data tensors', () => {
    const t = floatTensor('r', [2], [0, 0]);
    t.floatData = [];
    t.rawData = new Uint8Array(Float32Array.of(1.5, -4).buffer);
    expect(tensorNumbers(t)).toEqual([1.5, -4]);
    expect(() => floatTensor('bad', [2, 2], [1])).toThrow(/dims \[2,2\] hold 4 values, got 1/);
  });

  it('rejects bytes that are not a model', () => {
    expect(() => decodeModel(Uint8Array.of(0x0a, 0xff, 0xff, 0xff))).toThrow();
  });
});
