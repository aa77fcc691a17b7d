/**
 * Per-item validation against the contract's TypeBox schemas (compiled once). Every error names the
 * field and what is wrong, so a bad item in a batch can be reported by index while the rest go through.
 */
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import { Value } from '@sinclair/typebox/value';
import type { TSchema } from '@sinclair/typebox';
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

/** A compiled validator for one schema: applies defaults, then checks; never throws. */
export class Validator<T> {
  private readonly check: TypeCheck<TSchema>;
  constructor(private readonly schema: TSchema) {
    this.check = TypeCompiler.Compile(schema);
  }

  validate(input: unknown): Checked<T> {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      return { ok: false, errors: [{ field: '(body)', message: 'expected a JSON object' }] };
    }
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
