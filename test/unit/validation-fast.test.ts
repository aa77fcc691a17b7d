/**
 * The validator's fast path (a shallow copy or the body itself, the schema's top-level defaults, the
 * compiled check) gives what the full path gives: TypeBox's `Value.Default` on a deep copy, then the check.
 * Checked on a simulated bank's bodies, on those bodies changed at random, and on schemas the fast path
 * must leave to the full one.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Type, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { CustomerProfileV1, FeedbackV1, RedemptionV1, TransactionV1 } from '../../contracts/events.js';
import { Validator } from '../../ingest/mod.js';
import { shallowCopy } from '../../ingest/validation.js';
import { createBank } from '../../simulator/mod.js';

type Kind = 'transaction' | 'profile' | 'feedback' | 'redemption';
const SCHEMAS: Record<Kind, TSchema> = { transaction: TransactionV1, profile: CustomerProfileV1, feedback: FeedbackV1, redemption: RedemptionV1 };
const VALIDATORS = Object.fromEntries(Object.entries(SCHEMAS).map(([k, s]) => [k, new Validator<unknown>(s)])) as Record<Kind, Validator<unknown>>;

/** The simulated bank's bodies: its profiles and the first months of its events, each kind kept. */
function corpus(): { kind: Kind; body: Record<string, unknown> }[] {
  const bank = createBank({ customers: 40, days: 90, seed: 11, start: new Date('2026-01-01T00:00:00Z') });
  const out: { kind: Kind; body: Record<string, unknown> }[] = bank.profiles().map((p) => ({ kind: 'profile' as const, body: JSON.parse(JSON.stringify(p)) as Record<string, unknown> }));
  for (const e of bank.events()) out.push({ kind: e.kind as Kind, body: JSON.parse(JSON.stringify(e.body)) as Record<string, unknown> });
  return out;
}
const BODIES = corpus();

/** What the full path gives: the defaulted deep copy when it passes the schema, else undefined. */
function reference(schema: TSchema, body: unknown): string | undefined {
  const value: unknown = Value.Default(schema, structuredClone(body));
  return Value.Check(schema, value) ? JSON.stringify(value) : undefined;
}

function expectSameAsFullPath(kind: Kind, body: Record<string, unknown>): void {
  const before = JSON.stringify(body);
  const expected = reference(SCHEMAS[kind], body);
  const checked = VALIDATORS[kind].validate(body);
  expect(JSON.stringify(body)).toBe(before);
  expect(checked.ok ? JSON.stringify(checked.value) : undefined).toBe(expected);
  if (!checked.ok) expect(checked.errors.length).toBeGreaterThan(0);
  const owned = structuredClone(body);
  const ownedChecked = VALIDATORS[kind].validateOwned(owned);
  expect(ownedChecked).toEqual(checked);
}

describe('Validator: the fast path gives what the full path gives', () => {
  it('the simulated bank has every kind, and transactions without a status', () => {
    const kinds = new Set(BODIES.map((b) => b.kind));
    expect([...kinds].sort()).toEqual(['feedback', 'profile', 'redemption', 'transaction']);
    expect(BODIES.length).toBeGreaterThan(1_000);
  });

  it('on every body of the simulated bank, as sent and with the default left out', () => {
    for (const { kind, body } of BODIES) {
      expectSameAsFullPath(kind, body);
      if (kind === 'transaction') {
        const { status: _status, ...without } = body;
        expectSameAsFullPath(kind, without);
        expect(VALIDATORS.transaction.validate(without)).toMatchObject({ ok: true, value: { status: 'approved' } });
      }
    }
  });

  it('on those bodies with fields taken out, changed to any JSON value, or added', () => {
    const changes = fc.array(fc.tuple(fc.nat(), fc.oneof(fc.constant(undefined), fc.jsonValue({ maxDepth: 2 })), fc.boolean()), { maxLength: 3 });
    fc.assert(fc.property(fc.nat(BODIES.length - 1), changes, (at, edits) => {
      const { kind, body } = BODIES[at]!;
      const changed: Record<string, unknown> = structuredClone(body);
      const keys = Object.keys(changed);
      for (const [k, value, added] of edits) {
        const key = added ? `extra_${k % 3}` : keys[k % keys.length]!;
        if (value === undefined) delete changed[key];
        else changed[key] = value;
      }
      expectSameAsFullPath(kind, changed);
    }), { numRuns: 2_000 });
  });

  it('a body the fast path passes is copied, not changed; an owned one is filled in place', () => {
    const body: Record<string, unknown> = structuredClone(BODIES.find((b) => b.kind === 'transaction')!.body);
    delete body.status;
    const copied = VALIDATORS.transaction.validate(body);
    expect(copied.ok && copied.value).not.toBe(body);
    expect(body.status).toBeUndefined();
    const owned = VALIDATORS.transaction.validateOwned(body);
    expect(owned.ok && owned.value).toBe(body);
    expect(body.status).toBe('approved');
  });

  it('leaves to the full path a default below the top level, an object default, and an intersection', () => {
    const nested = new Validator<unknown>(Type.Object({ a: Type.Object({ b: Type.String({ default: 'x' }) }) }, { additionalProperties: false }));
    const input = { a: {} };
    expect(nested.validate(input)).toEqual({ ok: true, value: { a: { b: 'x' } } });
    expect(input).toEqual({ a: {} });
    const objectDefault = new Validator<unknown>(Type.Object({ a: Type.Optional(Type.Object({ b: Type.Number() }, { default: { b: 1 } })) }));
    const first = objectDefault.validate({});
    const second = objectDefault.validate({});
    expect(first).toEqual({ ok: true, value: { a: { b: 1 } } });
    expect(first.ok && second.ok && first.value !== second.value && (first.value as { a: object }).a !== (second.value as { a: object }).a).toBe(true);
    const intersect = new Validator<unknown>(Type.Object({ i: Type.Intersect([Type.Object({ x: Type.Number() }), Type.Object({ y: Type.Number({ default: 2 }) })]) }));
    expect(intersect.validate({ i: { x: 1 } })).toEqual({ ok: true, value: { i: { x: 1, y: 2 } } });
  });

  it('errors name the field, as before', () => {
    const body = structuredClone(BODIES.find((b) => b.kind === 'transaction')!.body);
    body.amount_minor = 'ten';
    const checked = VALIDATORS.transaction.validate(body);
    expect(checked.ok).toBe(false);
    expect(!checked.ok && checked.errors.map((e) => e.field)).toContain('amount_minor');
    expect(VALIDATORS.transaction.validate([])).toEqual({ ok: false, errors: [{ field: '(body)', message: 'expected a JSON object' }] });
  });

  it('a body with an own __proto__ key is refused for it, and its prototype is left alone', () => {
    const body = JSON.parse('{"tx_id":"t-1","customer_id":"c-1","channel":"pos","amount_minor":1,"currency":"USD","occurred_at":"2026-01-01T00:00:00Z","__proto__":{"polluted":true}}') as Record<string, unknown>;
    const checked = VALIDATORS.transaction.validate(body);
    expect(checked.ok).toBe(false);
    expect(!checked.ok && checked.errors.map((e) => e.field)).toContain('__proto__');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(body)).toBe(Object.prototype);
  });
});

describe('shallowCopy is a spread', () => {
  const key = fc.oneof(fc.constantFrom('__proto__', 'constructor', 'toString', 'status', '0', '12'), fc.string({ maxLength: 6 }));
  it('the same own keys in the same order, the same values, the same prototype', () => {
    fc.assert(fc.property(fc.array(fc.tuple(key, fc.jsonValue()), { maxLength: 12 }), fc.boolean(), (entries, withSymbol) => {
      const input: Record<string | symbol, unknown> = {};
      for (const [k, v] of entries) Object.defineProperty(input, k, { value: v, enumerable: true, writable: true, configurable: true });
      const hidden = Symbol('s');
      if (withSymbol) input[hidden] = 1;
      Object.defineProperty(input, 'notEnumerable', { value: 1, enumerable: false });
      const copy = shallowCopy(input);
      const spread = { ...input };
      expect(Object.getPrototypeOf(copy)).toBe(Object.getPrototypeOf(spread));
      expect(Reflect.ownKeys(copy)).toEqual(Reflect.ownKeys(spread));
      for (const k of Reflect.ownKeys(spread)) expect((copy as Record<string | symbol, unknown>)[k]).toBe((spread as Record<string | symbol, unknown>)[k]);
    }), { numRuns: 500 });
  });
});
