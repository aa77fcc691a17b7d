/**
 * config/schema/: the pure part of config/, which scorer/core imports: the policy files' schemas, types and
 * parsers (`parseRules`, `parseLifecycleConfig`, `parseOffers`: every problem as `file:line:column: path:
 * message` in a `ConfigError`), the rules timeline of reloads, the features' configuration, the calendar
 * notation and what the engine runs with (`EngineConfig`). It reads no file: config/policy.ts does.
 */
export { DAY_MS, DOW_NAMES, dowIndex, parseClock, parseOffset, type DowName } from './calendar.js';
export { ConfigError, issuesText, type ConfigIssue } from './config-error.js';
export { ENGINE_TIMING, loyaltyConfig, offersConfig, type EngineConfig, type LoyaltyConfig, type OffersConfig } from './engine.js';
export { DEFAULT_FEATURE_CONFIG, featureConfig, PRODUCT_CODES, type FeatureConfig } from './features.js';
export { LifecycleConfigError, LifecycleFileSchema, parseLifecycleConfig, type LifecycleConfig, type LifecycleFile } from './lifecycle.js';
export { DEFAULT_REVERSAL_WINDOW_DAYS, parseRules, RulesError, RulesFileSchema, type CompiledRule, type Condition, type LoyaltyRules, type RulesFile, type RuleSpec, type TierDef } from './loyalty-rules.js';
export {
  DEFAULT_CONSENT, emptyCatalogue, OCCASIONS, OFFER_PURPOSES, OFFER_STAGES, OFFER_TRIGGERS, OffersConfigError, OffersFileSchema, parseOffers, SURVEY_SCALES,
  type ChannelCap, type NumRange, type Occasion, type OfferDef, type OfferPurpose, type OffersCatalogue, type OffersFile, type OfferSpec, type OfferTrigger, type SurveyScale,
} from './offers.js';
export { RulesTimeline, type TimelineEntry } from './rules-timeline.js';
export { parseYamlConfig, schemaIssues, type Path, type YamlConfigOptions, type YamlConfigResult } from './yaml-config.js';
