/**
 * Validated YAML config files with errors that name the line: parse with positions, check against a
 * TypeBox schema, and report every problem (up to 30) as `file:line:column: path: message`. Pure (no
 * I/O): the loyalty rules, the lifecycle thresholds and the offer catalogue all parse through it, in
 * `config/schema/` (which imports only `config/schema/` and `contracts/`); `config/policy.ts` reads the files.
 * The issue type and the error (`ConfigError`) are `config/schema/config-error.ts`'s, re-exported here.
 */
import type { TSchema, Static } from '@sinclair/typebox';
import { Value, ValueErrorType, type ValueError } from '@sinclair/typebox/value';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { ConfigIssue } from './config-error.js';

export type Path = (string | number)[];

export { ConfigError, issuesText, type ConfigIssue } from './config-error.js';

function pathText(path: Path): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s ? `.${p}` : p;
  return s || '(file)';
}

/** A JSON pointer (TypeBox error path) as a path. */
function pointerPath(p: string): Path {
  if (!p) return [];
  return p.replace(/^\//, '').split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~')).map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

/** Line and column of the deepest node on `path` that exists (a missing key points at its parent). */
function locate(doc: Document, lc: LineCounter, path: Path): { line: number; column: number } {
  let node: unknown = doc.contents;
  let pos = (doc.contents as Node | null)?.range ?? undefined;
  for (const [i, seg] of path.entries()) {
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      const keyRange = (pair.key as Node | null)?.range ?? undefined;
      const valueRange = (pair.value as Node | null)?.range ?? undefined;
      pos = last ? (keyRange ?? pos) : (valueRange ?? keyRange ?? pos);
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg];
      if (!item) break;
      node = item;
      pos = (item as Node).range ?? pos;
    } else {
      break;
    }
  }
  if (!pos) return { line: 1, column: 1 };
  const lp = lc.linePos(pos[0]);
  return { line: lp.line, column: lp.col };
}

/** What a schema error means, in words for the person editing the file. */
function describeValueError(e: ValueError, opts: YamlConfigOptions = {}): string {
  const schema = e.schema as { description?: string; anyOf?: { const?: unknown }[] };
  switch (e.type) {
    case ValueErrorType.ObjectRequiredProperty: return 'is required';
    case ValueErrorType.ObjectAdditionalProperties: return 'is not a known field here';
    case ValueErrorType.StringPattern: return `has the wrong format${schema.description ? `: expected ${schema.description}` : ''}`;
    case ValueErrorType.Union: {
      const allowed = (schema.anyOf ?? []).map((a) => a.const).filter((c) => c !== undefined);
      if (allowed.length) return `must be one of: ${allowed.join(', ')}`;
      return opts.unionHint?.(schema) ?? 'has the wrong shape';
    }
    case ValueErrorType.ArrayUniqueItems: return 'has duplicate items';
    case ValueErrorType.ArrayMinItems: return 'must not be empty';
    default: {
      const d = schema.description;
      return `${e.message.replace(/^Expected/, 'expected')}${opts.withDescription && d ? ` (${d})` : ''}`;
    }
  }
}

export interface YamlConfigOptions {
  /** Message for a union that is not a set of constants. */
  unionHint?: (schema: { anyOf?: unknown[] }) => string | undefined;
  /** Append the schema's description to generic messages. */
  withDescription?: boolean;
}

export type YamlConfigResult<T> =
  | { ok: true; value: T; at: (path: Path, message: string) => ConfigIssue }
  | { ok: false; issues: ConfigIssue[] };

const sortIssues = (issues: ConfigIssue[]): ConfigIssue[] => issues.sort((a, b) => a.line - b.line || a.column - b.column);

/**
 * Parses YAML text and validates it against `schema`. On success `at(path, message)` turns a path into
 * an issue with the line of that node, for the caller's own cross-field checks.
 */
export function parseYamlConfig<S extends TSchema>(text: string, schema: S, opts: YamlConfigOptions = {}): YamlConfigResult<Static<S>> {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length) {
    return {
      ok: false,
      issues: doc.errors.slice(0, 30).map((e) => {
        const lp = e.linePos?.[0] ?? lc.linePos(e.pos[0]);
        return { line: lp.line, column: lp.col, path: '(yaml)', message: e.message.split('\n')[0] ?? e.message };
      }),
    };
  }
  const raw: unknown = doc.toJS({ maxAliasCount: 100 });
  const at = (path: Path, message: string): ConfigIssue => ({ ...locate(doc, lc, path), path: pathText(path), message });
  if (!Value.Check(schema, raw)) return { ok: false, issues: sortIssues(schemaIssues(schema, raw, opts).map((i) => at(i.path, i.message))) };
  return { ok: true, value: raw, at };
}

/** What a compiler of a parsed file gives: its result, or its problems by path. */
export type CompileResult<T> = { ok: true; value: T } | { ok: false; issues: { path: Path; message: string }[] };

/**
 * Parses and validates `text` (see {@link parseYamlConfig}), then compiles it. Throws `fail(issues)` with
 * the schema's problems, or with the compiler's, each placed on its line, sorted by line and column.
 */
export function parseAndCompile<S extends TSchema, T>(
  text: string, schema: S, opts: YamlConfigOptions, compile: (raw: Static<S>) => CompileResult<T>, fail: (issues: ConfigIssue[]) => Error,
): T {
  const parsed = parseYamlConfig(text, schema, opts);
  if (!parsed.ok) throw fail(parsed.issues);
  const result = compile(parsed.value);
  if (!result.ok) throw fail(sortIssues(result.issues.map((i) => parsed.at(i.path, i.message))));
  return result.value;
}

/** Schema problems of a value, by path (one per path, at most 30). */
export function schemaIssues(schema: TSchema, value: unknown, opts: YamlConfigOptions = {}): { path: Path; message: string }[] {
  const out: { path: Path; message: string }[] = [];
  const seen = new Set<string>();
  for (const e of Value.Errors(schema, value)) {
    const path = pointerPath(e.path);
    const key = pathText(path);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ path, message: describeValueError(e, opts) });
    if (out.length >= 30) break;
  }
  return out;
}

export { sortIssues };
