/**
 * The error of an invalid configuration file or text: every problem (up to 30) with its line, column and
 * path, as `file:line:column: path: message`, one problem a line. Shared by the loyalty rules, the
 * lifecycle thresholds and the offer catalogue (their parsers are `config/schema/`'s, which the pure core
 * may import); `config/schema/yaml-config.ts` re-exports it. The message is what an operator
 * reads (CLI, logs, the 422 detail of a refused reload): keep its shape.
 */

/** One problem of a configuration file. */
export interface ConfigIssue {
  /** 1-based; 0 when unknown (a typed object, not a file). */
  line: number;
  column: number;
  /** e.g. `rules[2].award.fixed`; `(file)` for the whole file, `(yaml)` for a syntax error. */
  path: string;
  message: string;
}

/** `file:line:column: path: message`, one problem a line. */
export function issuesText(source: string, issues: readonly ConfigIssue[]): string {
  return issues.map((i) => `${source}:${i.line}:${i.column}: ${i.path}: ${i.message}`).join('\n');
}

/** A configuration file (or typed config object) is invalid; `issues` says where and why. */
export class ConfigError extends Error {
  override readonly name: string = 'ConfigError';
  constructor(readonly source: string, readonly issues: ConfigIssue[]) {
    super(issuesText(source, issues));
  }
}
