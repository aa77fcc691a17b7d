/**
 * dashboards/: the Grafana dashboards as definitions, their SQL macro expansion and the built-in dashboard
 * at `GET /` (docs/ARCHITECTURE.md, "Folders"). Code outside dashboards/ imports it through this file
 * (lint: `layers/imports`).
 */
export { registerDashboard } from './builtin/routes.js';
export { expandPanelSql } from './expand.js';
export { AT_RISK_PROBABILITY, DASHBOARDS } from './grafana/definitions.js';
