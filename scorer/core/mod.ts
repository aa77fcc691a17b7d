/**
 * scorer/core/: the pure scorer, `(state, event) → (state', outputs)` in event time (docs/ARCHITECTURE.md,
 * "Folders"): the engine and its two phases, the partition state, idempotency, erasure, and the domain
 * events it emits (`events.ts`, collected by `Emit`). Code outside scorer/core/ imports it through this file (lint: `layers/imports`); its
 * configuration is `config/schema/`.
 */
export { Engine, type Pending } from './engine.js';
export { eraseMentions, namesErased } from './erasure.js';
export { FEATURE_INDEX, FEATURE_VALUES, MODEL_FEATURE_NAMES, featureVector, featuresJson, type FeatureVector } from './features/engine.js';
export { heapPop, heapPush } from './heap.js';
export { InvariantError, item, f32, f64, i32, num, ownValue, setOwn, setOwnAll, u16, u32, u8 } from './invariant.js';
export { bankDay, dayOfWeek } from './loyalty/calendar.js';
export type { EarnRecord, Lot, RuleAward } from './loyalty/state.js';
export { openLoyalty, sealEarned, sealedEarned, sealLots, sealedLots, type SealedEarned, type SealedLots } from './loyalty/book.js';
export { offerHeaders, offerSubject } from './offers/engine.js';
export { firstCountingDay, mergedBucket, openSeen, HASH_CHARS, idHash, openedSeen, sealedSeen, sealSeen, seenDay, writeIdHash, type SealedSeen, type SeenIds } from './seen.js';
export { sha256Hex } from './sha256.js';
export { newPartitionState, type CustomerState, type PartitionState, type Timer } from './state.js';
export { DAY_MS, Emit, iso, parseTime, type Publish, type Score } from './types.js';
export type { CustomerSnapshot, DomainEvent, FeedbackRecorded, OfferConverted, OfferDecided, OfferHeld, PointsMoved, StageChanged, TierChanged, TransactionScored } from './events.js';
export { referralPublish } from './loyalty/referral.js';
export { ParseCache } from './memo.js';
