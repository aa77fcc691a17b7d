/**
 * The scorer core's configuration from the files the settings name: loyalty rules, lifecycle thresholds
 * and the offer catalogue. Each file is validated; a bad one stops the start with a message naming the
 * file and line. Budgets are split by the real partition count.
 */
import type { Settings } from '../../config/settings.js';
import { DEFAULT_ENGINE_CONFIG, type EngineConfig } from '../core/engine.js';
import { loyaltyConfig } from '../core/loyalty/engine.js';
import { RulesTimeline } from '../core/loyalty/timeline.js';
import { offersConfig } from '../core/offers/engine.js';
import { loadRulesFileSync } from './rules-file.js';
import { loadLifecycleFileSync } from './lifecycle-config.js';
import { loadOffersFileSync } from './offers-file.js';

export function buildEngineConfig(settings: Pick<Settings, 'rulesPath' | 'lifecyclePath' | 'offersPath' | 'partitions'>): EngineConfig {
  return {
    ...DEFAULT_ENGINE_CONFIG,
    loyalty: loyaltyConfig(RulesTimeline.of(loadRulesFileSync(settings.rulesPath)), settings.partitions),
    lifecycle: loadLifecycleFileSync(settings.lifecyclePath),
    offers: offersConfig(loadOffersFileSync(settings.offersPath), settings.partitions),
  };
}
