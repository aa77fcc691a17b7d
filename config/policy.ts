/**
 * The bank's policy, read from YAML: the loyalty rules, the lifecycle thresholds and the offer catalogue.
 * Every policy file is read here, synchronously at start-up or asynchronously for a reload, and validated
 * by its parser in `config/schema/` (errors name the file and line: `ConfigError`). The result is one frozen
 * `Policy` the engine runs with. The defaults are the shipped files beside this module (`shippedPolicy()`,
 * `defaultEngineConfig()`, read on first use): there is no TypeScript copy of them, and the core reads no file.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import {
  ConfigError, ENGINE_TIMING, featureConfig, loyaltyConfig, offersConfig, parseLifecycleConfig, parseOffers, parseRules, RulesTimeline,
  type ConfigIssue, type EngineConfig, type FeatureConfig, type LifecycleConfig, type LoyaltyConfig, type LoyaltyRules, type OffersCatalogue, type OffersConfig,
} from './schema/mod.js';

/** Each kind of policy file and its parser (text and file name in, validated and compiled value out). */
const PARSERS = { rules: parseRules, lifecycle: parseLifecycleConfig, offers: parseOffers } as const;

export type PolicyFileKind = keyof typeof PARSERS;
export type PolicyFileValue<K extends PolicyFileKind> = ReturnType<(typeof PARSERS)[K]>;

/** Where the three policy files are (`Settings` has these fields: `VAFA_RULES`, `VAFA_LIFECYCLE`, `VAFA_OFFERS`). */
export interface PolicyFiles {
  rulesPath: string;
  lifecyclePath: string;
  offersPath: string;
}

/** The shipped policy files, `config/*.yaml`. */
export const SHIPPED_POLICY_FILES: Readonly<PolicyFiles> = Object.freeze({
  rulesPath: fileURLToPath(new URL('./loyalty-rules.yaml', import.meta.url)),
  lifecyclePath: fileURLToPath(new URL('./lifecycle.yaml', import.meta.url)),
  offersPath: fileURLToPath(new URL('./offers.yaml', import.meta.url)),
});

/** Partitions of `tx.>` the shipped defaults split budgets over: `VAFA_PARTITIONS`'s default. */
export const SHIPPED_PARTITIONS = 8;

/** Reads and validates a policy file; throws `ConfigError` (every problem with its line) or the I/O error. */
export function readPolicyFileSync<K extends PolicyFileKind>(kind: K, path: string): PolicyFileValue<K> {
  return PARSERS[kind](readFileSync(path, 'utf8'), path) as PolicyFileValue<K>;
}

/** `readPolicyFileSync` without blocking, for a reload. */
export async function readPolicyFile<K extends PolicyFileKind>(kind: K, path: string): Promise<PolicyFileValue<K>> {
  return PARSERS[kind](await readFile(path, 'utf8'), path) as PolicyFileValue<K>;
}

export type PolicyFileReload<T> =
  | { status: 'applied'; value: T }
  /** Refused: what is in force stays. `error` names the file, and the line where it can. */
  | { status: 'refused'; error: string; issues?: ConfigIssue[] };

/** Reads a policy file for a reload; never throws. */
export async function reloadPolicyFile<K extends PolicyFileKind>(kind: K, path: string): Promise<PolicyFileReload<PolicyFileValue<K>>> {
  try {
    return { status: 'applied', value: await readPolicyFile(kind, path) };
  } catch (err) {
    if (err instanceof ConfigError) return { status: 'refused', error: err.message, issues: err.issues };
    return { status: 'refused', error: `${path}: ${(err as Error).message}` };
  }
}

/** What the engine runs with, frozen; budgets are split over `partitions`. */
export interface Policy {
  /** The rules timeline (reloads append to it at recorded stream positions) and the partition count. */
  readonly loyalty: LoyaltyConfig;
  readonly lifecycle: LifecycleConfig;
  readonly offers: OffersConfig;
  /** Product codes and the rules' tiers, lowest first. */
  readonly features: FeatureConfig;
  /** The bank's time offset and first day of the week, from the rules file (reporting views, periods). */
  readonly calendar: Readonly<{ offsetMin: number; weekStart: number }>;
}

/**
 * The policy of already-validated parts (the rules may be a timeline that already holds reloads). The
 * policy and its configs are frozen; the compiled rules, lifecycle and catalogue inside are not (freezing
 * them deeply cost the core a few per cent of CPU an event in bench/core.ts).
 */
export function policyOf(parts: { rules: LoyaltyRules | RulesTimeline; lifecycle: LifecycleConfig; offers: OffersCatalogue }, partitions: number): Policy {
  const timeline = parts.rules instanceof RulesTimeline ? parts.rules : RulesTimeline.of(parts.rules);
  const rules = timeline.latest.rules;
  return Object.freeze({
    loyalty: Object.freeze(loyaltyConfig(timeline, partitions)),
    lifecycle: parts.lifecycle,
    offers: Object.freeze(offersConfig(parts.offers, partitions)),
    features: featureConfig(rules.tiers.map((tier) => tier.id)),
    calendar: Object.freeze({ offsetMin: rules.offsetMin, weekStart: rules.weekStart }),
  });
}

/** Reads and validates the three files; throws `ConfigError` naming the file and line of every problem. */
export function loadPolicy(files: PolicyFiles, partitions: number): Policy {
  return policyOf({
    rules: readPolicyFileSync('rules', files.rulesPath),
    lifecycle: readPolicyFileSync('lifecycle', files.lifecyclePath),
    offers: readPolicyFileSync('offers', files.offersPath),
  }, partitions);
}

/** The engine's configuration: the default timing (`ENGINE_TIMING`) and `policy`. */
export function engineConfig(policy: Policy): EngineConfig {
  return Object.freeze({ ...ENGINE_TIMING, ...policy });
}

/** The engine's configuration from the files and partition count the settings name. */
export function buildEngineConfig(settings: PolicyFiles & { partitions: number }): EngineConfig {
  return engineConfig(loadPolicy(settings, settings.partitions));
}

let shipped: Policy | undefined;
let shippedEngine: EngineConfig | undefined;

/**
 * The shipped policy (`config/*.yaml`, 8 partitions), read on first use and kept (importing this module
 * reads no file); throws `ConfigError` as `loadPolicy` does.
 */
export function shippedPolicy(): Policy {
  return (shipped ??= loadPolicy(SHIPPED_POLICY_FILES, SHIPPED_PARTITIONS));
}

/** The engine's configuration for the shipped policy, built on first use and kept: what a scorer started without policy settings runs. */
export function defaultEngineConfig(): EngineConfig {
  return (shippedEngine ??= engineConfig(shippedPolicy()));
}
