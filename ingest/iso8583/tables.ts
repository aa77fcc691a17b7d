/**
 * Validation of the mapping tables a bank writes in its spec file (`"tables"`): each is merged over
 * the dialect's defaults, and every error names its path (and, from a file, its line).
 */
import { CHANNELS, type Channel } from '../../contracts/events.js';
import type { Dialect, MessageClass, OriginalDataPart, TransactionKey } from './dialects.js';
import {
  DEFAULT_TABLES, DIRECTIONS, type CurrencyInfo, type Direction, type EcommerceRule, type MappingTables, type MccRule, type ProcessingRule,
} from './mapping.js';
import { Iso8583SpecError } from './spec.js';

/** Limits on what a tables section may hold. */
export const TABLE_LIMITS = Object.freeze({ entries: 10_000, listItems: 1_000 });

const TABLE_KEYS = [
  'messageClasses', 'processingCodes', 'ecommerce', 'mccRules', 'currencies', 'defaultCurrency', 'approvedResponseCodes', 'occurredAt',
  'mccFields', 'originalData', 'transactionKey', 'responseCodes', 'responseEchoFields',
] as const;
const CLASSES: readonly MessageClass[] = ['financial', 'completion', 'reversal', 'network'];
const PART_NAMES: readonly OriginalDataPart['name'][] = ['mti', 'stan', 'rrn', 'transmission', 'date', 'time', 'datetime12', 'acquirer', 'forwarder', 'filler'];

const fail = (path: string, reason: string): never => {
  throw new Iso8583SpecError(path, reason);
};

function object(path: string, v: unknown): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, 'must be an object');
  const o = v as Record<string, unknown>;
  if (Object.keys(o).length > TABLE_LIMITS.entries) fail(path, `has more than ${TABLE_LIMITS.entries} entries`);
  return o;
}

function list(path: string, v: unknown): unknown[] {
  if (!Array.isArray(v)) fail(path, 'must be a list');
  const a = v as unknown[];
  if (a.length > TABLE_LIMITS.listItems) fail(path, `has more than ${TABLE_LIMITS.listItems} items`);
  return a;
}

function strings(path: string, v: unknown, pattern: RegExp, what: string): string[] {
  return list(path, v).map((s, i) => {
    if (typeof s !== 'string' || !pattern.test(s)) fail(`${path}.${i}`, `must be ${what}`);
    return s as string;
  });
}

function field(path: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 2 || v > 128) fail(path, 'must be a field number from 2 to 128');
  return v as number;
}

function only(path: string, o: Record<string, unknown>, keys: readonly string[]): void {
  for (const k of Object.keys(o)) if (!keys.includes(k)) fail(`${path}.${k}`, `is not one of ${keys.join(', ')}`);
}

function channel(path: string, v: unknown): Channel {
  if (typeof v !== 'string' || !(CHANNELS as readonly string[]).includes(v)) fail(path, `must be a channel: ${CHANNELS.join(', ')}`);
  return v as Channel;
}

function processingCodes(path: string, v: unknown, base: MappingTables['processingCodes']): MappingTables['processingCodes'] {
  const out: Record<string, Channel | ProcessingRule> = { ...base };
  for (const [code, raw] of Object.entries(object(path, v))) {
    const p = `${path}.${code}`;
    if (!/^(\d{2}|\d{6})$/.test(code)) fail(p, 'a processing code is a 2-digit transaction type or a whole 6-digit code');
    if (raw === null) {
      delete out[code];
      continue;
    }
    if (typeof raw === 'string') {
      out[code] = channel(p, raw);
      continue;
    }
    const o = object(p, raw);
    only(p, o, ['direction', 'channel']);
    if (typeof o.direction !== 'string' || !DIRECTIONS.includes(o.direction as Direction)) fail(`${p}.direction`, `must be one of ${DIRECTIONS.join(', ')}`);
    out[code] = { direction: o.direction as Direction, ...(o.channel !== undefined ? { channel: channel(`${p}.channel`, o.channel) } : {}) };
  }
  return Object.freeze(out);
}

function messageClasses(path: string, v: unknown, base: MappingTables['messageClasses']): MappingTables['messageClasses'] {
  const out: Record<string, MessageClass> = { ...base };
  for (const [mti, raw] of Object.entries(object(path, v))) {
    const p = `${path}.${mti}`;
    if (!/^\d[0-9][02468]\d$/.test(mti)) fail(p, 'must be a four-digit request or advice MTI (third digit even)');
    if (raw === null) delete out[mti];
    else if (typeof raw !== 'string' || !CLASSES.includes(raw as MessageClass)) fail(p, `must be one of ${CLASSES.join(', ')} or null`);
    else out[mti] = raw as MessageClass;
  }
  return Object.freeze(out);
}

function currencies(path: string, v: unknown, base: MappingTables['currencies']): MappingTables['currencies'] {
  const out: Record<string, CurrencyInfo> = { ...base };
  for (const [num, raw] of Object.entries(object(path, v))) {
    const p = `${path}.${num}`;
    if (!/^\d{3}$/.test(num)) fail(p, 'must be an ISO 4217 numeric code (three digits)');
    if (raw === null) {
      delete out[num];
      continue;
    }
    const o = object(p, raw);
    only(p, o, ['alpha', 'exponent']);
    if (typeof o.alpha !== 'string' || !/^[A-Z]{3}$/.test(o.alpha)) fail(`${p}.alpha`, 'must be three capital letters (ISO 4217 alpha)');
    if (typeof o.exponent !== 'number' || !Number.isInteger(o.exponent) || o.exponent < 0 || o.exponent > 4) fail(`${p}.exponent`, 'must be a whole number from 0 to 4');
    out[num] = Object.freeze({ alpha: o.alpha as string, exponent: o.exponent as number });
  }
  return Object.freeze(out);
}

function ecommerce(path: string, v: unknown): MappingTables['ecommerce'] {
  const o = object(path, v);
  only(path, o, ['posEntryModes', 'posConditionCodes', 'rules']);
  const rules: EcommerceRule[] = o.rules === undefined ? [] : list(`${path}.rules`, o.rules).map((r, i) => {
    const p = `${path}.rules.${i}`;
    const ro = object(p, r);
    only(p, ro, ['field', 'offset', 'length', 'values']);
    const rule: EcommerceRule = { field: field(`${p}.field`, ro.field), values: strings(`${p}.values`, ro.values, /^.{1,99}$/, 'a list of 1–99 character values') };
    for (const k of ['offset', 'length'] as const) {
      const n = ro[k];
      if (n === undefined) continue;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < (k === 'length' ? 1 : 0) || n > 999) fail(`${p}.${k}`, 'must be a whole number of characters up to 999');
      rule[k] = n as number;
    }
    return rule;
  });
  return Object.freeze({
    posEntryModes: o.posEntryModes === undefined ? [] : strings(`${path}.posEntryModes`, o.posEntryModes, /^\d{2}$/, 'two digits'),
    posConditionCodes: o.posConditionCodes === undefined ? [] : strings(`${path}.posConditionCodes`, o.posConditionCodes, /^\d{2}$/, 'two digits'),
    ...(rules.length ? { rules } : {}),
  });
}

function mccRules(path: string, v: unknown): MccRule[] {
  return list(path, v).map((r, i) => {
    const p = `${path}.${i}`;
    const o = object(p, r);
    only(p, o, ['mcc', 'from', 'channel']);
    return {
      mcc: strings(`${p}.mcc`, o.mcc, /^\d{4}$/, 'four-digit MCCs'),
      from: list(`${p}.from`, o.from).map((c, j) => channel(`${p}.from.${j}`, c)),
      channel: channel(`${p}.channel`, o.channel),
    };
  });
}

function originalData(path: string, v: unknown): MappingTables['originalData'] {
  const o = object(path, v);
  only(path, o, ['field', 'parts']);
  const parts = list(`${path}.parts`, o.parts).map((raw, i): OriginalDataPart => {
    const p = `${path}.parts.${i}`;
    const po = object(p, raw);
    only(p, po, ['name', 'length']);
    if (typeof po.name !== 'string' || !PART_NAMES.includes(po.name as OriginalDataPart['name'])) fail(`${p}.name`, `must be one of ${PART_NAMES.join(', ')}`);
    const len = po.length;
    if (len !== 'LL' && (typeof len !== 'number' || !Number.isInteger(len) || len < 1 || len > 99)) fail(`${p}.length`, 'must be 1–99 digits or "LL"');
    return { name: po.name as OriginalDataPart['name'], length: len as number | 'LL' };
  });
  return { field: field(`${path}.field`, o.field), parts };
}

function transactionKey(path: string, v: unknown): TransactionKey {
  const o = object(path, v);
  only(path, o, ['reference', 'time', 'acquirer']);
  if (o.reference !== 'stan' && o.reference !== 'rrn') fail(`${path}.reference`, 'must be stan or rrn');
  if (o.time !== 'transmission' && o.time !== 'local' && o.time !== 'local12') fail(`${path}.time`, 'must be transmission, local or local12');
  if (typeof o.acquirer !== 'boolean') fail(`${path}.acquirer`, 'must be true or false');
  return { reference: o.reference as TransactionKey['reference'], time: o.time as TransactionKey['time'], acquirer: o.acquirer as boolean };
}

/** What the original data elements must hold for a transaction key to be rebuilt from them. */
function checkKeyAgainstLayout(key: TransactionKey, layout: NonNullable<MappingTables['originalData']>): void {
  const names = new Set(layout.parts.map((p) => p.name));
  const needs: string[] = [key.reference, ...(key.time === 'local' ? ['date', 'time'] : [key.time === 'local12' ? 'datetime12' : 'transmission']), ...(key.acquirer ? ['acquirer'] : [])];
  const missing = needs.filter((n) => !names.has(n as OriginalDataPart['name']));
  if (missing.length) fail('tables.originalData', `the transaction key needs ${missing.join(', ')} in the original data elements`);
}

/** The dialect's tables: the defaults with the dialect's message classes, codes and layouts. */
export function dialectTables(d: Dialect): MappingTables {
  const m = d.mapping;
  return {
    ...DEFAULT_TABLES, messageClasses: m.messageClasses, approvedResponseCodes: m.approvedResponseCodes, mccFields: m.mccFields,
    originalData: m.originalData, transactionKey: m.transactionKey, responseCodes: m.responseCodes,
  };
}

/** Validates a spec file's `tables` section and merges it over `base` (maps merge, `null` removes; lists replace). */
export function parseTables(raw: unknown, base: MappingTables): MappingTables {
  const path = 'tables';
  const o = object(path, raw);
  only(path, o, TABLE_KEYS);
  const t: MappingTables = { ...base };
  if (o.messageClasses !== undefined) t.messageClasses = messageClasses(`${path}.messageClasses`, o.messageClasses, base.messageClasses);
  if (o.processingCodes !== undefined) t.processingCodes = processingCodes(`${path}.processingCodes`, o.processingCodes, base.processingCodes);
  if (o.ecommerce !== undefined) t.ecommerce = ecommerce(`${path}.ecommerce`, o.ecommerce);
  if (o.mccRules !== undefined) t.mccRules = mccRules(`${path}.mccRules`, o.mccRules);
  if (o.currencies !== undefined) t.currencies = currencies(`${path}.currencies`, o.currencies, base.currencies);
  if (o.defaultCurrency !== undefined) {
    if (typeof o.defaultCurrency !== 'string' || !t.currencies[o.defaultCurrency]) fail(`${path}.defaultCurrency`, 'must be a numeric code of the currency table');
    t.defaultCurrency = o.defaultCurrency as string;
  }
  if (o.approvedResponseCodes !== undefined) t.approvedResponseCodes = strings(`${path}.approvedResponseCodes`, o.approvedResponseCodes, /^[0-9A-Z]{2,3}$/, 'response codes (2–3 characters)');
  if (o.occurredAt !== undefined) {
    const oa = object(`${path}.occurredAt`, o.occurredAt);
    only(`${path}.occurredAt`, oa, ['prefer', 'localUtcOffset']);
    if (oa.prefer !== 'transmission' && oa.prefer !== 'local') fail(`${path}.occurredAt.prefer`, 'must be transmission or local');
    const offset = oa.localUtcOffset ?? '+00:00';
    if (typeof offset !== 'string' || !/^[+-]\d{2}:\d{2}$/.test(offset)) fail(`${path}.occurredAt.localUtcOffset`, 'must be an offset such as +03:30');
    t.occurredAt = { prefer: oa.prefer as 'transmission' | 'local', localUtcOffset: offset as string };
  }
  if (o.mccFields !== undefined) t.mccFields = list(`${path}.mccFields`, o.mccFields).map((f, i) => field(`${path}.mccFields.${i}`, f));
  if (o.originalData !== undefined) t.originalData = originalData(`${path}.originalData`, o.originalData);
  if (o.transactionKey !== undefined) t.transactionKey = transactionKey(`${path}.transactionKey`, o.transactionKey);
  if (o.responseCodes !== undefined) {
    const rc = object(`${path}.responseCodes`, o.responseCodes);
    const keys = ['approved', 'invalidTransaction', 'formatError', 'systemMalfunction'] as const;
    only(`${path}.responseCodes`, rc, keys);
    const codes = { ...(t.responseCodes ?? { approved: '00', invalidTransaction: '12', formatError: '30', systemMalfunction: '96' }) };
    for (const k of keys) {
      if (rc[k] === undefined) continue;
      if (typeof rc[k] !== 'string' || !/^[0-9A-Z]{2,3}$/.test(rc[k])) fail(`${path}.responseCodes.${k}`, 'must be a response code of 2–3 characters');
      codes[k] = rc[k] as string;
    }
    t.responseCodes = codes;
  }
  if (o.responseEchoFields !== undefined) t.responseEchoFields = list(`${path}.responseEchoFields`, o.responseEchoFields).map((f, i) => field(`${path}.responseEchoFields.${i}`, f));
  if (t.originalData && t.transactionKey) checkKeyAgainstLayout(t.transactionKey, t.originalData);
  return t;
}
