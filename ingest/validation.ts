/**
 * Per-item validation against the contract's TypeBox schemas (compiled once). Every error names the
 * field and what is wrong, so a bad item in a batch can be reported by index while the rest go through.
 */
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import { Value } from '@sinclair/typebox/value';
import { Kind, type TSchema } from '@sinclair/typebox';
import { CONSENT_CHANNELS, isRealDate } from '../contracts/events.js';

export interface FieldError {
  /** Dotted path of the offending field (`amount_minor`, `products.2`); `(body)` for the item itself. */
  field: string;
  message: string;
}

export type Checked<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

function describe(e: ValueError): FieldError {
  const field = e.path.replace(/^\//, '').replace(/\//g, '.') || '(body)';
  const schema = e.schema as { description?: string; pattern?: string; minimum?: number; maximum?: number };
  switch (e.type) {
    case ValueErrorType.ObjectRequiredProperty:
      return { field, message: 'is required' };
    case ValueErrorType.ObjectAdditionalProperties:
      return { field, message: 'is not a field of this event' };
    case ValueErrorType.Not:
      return { field, message: field.endsWith('card_token') ? 'looks like a raw card number (PAN): send a token, never the card number' : e.message };
    case ValueErrorType.StringPattern:
      if (field.endsWith('card_token')) return { field, message: 'looks like a raw card number (PAN): send a token, never the card number' };
      return { field, message: `has the wrong format${schema.description ? `: expected ${schema.description}` : ''}` };
    case ValueErrorType.Union: {
      const allowed = ((e.schema as { anyOf?: { const?: unknown }[] }).anyOf ?? []).map((a) => a.const).filter((c) => c !== undefined);
      return { field, message: allowed.length ? `must be one of: ${allowed.join(', ')}` : e.message };
    }
    default:
      return { field, message: e.message.replace(/^Expected/, 'expected') };
  }
}

/**
 * A compiled validator for one schema: applies the schema's defaults, then checks; never throws.
 *
 * The common case takes no deep copy: when every default of the schema sits on a top-level property and is
 * not an object, a body gets them on a shallow copy ({@link validate}) or in place ({@link validateOwned}),
 * and the compiled checker passes it. Anything else (a body that fails, a schema with a default below the
 * top level) takes the full path: TypeBox's `Value.Default` on a deep copy, then the errors. Both give the
 * same value; the fast one may share the body's nested objects (nothing downstream changes those).
 */
export class Validator<T> {
  private readonly check: TypeCheck<TSchema>;
  /** The top-level defaults, in the schema's property order; undefined when the fast path cannot apply them all. */
  private readonly topDefaults: readonly (readonly [key: string, value: unknown])[] | undefined;

  constructor(private readonly schema: TSchema) {
    this.check = TypeCompiler.Compile(schema);
    this.topDefaults = topLevelDefaults(schema);
  }

  /** The body checked, with the schema's defaults; the body itself is left as it was. */
  validate(input: unknown): Checked<T> {
    return this.run(input, false);
  }

  /**
   * The same as {@link validate} for a body that is the caller's alone to give away (freshly parsed): its
   * missing defaults are filled in place, so it is changed even when it fails.
   */
  validateOwned(input: unknown): Checked<T> {
    return this.run(input, true);
  }

  private run(input: unknown, owned: boolean): Checked<T> {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      return { ok: false, errors: [{ field: '(body)', message: 'expected a JSON object' }] };
    }
    const defaults = this.topDefaults;
    if (defaults !== undefined) {
      const value: Record<string, unknown> = owned ? input as Record<string, unknown> : shallowCopy(input);
      for (const [key, fallback] of defaults) if (value[key] === undefined) value[key] = fallback;
      if (this.check.Check(value)) return { ok: true, value: value as T };
    }
    return this.full(input);
  }

  private full(input: object): Checked<T> {
    let value: unknown;
    try {
      value = Value.Default(this.schema, structuredClone(input));
    } catch (err) {
      // structuredClone recurses: an object nested some thousands of levels deep overflows the stack.
      if (err instanceof RangeError) return { ok: false, errors: [{ field: '(body)', message: 'is nested too deeply to read' }] };
      throw err;
    }
    if (this.check.Check(value)) return { ok: true, value: value as T };
    const seen = new Set<string>();
    const errors: FieldError[] = [];
    for (const e of this.check.Errors(value)) {
      const fe = describe(e);
      if (seen.has(fe.field)) continue;
      seen.add(fe.field);
      errors.push(fe);
      if (errors.length >= 20) break;
    }
    return { ok: false, errors };
  }
}

/**
 * `{ ...input }`, made with `Object.assign`: on Node 20's V8 a spread's copy of a parsed body gets a map
 * outside the transition tree (no back pointer), and the reads of the copies after it (the compiled check,
 * `JSON.stringify`) slowed down accordingly: the check of a simulated transaction took 4.7 µs instead of
 * 0.36. Only an own `__proto__` (JSON.parse makes one) needs the spread, which defines it where
 * `Object.assign` would set the prototype.
 */
export function shallowCopy(input: object): Record<string, unknown> {
  return Object.hasOwn(input, '__proto__') ? { ...input } : Object.assign<Record<string, unknown>, object>({}, input);
}

/**
 * An object schema's top-level defaults (key and value, in property order) when the fast path gives what
 * `Value.Default` gives: every default a primitive on a property of the object itself. Undefined for any
 * other schema (not an object, a default on the object or below a property, one on additional properties,
 * or a kind whose defaulting rebuilds or looks elsewhere: an intersection, a reference, an import).
 */
function topLevelDefaults(schema: TSchema): (readonly [string, unknown])[] | undefined {
  const s = schema as { type?: unknown; properties?: Record<string, unknown>; default?: unknown; additionalProperties?: unknown };
  if (schema[Kind] !== 'Object' || s.properties === undefined || 'default' in s || !plainKinds(schema)) return undefined;
  if (typeof s.additionalProperties === 'object' && s.additionalProperties !== null && hasDefault(s.additionalProperties)) return undefined;
  const defaults: (readonly [string, unknown])[] = [];
  for (const key of Object.getOwnPropertyNames(s.properties)) {
    const property = s.properties[key] as Record<string, unknown>;
    if (Object.values(property).some(hasDefault)) return undefined;
    if (!('default' in property)) continue;
    const fallback = property.default;
    if ((typeof fallback === 'object' && fallback !== null) || typeof fallback === 'function') return undefined;
    defaults.push([key, fallback]);
  }
  return defaults;
}

const REBUILDING_KINDS = new Set(['Intersect', 'Ref', 'This', 'Import']);

/** Whether no schema in this one is of a kind in {@link REBUILDING_KINDS}. */
function plainKinds(schema: unknown): boolean {
  if (typeof schema !== 'object' || schema === null) return true;
  if (REBUILDING_KINDS.has(String((schema as Record<symbol, unknown>)[Kind]))) return false;
  return Object.values(schema).every(plainKinds);
}

/** Whether a schema (or anything below it) declares a default. */
function hasDefault(schema: unknown): boolean {
  if (typeof schema !== 'object' || schema === null) return false;
  return 'default' in schema || Object.values(schema).some(hasDefault);
}

/**
 * What the schema cannot say about a profile's membership and consent: each statement's `at` names a
 * real instant (`membership.at`, `consent.sms.at`, …).
 */
export function consentErrors(profile: Readonly<Record<string, unknown>>): FieldError[] {
  const errors: FieldError[] = [];
  const check = (field: string, statement: unknown): void => {
    const at = (statement as { at?: unknown } | undefined)?.at;
    if (typeof at === 'string' && !isRealDate(at)) errors.push({ field: `${field}.at`, message: 'is not a real date' });
  };
  check('membership', profile.membership);
  const consent = profile.consent as Readonly<Record<string, unknown>> | undefined;
  for (const channel of CONSENT_CHANNELS) check(`consent.${channel}`, consent?.[channel]);
  return errors;
}
