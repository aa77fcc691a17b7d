/**
 * config/: the settings from the environment (`settings.ts`), the warehouse's retention (`retention.ts`) and
 * the bank's policy (`policy.ts`): the one path that reads the policy files (`config/*.yaml` or the bank's
 * own), validates them through config/schema/ and hands the engine one frozen `Policy`. Importing it reads
 * no file: the shipped policy is read on first use (`shippedPolicy()`, `defaultEngineConfig()`). The pure
 * schemas and parsers have their own surface, config/schema/mod.ts.
 */
export { DEMO_TOKEN_KEY, ENV_NAMES, loadSettings, readFlag, SettingsError, SettingsSchema, UsageError, type Settings } from './settings.js';
export { MAX_RETENTION_DAYS, parseRetention, RETENTION_DEFAULTS, RETENTION_OFF, RetentionSettingError, type RetainedTable, type RetentionDays } from './retention.js';
export {
  buildEngineConfig, defaultEngineConfig, engineConfig, loadPolicy, policyOf, readPolicyFile, readPolicyFileSync, reloadPolicyFile, shippedPolicy, SHIPPED_PARTITIONS, SHIPPED_POLICY_FILES,
  type Policy, type PolicyFileKind, type PolicyFileReload, type PolicyFiles, type PolicyFileValue,
} from './policy.js';
