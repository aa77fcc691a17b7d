/**
 * sinks/: where the scorer's results go (docs/ARCHITECTURE.md, "Folders"): what rows and messages the
 * core's domain events make (`mapping.ts`), the outputs behind one interface (ClickHouse, JetStream), the ClickHouse schema, migrations, views, the batching sink, the
 * client and the erasure of a customer's rows, and the offer webhook. Code outside sinks/ imports it
 * through this file (lint: `layers/imports`).
 */
export { createWarehouseClient, type ClickHouseClient } from './clickhouse/client.js';
export { dashboardStatements } from './clickhouse/dashboard-views.js';
export { ErasureIncompleteError, ErasureInputError, ErasureUnsupportedError, MAX_CUSTOMER_ID, checkErasureInput, eraseCustomer } from './clickhouse/erasure.js';
export { calendarOf, leaderboard, sameCalendar, type BankCalendar } from './clickhouse/loyalty-views.js';
export { migrate, migrateCalendarViews } from './clickhouse/migrate.js';
export { TABLES, createTableSql } from './clickhouse/schema.js';
export { ClickHouseSink, type RefusedRow, type SinkInsertFormat } from './clickhouse/sink.js';
export { ClickHouseOutput, type RefusedTableRow, type RowsByTable } from './output-clickhouse.js';
export { JetStreamOutput, type OutboundMessage, type RefusedMessage } from './output-jetstream.js';
export type { Output } from './output.js';
export { startWebhookSink } from './webhook.js';
export { OutputEmit, messageOf, messagesOf, tableRows, type Row, type TableName } from './mapping.js';
