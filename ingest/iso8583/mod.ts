/**
 * ISO 8583 adapter: a TCP listener for payment-switch feeds, the codec and field specs it runs on, and
 * the mapping of financial messages and reversals to the v1 transaction event.
 */
export { startIso8583Listener, RESPONSE_CODES } from './server.js';
export type { DlqSink, Iso8583Counters, Iso8583Listener, Iso8583ListenerOptions, Iso8583Stats } from './server.js';
export { decode, encode, Iso8583DecodeError, Iso8583EncodeError } from './codec.js';
export type { DecodedMessage, FieldValue, Iso8583Location, Iso8583Message } from './codec.js';
export { DEFAULT_OPTIONS, defineSpec, ISO8583_1987, Iso8583SpecError, loadSpecFile, parseSpecConfig, resolveOptions } from './spec.js';
export type { FieldDefinition, FieldSpec, Iso8583Config, Iso8583Options, Iso8583Spec } from './spec.js';
export { CURRENCIES, DEFAULT_TABLES, MTI_CLASSES, mapToTransaction, toTransaction, txIdFor } from './mapping.js';
export type { CurrencyInfo, MappingContext, MappingResult, MappingTables, MccRule, MessageClass } from './mapping.js';
export { FrameReader, frameMessage, FramingError } from './framing.js';
export { maskFrame } from './redact.js';
