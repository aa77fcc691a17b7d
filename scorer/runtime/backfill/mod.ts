/**
 * scorer/runtime/backfill/: `vafa backfill`, a bank's history from files through the same core into the
 * state store and ClickHouse before going live (docs/backfill.md), on worker threads when asked
 * (`threads.ts`). Loaded apart from scorer/runtime/mod.ts: it opens the LMDB state store.
 */
export { backfillDeployment, type DeploymentBackfillOptions, type DeploymentBackfillSummary } from './deployment.js';
export { backfill, BackfillError, type BackfillOptions, type BackfillProgress, type BackfillSummary, type RecordSource, type StatementRecord } from './backfill.js';
export { listSources, ReadMeter, streamOrder, type BadLine, type RecordKind, type SourceFile, type SourceRecord } from './sources.js';
