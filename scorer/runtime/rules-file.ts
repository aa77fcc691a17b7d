/**
 * Hot reload of a loyalty rules file into the engine's `RulesTimeline` from a stream position the runtime
 * recorded. The file is read and validated by `config/policy.ts` (errors name the line); a bad file is
 * refused and the rules in force stay.
 */
import { reloadPolicyFile } from '../../config/mod.js';
import type { ConfigIssue, LoyaltyRules, RulesTimeline } from '../../config/schema/mod.js';

export type ReloadResult =
  /** The new rules apply from `fromSeq`. */
  | { status: 'applied'; version: string; fromSeq: number }
  /** The file's rules are the ones already in force (same version, same content): nothing to do. */
  | { status: 'unchanged'; version: string }
  /** Refused: the timeline is untouched and the running rules stay. `error` names the line where it can. */
  | { status: 'refused'; error: string; issues?: ConfigIssue[] };

/**
 * Reloads `path` into `timeline` from stream sequence `fromSeq` (the runtime records it: the `TX` stream's
 * last sequence at reload time + 1, persisted with the timeline so a replay applies the same rules at the
 * same positions). Never throws.
 */
export async function reloadRulesFile(path: string, timeline: RulesTimeline, fromSeq: number): Promise<ReloadResult> {
  const read = await reloadPolicyFile('rules', path);
  return read.status === 'applied' ? applyRules(timeline, read.value, fromSeq) : read;
}

/** Appends already-validated rules to the timeline (refusing a reused version with other content). */
export function applyRules(timeline: RulesTimeline, rules: LoyaltyRules, fromSeq: number): ReloadResult {
  const same = timeline.entries.find((e) => e.version === rules.version);
  if (same) {
    if (JSON.stringify(same.rules) === JSON.stringify(rules)) {
      if (timeline.latest.version === rules.version) return { status: 'unchanged', version: rules.version };
      return { status: 'refused', error: `rules version ${rules.version} was in force earlier: give the file a new version to bring its rules back` };
    }
    return { status: 'refused', error: `rules version ${rules.version} is already in force with other content: change version with every edit` };
  }
  try {
    timeline.add({ version: rules.version, fromSeq, rules });
  } catch (err) {
    return { status: 'refused', error: (err as Error).message };
  }
  return { status: 'applied', version: rules.version, fromSeq };
}
