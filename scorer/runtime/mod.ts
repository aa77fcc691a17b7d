/**
 * scorer/runtime/: the scorer's edges around the pure core (scorer/core/): one pull consumer per partition
 * in pipelined micro-batches (`worker.ts`), the service and its partition leases (`service.ts`,
 * `ownership.ts`), decoding the stream (`decode.ts`), checkpoints (`checkpoints.ts`), erasure in the
 * scorer's state and retained streams (`erasure.ts`), replay (`replay.ts`) and the loyalty rules' hot
 * reload (`rules-reload.ts`).
 *
 * This surface loads neither LMDB nor onnxruntime. The parts that do are loaded apart, each through its
 * own surface: the state store (`store/mod.ts`: LMDB), model serving (`model/mod.ts`: onnxruntime,
 * imported lazily where a model is configured) and the backfill (`backfill/mod.ts`: it opens the store).
 */
export { consumerName, DEFAULT_PIPELINE_DEPTH, DEFAULT_TIMER_SLICE, DeliveryGapError, FencedError, PartitionWorker, StateLostError, type BatchInfo, type BatchStages, type ChurnScorer, type WorkerDeps } from './worker.js';
export { ScorerService, type ScorerOptions, type ScorerStats } from './service.js';
export { chooseOwner, PartitionOwnership, type Fence, type OwnershipOptions } from './ownership.js';
export { decodeTx, type Decoded } from './decode.js';
export { CHECKPOINT_BUCKET, CHECKPOINT_FORMAT, CheckpointError, FileCheckpointStore, NatsCheckpointStore, type CheckpointStore } from './checkpoints.js';
export { forgetInScorer, scorerEraser, ScorerErasureTimeoutError, type EraserOptions, type ForgetOptions, type ForgottenEverywhere } from './erasure.js';
export { StreamScanTimeoutError } from './retained-erasure.js';
export { SnapshotNotCoveredError, SnapshotStillHoldsError } from './store/snapshot-erasure.js';
export { parseReplayFrom, replay, type ReplayFrom, type ReplayOptions, type ReplaySummary } from './replay.js';
export { publishRules, watchRulesFile, type RefusalReason, type RulesPublishResult, type RulesRefusal, type RulesWatchOptions } from './rules-reload.js';
