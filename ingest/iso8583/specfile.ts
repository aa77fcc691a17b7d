/**
 * A bank's spec file: a dialect to start from, the fields and wire options its switch does
 * differently, and its mapping tables. Every error names the field, option or table entry, and the
 * line in the file (docs/iso8583.md describes the format).
 */
import { readFile, stat } from 'node:fs/promises';
import { DEFAULT_DIALECT, DIALECT_NAMES, DIALECTS, type Dialect, type DialectName } from './dialects.js';
import { jsonKeyLines, lineOf } from './jsonlines.js';
import type { MappingTables } from './mapping.js';
import { checkFieldNumber, defineField, Iso8583SpecError, resolveOptions, type FieldSpec, type Iso8583Options, type Iso8583Spec } from './spec.js';
import { dialectTables, parseTables } from './tables.js';

/** Largest spec file read. */
export const MAX_SPEC_FILE_BYTES = 1_000_000;

/** A loaded configuration: field definitions, wire options and mapping tables. */
export interface Iso8583Config {
  /** The dialect the file extends (`iso8583:1987` when it names none and lists fields over it). */
  dialect: DialectName | 'none';
  spec: Iso8583Spec;
  options: Iso8583Options;
  tables: MappingTables;
}

const DOC_KEYS = ['extends', 'options', 'fields', 'tables', 'name', 'description'];

/** The configuration of a built-in dialect as is. */
export function dialectConfig(name: DialectName = DEFAULT_DIALECT.name): Iso8583Config {
  const d = DIALECTS[name];
  return { dialect: d.name, spec: d.spec, options: d.options, tables: dialectTables(d) };
}

/**
 * Validates a spec document:
 * `{ "extends"?: "iso8583:1987" | "iso8583:1987-binary" | "iso8583:1993" | "base24", "options"?: {...},
 *    "fields"?: { "35": "z..37", "48": {"format": "ans...999", "encoding": "ebcdic"}, "60": null },
 *    "tables"?: {...} }`.
 * With `extends`, the listed fields replace the dialect's, `null` removes one, and options and tables
 * apply over the dialect's; without it, the listed fields are the whole spec (1987's options and tables
 * apply). Every error names the field, option or table path it is about.
 */
export function parseSpecConfig(doc: unknown): Iso8583Config {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Iso8583SpecError('(document)', 'must be a JSON object');
  const d = doc as Record<string, unknown>;
  for (const k of Object.keys(d)) {
    if (!DOC_KEYS.includes(k)) throw new Iso8583SpecError(k, `is not a spec document key (${DOC_KEYS.join(', ')})`);
  }
  if (d.extends !== undefined && !(DIALECT_NAMES as readonly unknown[]).includes(d.extends)) {
    throw new Iso8583SpecError('extends', `must be one of the dialects ${DIALECT_NAMES.join(', ')}`);
  }
  const dialect: Dialect | undefined = d.extends !== undefined ? DIALECTS[d.extends as DialectName] : undefined;
  if (!dialect && d.fields === undefined) throw new Iso8583SpecError('fields', 'is required without "extends"');
  if (d.fields !== undefined && (typeof d.fields !== 'object' || d.fields === null || Array.isArray(d.fields))) {
    throw new Iso8583SpecError('fields', 'must be an object of field number → definition');
  }
  const out: Record<number, FieldSpec> = dialect ? { ...(dialect.spec as Record<number, FieldSpec>) } : {};
  for (const [k, v] of Object.entries((d.fields ?? {}) as Record<string, unknown>)) {
    const n = checkFieldNumber(k);
    if (v === null) delete out[n];
    else out[n] = defineField(k, v);
  }
  const base = dialect ?? DEFAULT_DIALECT;
  const options = resolveOptions({ ...optionsAsInput(base.options), ...asObject(d.options, 'options') });
  const tables = d.tables === undefined ? dialectTables(base) : parseTables(d.tables, dialectTables(base));
  return { dialect: dialect ? dialect.name : 'none', spec: Object.freeze(out), options, tables };
}

function asObject(v: unknown, where: string): Record<string, unknown> {
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Iso8583SpecError(where, 'must be an object');
  return v as Record<string, unknown>;
}

/** A dialect's resolved options written back as spec-file input (so that a file's options apply over them). */
function optionsAsInput(o: Iso8583Options): Record<string, unknown> {
  const { messageHeader, trailer, ...rest } = o;
  return { ...rest, ...(messageHeader ? { messageHeader: { ...messageHeader } } : {}), ...(trailer ? { trailer } : {}) };
}

/** Reads and validates a bank's spec file (see {@link parseSpecConfig}); errors carry the file's line. */
export async function loadSpecFile(path: string): Promise<Iso8583Config> {
  const size = (await stat(path)).size;
  if (size > MAX_SPEC_FILE_BYTES) throw new Iso8583SpecError('(document)', `${path} is ${size} bytes, over the limit of ${MAX_SPEC_FILE_BYTES}`);
  const text = await readFile(path, 'utf8');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new Iso8583SpecError('(document)', `${path} is not valid JSON: ${(err as Error).message}`);
  }
  try {
    return parseSpecConfig(doc);
  } catch (err) {
    if (err instanceof Iso8583SpecError) throw new Iso8583SpecError(err.field, `${err.reason} (in ${path})`, lineOf(jsonKeyLines(text), err.field));
    throw err;
  }
}
