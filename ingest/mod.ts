/**
 * ingest/: from a client or a switch to stream `TX` (docs/ARCHITECTURE.md, "Folders"): validation against
 * the contracts, card tokenization and the card directory, the ingest service shared by HTTP and ISO 8583.
 * Code outside ingest/ imports it through this file; the ISO 8583 adapter is its own surface,
 * `ingest/iso8583/mod.ts`, loaded only by a process that listens for switches (lint: `layers/imports`).
 */
export { NatsCardDirectory } from './cards.js';
export { IngestService, type CardDirectory } from './service.js';
export { maskCardNumbers, tokenizePan } from './tokenize.js';
export { Validator } from './validation.js';
