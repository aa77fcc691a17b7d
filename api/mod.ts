/**
 * api/: the HTTP API (docs/ARCHITECTURE.md, "Folders"): the app and its routes, API keys, scopes and
 * sessions, the access audit, metrics, and the stores the ingest processes share (rate limits, sessions).
 * Code outside api/ imports it through this file (lint: `layers/imports`).
 */
export { buildApp, type AppDeps } from './app.js';
export { auditFileStatements, insertAuditRows } from './audit.js';
export { KeyRing, MIN_KEY_LENGTH, SCOPES, Sessions, authenticate, keyFileLine, newKey, parseScopes, withDefaultScope } from './auth.js';
export { aggregateMetrics, apiMetrics, createRegistry, type ProcessMetrics } from './metrics.js';
export { FixedWindowCounters, sharedRateLimitStore, type WindowCount } from './rate-limit-store.js';
export { SharedSessions, type SessionEvent } from './shared-sessions.js';
