/**
 * platform/warehouse/: the embedded ClickHouse server on chDB (`vafa warehouse`). Loaded only by that role
 * (cli/roles.ts imports it lazily): importing it loads chDB's native library.
 */
export { runWarehouse } from './main.js';
export { startWarehouse, type Warehouse } from './server.js';
