/**
 * scorer/runtime/model/: churn-model serving on onnxruntime, loaded apart from the rest of the scorer
 * (importing it loads onnxruntime's native library): the scorer's `ChurnScorer` with hot swap and reasons
 * (`churn.ts`), the ONNX loader behind it (`onnx.ts`), the registry and micro-batcher, and the reasons'
 * options. Its users import it lazily (`await import(…)`) where a model is configured: app/stack.ts,
 * cli/replay.ts, cli/backfill.ts and the backfill's worker threads.
 */
export { checkModelFeatures, loadChurnScorer, type ChurnScorerHandle, type ChurnScorerOptions, type ReloadOutcome } from './churn.js';
export { createBatcher, createModel, loadModel, ModelRefusedError, ModelRegistry, type Batcher, type BatcherOptions, type ChurnModel, type LoadOptions, type Manifest, type Score, type SwapOptions } from './onnx.js';
export { MAX_FEATURE_NAME, MAX_REASONS, ReasonsOptionError, type ReasonsOptions } from './reasons.js';
