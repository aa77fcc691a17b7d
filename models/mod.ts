/**
 * models/: the model format the scorer serves and the trainers write (docs/ARCHITECTURE.md, "Folders"):
 * the `vafa.model/v1` manifest, the input mapping from the feature catalogue, calibration and the ONNX
 * schema. Code outside models/ imports it through this file (lint: `layers/imports`).
 */
export { calibrator, fitIsotonic, fitPlatt, type Calibration } from './calibration.js';
export { MANIFEST_FORMAT, ModelRefusedError, parseManifest, type FeatureScale, type Manifest } from './manifest.js';
export { columnNames, columnScales, compileMapping, entryWidth, type CompiledMapping } from './mapping.js';
export { DataType, ML_DOMAIN, decodeModel, describeType, encodeModel, floatTensor, floatsAttribute, graphOf, intsAttribute, modelOf, node, stringsAttribute, tensorDims, tensorValueInfo, zipMapValueInfo, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto } from './onnx/schema.js';
