/**
 * training/: the TypeScript trainers and what they need (docs/ARCHITECTURE.md, "Folders"): data sets from
 * history, splits, gradient-boosted trees, metrics and reports, the churn oracle, the explainer the scorer
 * serves (`reasons.ts`) and the export to ONNX. Code outside training/ imports it through this file
 * (lint: `layers/imports`).
 */
export { selectRows, timeSplit, type ChurnDataset, type Holdout } from './data.js';
export { buildChurnDataset, historyMessages, type ChurnTruth, type HistoryEvent } from './dataset.js';
export type { GbtParams } from './gbt.js';
export { rocAuc } from './metrics.js';
export { oracleProbability } from './oracle.js';
export { EXPLAIN_FORMAT, expectedValues, explain, type Explainer, type Explanation, type Reason } from './reasons.js';
export { calibrationChart, htmlReport, rocChart, rocCurve } from './report.js';
export { syntheticChurnData } from './synthetic.js';
export { TableError, readTable, tabularDataset, type EncodedColumn } from './table.js';
export { trainChurnModel, writeChurnModel, type MetricsReport } from './train.js';
