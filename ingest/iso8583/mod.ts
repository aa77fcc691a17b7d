/**
 * ISO 8583 adapter: a TCP listener for payment-switch feeds, the codec and field specs it runs on, the
 * built-in dialects and bank spec files, and the mapping of financial messages, advices and reversals
 * to the v1 transaction event (docs/iso8583.md).
 */
export { startIso8583Listener, RESPONSE_CODES } from './server.js';
export type { DlqSink, Iso8583Counters, Iso8583Listener, Iso8583ListenerOptions, Iso8583Stats } from './server.js';
export { decode, encode, Iso8583DecodeError, Iso8583EncodeError } from './codec.js';
export type { DecodedMessage, DecodedSubMessage, FieldValue, Iso8583Location, Iso8583Message } from './codec.js';
export { DEFAULT_OPTIONS, defineSpec, ISO8583_1987, Iso8583SpecError, resolveOptions } from './spec.js';
export type { FieldDefinition, FieldSpec, Iso8583Options, Iso8583Spec, SubMessageSpec } from './spec.js';
export { DEFAULT_DIALECT, DIALECT_NAMES, DIALECTS } from './dialects.js';
export type { Dialect, DialectName } from './dialects.js';
export { dialectConfig, loadSpecFile, parseSpecConfig } from './specfile.js';
export type { Iso8583Config } from './specfile.js';
export { buildResponse, CURRENCIES, DEFAULT_TABLES, MTI_CLASSES, mapToTransaction, reversalOfBooked, toTransaction, txIdFor } from './mapping.js';
export { COMPLETION_IDS_BUCKET, MemoryCompletionIds, NatsCompletionIds } from './completions.js';
export type {
  CompletionIds, CurrencyInfo, Direction, EcommerceRule, MappingContext, MappingResult, MappingTables, MccRule, MessageClass, ProcessingRule,
} from './mapping.js';
export { FrameReader, frameMessage, framingOf, FramingError } from './framing.js';
export { maskFrame } from './redact.js';
