/** Next-best offers: catalogue, engine, policy, ids and uplift (docs/offers.md). */
export * from '../../../config/schema/offers.js';
export * from './engine.js';
export * from './ids.js';
export * from './policy.js';
export * from './state.js';
export * from './uplift.js';
