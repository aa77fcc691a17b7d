/**
 * Encode and decode ONNX models (`ModelProto`) with protobufjs, from the descriptor in
 * `descriptor.ts`, plus small builders and readers for graphs, nodes, attributes and tensors.
 *
 * 64-bit integer fields are surfaced as JavaScript numbers: exact up to 2^53, which covers every
 * dimension, node id, class label and version a classifier uses.
 */
import protobuf from 'protobufjs';
import { onnxDescriptor } from './descriptor.js';

/** `TensorProto.DataType`: element types of tensors, and key types of maps. */
export const DataType = {
  UNDEFINED: 0, FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, STRING: 8, BOOL: 9,
  FLOAT16: 10, DOUBLE: 11, UINT32: 12, UINT64: 13, COMPLEX64: 14, COMPLEX128: 15, BFLOAT16: 16,
} as const;

/** `AttributeProto.AttributeType`. */
export const AttributeType = {
  UNDEFINED: 0, FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8,
  TENSORS: 9, GRAPHS: 10, SPARSE_TENSOR: 11, SPARSE_TENSORS: 12, TYPE_PROTO: 13, TYPE_PROTOS: 14,
} as const;

/** `StringStringEntryProto`: metadata_props entries and similar key/value pairs. */
export interface StringStringEntryProto { key?: string; value?: string }

/** `OperatorSetIdProto`: an opset import; `domain` empty or absent means `ai.onnx`. */
export interface OperatorSetIdProto { domain?: string; version?: number }

/** `TensorProto`: a constant tensor (initializer or attribute value). */
export interface TensorProto {
  dims: number[];
  dataType?: number;
  segment?: { begin?: number; end?: number };
  floatData: number[];
  int32Data: number[];
  stringData: Uint8Array[];
  int64Data: number[];
  name?: string;
  docString?: string;
  rawData?: Uint8Array;
  externalData: StringStringEntryProto[];
  dataLocation?: number;
  doubleData: number[];
  uint64Data: number[];
  metadataProps: StringStringEntryProto[];
}

/** `SparseTensorProto`. */
export interface SparseTensorProto { values?: TensorProto; indices?: TensorProto; dims: number[] }

/** `TensorShapeProto.Dimension`: a fixed size or a symbolic name. */
export interface Dimension { dimValue?: number; dimParam?: string; denotation?: string }

/** `TensorShapeProto`. */
export interface TensorShapeProto { dim: Dimension[] }

/** `TypeProto`: exactly one of the `*Type` members is set. */
export interface TypeProto {
  tensorType?: { elemType?: number; shape?: TensorShapeProto };
  sequenceType?: { elemType?: TypeProto };
  mapType?: { keyType?: number; valueType?: TypeProto };
  optionalType?: { elemType?: TypeProto };
  sparseTensorType?: { elemType?: number; shape?: TensorShapeProto };
  denotation?: string;
}

/** `ValueInfoProto`: a named, typed value (graph input, output or intermediate). */
export interface ValueInfoProto { name?: string; type?: TypeProto; docString?: string; metadataProps: StringStringEntryProto[] }

/** `AttributeProto`: one of the value members is set, as `type` says. */
export interface AttributeProto {
  name?: string;
  refAttrName?: string;
  docString?: string;
  type?: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: TensorProto;
  g?: GraphProto;
  sparseTensor?: SparseTensorProto;
  tp?: TypeProto;
  floats: number[];
  ints: number[];
  strings: Uint8Array[];
  tensors: TensorProto[];
  graphs: GraphProto[];
  sparseTensors: SparseTensorProto[];
  typeProtos: TypeProto[];
}

/** `NodeProto`: one operator call. */
export interface NodeProto {
  input: string[];
  output: string[];
  name?: string;
  opType?: string;
  domain?: string;
  overload?: string;
  attribute: AttributeProto[];
  docString?: string;
  metadataProps: StringStringEntryProto[];
}

/** `TensorAnnotation`. */
export interface TensorAnnotation { tensorName?: string; quantParameterTensorNames: StringStringEntryProto[] }

/** `GraphProto`. */
export interface GraphProto {
  node: NodeProto[];
  name?: string;
  initializer: TensorProto[];
  sparseInitializer: SparseTensorProto[];
  docString?: string;
  input: ValueInfoProto[];
  output: ValueInfoProto[];
  valueInfo: ValueInfoProto[];
  quantizationAnnotation: TensorAnnotation[];
  metadataProps: StringStringEntryProto[];
}

/** `TrainingInfoProto`. */
export interface TrainingInfoProto {
  initialization?: GraphProto;
  algorithm?: GraphProto;
  initializationBinding: StringStringEntryProto[];
  updateBinding: StringStringEntryProto[];
}

/** `FunctionProto`: a model-local function. */
export interface FunctionProto {
  name?: string;
  input: string[];
  output: string[];
  attribute: string[];
  attributeProto: AttributeProto[];
  node: NodeProto[];
  docString?: string;
  opsetImport: OperatorSetIdProto[];
  domain?: string;
  overload?: string;
  valueInfo: ValueInfoProto[];
  metadataProps: StringStringEntryProto[];
}

/** `ModelProto`: the top-level message of an `.onnx` file. */
export interface ModelProto {
  irVersion?: number;
  opsetImport: OperatorSetIdProto[];
  producerName?: string;
  producerVersion?: string;
  domain?: string;
  modelVersion?: number;
  docString?: string;
  graph?: GraphProto;
  metadataProps: StringStringEntryProto[];
  trainingInfo: TrainingInfoProto[];
  functions: FunctionProto[];
}

// protobufjs treats descriptor types without an edition as proto3 (packing every repeated number);
// onnx.proto is proto2, so mark each message type as such.
function asProto2(ns: object): protobuf.INamespace {
  const out: Record<string, unknown> = { ...ns };
  if ('fields' in ns) out['edition'] = 'proto2';
  if ('nested' in ns && ns.nested) {
    out['nested'] = Object.fromEntries(Object.entries(ns.nested as Record<string, object>).map(([k, v]) => [k, asProto2(v)]));
  }
  return out as protobuf.INamespace;
}

const root = protobuf.Root.fromJSON(asProto2(onnxDescriptor));
const ModelType = root.lookupType('onnx.ModelProto');

/**
 * Decodes the bytes of an `.onnx` file. Repeated fields are always arrays; absent optional fields
 * are absent (not defaulted), so `encodeModel(decodeModel(b))` keeps the file's field presence.
 * @throws Error when the bytes are not a valid ModelProto.
 */
export function decodeModel(bytes: Uint8Array): ModelProto {
  const message = ModelType.decode(bytes);
  return ModelType.toObject(message, { longs: Number, arrays: true, defaults: false }) as ModelProto;
}

/** Encodes a model to the bytes of an `.onnx` file. */
export function encodeModel(model: ModelProto): Uint8Array {
  const err = ModelType.verify(model);
  if (err) throw new Error(`invalid ModelProto: ${err}`);
  return ModelType.encode(ModelType.fromObject(model)).finish();
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

/** UTF-8 bytes of a string (attribute `s`/`strings`, tensor `stringData`). */
export const bytesOf = (s: string): Uint8Array => utf8.encode(s);

/** The string held by UTF-8 bytes. */
export const stringOf = (b: Uint8Array): string => utf8Decoder.decode(b);

/** The domain of `ai.onnx.ml` operators (TreeEnsemble*, LinearClassifier, ZipMap, …). */
export const ML_DOMAIN = 'ai.onnx.ml';

function emptyAttribute(name: string, type: number): AttributeProto {
  return { name, type, floats: [], ints: [], strings: [], tensors: [], graphs: [], sparseTensors: [], typeProtos: [] };
}

/** A value accepted by {@link node} as an attribute; arrays of strings become STRINGS, etc. */
export type AttributeValue =
  | { float: number } | { int: number } | string | { floats: readonly number[] } | { ints: readonly number[] }
  | { strings: readonly string[] } | { tensor: TensorProto };

/** Builds one attribute. Numbers must say whether they are a float or an int. */
export function attribute(name: string, value: AttributeValue): AttributeProto {
  if (typeof value === 'string') return { ...emptyAttribute(name, AttributeType.STRING), s: bytesOf(value) };
  if ('float' in value) return { ...emptyAttribute(name, AttributeType.FLOAT), f: value.float };
  if ('int' in value) return { ...emptyAttribute(name, AttributeType.INT), i: value.int };
  if ('floats' in value) return { ...emptyAttribute(name, AttributeType.FLOATS), floats: [...value.floats] };
  if ('ints' in value) return { ...emptyAttribute(name, AttributeType.INTS), ints: [...value.ints] };
  if ('strings' in value) return { ...emptyAttribute(name, AttributeType.STRINGS), strings: value.strings.map(bytesOf) };
  return { ...emptyAttribute(name, AttributeType.TENSOR), t: value.tensor };
}

/** Builds a node. `domain` is `''` (ai.onnx) unless given. */
export function node(
  opType: string, inputs: readonly string[], outputs: readonly string[],
  attrs: Record<string, AttributeValue> = {}, opts: { name?: string; domain?: string } = {},
): NodeProto {
  return {
    opType, input: [...inputs], output: [...outputs], name: opts.name ?? outputs[0] ?? opType,
    domain: opts.domain ?? '', attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)), metadataProps: [],
  };
}

function emptyTensor(name: string, dataType: number, dims: readonly number[]): TensorProto {
  return {
    name, dataType, dims: [...dims], floatData: [], int32Data: [], stringData: [], int64Data: [],
    externalData: [], doubleData: [], uint64Data: [], metadataProps: [],
  };
}

/** A float tensor (values stored in `floatData`). */
export function floatTensor(name: string, dims: readonly number[], values: ArrayLike<number>): TensorProto {
  checkSize(name, dims, values.length);
  return { ...emptyTensor(name, DataType.FLOAT, dims), floatData: Array.from(values, Math.fround) };
}

/** An int64 tensor (values stored in `int64Data`). */
export function int64Tensor(name: string, dims: readonly number[], values: ArrayLike<number>): TensorProto {
  checkSize(name, dims, values.length);
  return { ...emptyTensor(name, DataType.INT64, dims), int64Data: Array.from(values) };
}

function checkSize(name: string, dims: readonly number[], n: number): void {
  const size = dims.reduce((a, b) => a * b, 1);
  if (size !== n) throw new Error(`tensor ${name}: dims [${dims.join(',')}] hold ${size} values, got ${n}`);
}

/** The values of a FLOAT or DOUBLE tensor, from its typed field or its little-endian `rawData`. */
export function tensorNumbers(t: TensorProto): number[] {
  if (t.dataLocation === 1) throw new Error(`tensor ${t.name ?? ''}: external data is not supported`);
  const raw = t.rawData;
  if (t.dataType === DataType.FLOAT) {
    if (raw && raw.length > 0) return readRaw(raw, 4, (v, o) => v.getFloat32(o, true));
    return t.floatData;
  }
  if (t.dataType === DataType.DOUBLE) {
    if (raw && raw.length > 0) return readRaw(raw, 8, (v, o) => v.getFloat64(o, true));
    return t.doubleData;
  }
  if (t.dataType === DataType.INT64) {
    if (raw && raw.length > 0) return readRaw(raw, 8, (v, o) => Number(v.getBigInt64(o, true)));
    return t.int64Data;
  }
  throw new Error(`tensor ${t.name ?? ''}: data type ${dataTypeName(t.dataType ?? 0)} is not numeric`);
}

function readRaw(raw: Uint8Array, width: number, get: (v: DataView, o: number) => number): number[] {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out: number[] = [];
  for (let o = 0; o + width <= raw.byteLength; o += width) out.push(get(view, o));
  return out;
}

/** A dimension of a value-info shape: a size, or a symbolic name such as `'N'`. */
export type DimSpec = number | string;

/** A `TensorShapeProto` from sizes and symbolic names. */
export function shapeOf(dims: readonly DimSpec[]): TensorShapeProto {
  return { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) };
}

/** Value info of a tensor. */
export function tensorValueInfo(name: string, elemType: number, dims: readonly DimSpec[]): ValueInfoProto {
  return { name, type: { tensorType: { elemType, shape: shapeOf(dims) } }, metadataProps: [] };
}

/** Value info of a ZipMap output: `seq(map(keyType, float))`, keyType INT64 or STRING. */
export function zipMapValueInfo(name: string, keyType: number): ValueInfoProto {
  return {
    name,
    type: { sequenceType: { elemType: { mapType: { keyType, valueType: { tensorType: { elemType: DataType.FLOAT } } } } } },
    metadataProps: [],
  };
}

/** The attribute `name` of a node, if present. */
export function findAttribute(n: NodeProto, name: string): AttributeProto | undefined {
  return n.attribute.find((a) => a.name === name);
}

/** Reads an INTS attribute (empty when absent). */
export const intsAttribute = (n: NodeProto, name: string): number[] => findAttribute(n, name)?.ints ?? [];

/** Reads a FLOATS attribute (empty when absent). */
export const floatsAttribute = (n: NodeProto, name: string): number[] => findAttribute(n, name)?.floats ?? [];

/** Reads a STRINGS attribute as strings (empty when absent). */
export const stringsAttribute = (n: NodeProto, name: string): string[] =>
  (findAttribute(n, name)?.strings ?? []).map(stringOf);

/** Reads a STRING attribute, if present. */
export function stringAttribute(n: NodeProto, name: string): string | undefined {
  const s = findAttribute(n, name)?.s;
  return s ? stringOf(s) : undefined;
}

const dataTypeNames = Object.fromEntries(Object.entries(DataType).map(([k, v]) => [v, k.toLowerCase()]));

/** `float`, `int64`, `string`, … for a DataType number. */
export function dataTypeName(t: number): string {
  return dataTypeNames[t] ?? `type#${t}`;
}

/** Dimensions of a tensor type: sizes, symbolic names, or `'?'` for unknown ones. */
export function tensorDims(type: TypeProto | undefined): DimSpec[] | undefined {
  const shape = type?.tensorType?.shape;
  if (!shape) return undefined;
  return shape.dim.map((d) => d.dimValue ?? (d.dimParam !== undefined && d.dimParam !== '' ? d.dimParam : '?'));
}

/** A readable type: `float[N,2]`, `int64[?]`, `seq(map(string,float))`, … */
export function describeType(type: TypeProto | undefined): string {
  if (!type) return 'untyped';
  if (type.tensorType) {
    const dims = tensorDims(type);
    return `${dataTypeName(type.tensorType.elemType ?? 0)}${dims ? `[${dims.join(',')}]` : ''}`;
  }
  if (type.sequenceType) return `seq(${describeType(type.sequenceType.elemType)})`;
  if (type.mapType) return `map(${dataTypeName(type.mapType.keyType ?? 0)},${describeType(type.mapType.valueType)})`;
  if (type.optionalType) return `optional(${describeType(type.optionalType.elemType)})`;
  if (type.sparseTensorType) return `sparse(${dataTypeName(type.sparseTensorType.elemType ?? 0)})`;
  return 'unknown';
}

/** Metadata props as a plain object. */
export function metadataOf(model: ModelProto): Record<string, string> {
  return Object.fromEntries(model.metadataProps.map((e) => [e.key ?? '', e.value ?? '']));
}

/** An empty model skeleton with the given graph and opsets (ai.onnx when the domain is ''). */
export function modelOf(graph: GraphProto, opsets: Record<string, number>, opts: {
  irVersion?: number; producerName?: string; producerVersion?: string; docString?: string;
  metadata?: Record<string, string>;
} = {}): ModelProto {
  return {
    irVersion: opts.irVersion ?? 8,
    opsetImport: Object.entries(opsets).map(([domain, version]) => ({ domain, version })),
    producerName: opts.producerName ?? 'vafa',
    producerVersion: opts.producerVersion ?? '1',
    docString: opts.docString ?? '',
    graph,
    metadataProps: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
    trainingInfo: [],
    functions: [],
  };
}

/** A graph from nodes, initializers, inputs and outputs. */
export function graphOf(name: string, parts: {
  nodes: NodeProto[]; initializers?: TensorProto[]; inputs: ValueInfoProto[]; outputs: ValueInfoProto[];
  valueInfo?: ValueInfoProto[];
}): GraphProto {
  return {
    name, node: parts.nodes, initializer: parts.initializers ?? [], sparseInitializer: [], input: parts.inputs,
    output: parts.outputs, valueInfo: parts.valueInfo ?? [], quantizationAnnotation: [], metadataProps: [],
  };
}
