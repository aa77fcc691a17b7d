/**
 * The lifecycle config file at the edge: read and validate `config/lifecycle.yaml` (errors name the
 * line); the pure parser is `scorer/core/lifecycle/config.ts`. The result goes into
 * `EngineConfig.lifecycle`.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { parseLifecycleConfig, type LifecycleConfig } from '../core/lifecycle/config.js';

export { LifecycleConfigError, DEFAULT_LIFECYCLE } from '../core/lifecycle/config.js';

/** Reads and validates a lifecycle file; throws `LifecycleConfigError` (every problem with its line) or the I/O error. */
export async function loadLifecycleFile(path: string): Promise<LifecycleConfig> {
  return parseLifecycleConfig(await readFile(path, 'utf8'), path);
}

/** Synchronous variant for process start-up. */
export function loadLifecycleFileSync(path: string): LifecycleConfig {
  return parseLifecycleConfig(readFileSync(path, 'utf8'), path);
}
