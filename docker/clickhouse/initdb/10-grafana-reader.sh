#!/bin/bash
# Runs once, on the first start of the ClickHouse container (docker-entrypoint-initdb.d): read-only users
# for Grafana, as the ClickHouse data source plugin recommends (readonly = 1, with max_execution_time
# changeable so the plugin can set its query timeout).
#   grafana        every relation of the vafa database except the access audit (the staff it watches read
#                  Grafana): the REVOKEs below list every relation that reads vafa.access_audit.
#   grafana_audit  the access audit only, for the administrators' Grafana organization (docker/grafana/audit-org.sh).
# test/warehouse/grafana-grants.test.ts checks these grants against the schema `vafa migrate` creates.
# An existing ClickHouse (this script does not run again): run the statements below by hand.
set -euo pipefail
clickhouse client --user "${CLICKHOUSE_USER}" --password "${CLICKHOUSE_PASSWORD}" --multiquery <<SQL
CREATE DATABASE IF NOT EXISTS vafa;
CREATE SETTINGS PROFILE IF NOT EXISTS grafana_reader SETTINGS readonly = 1, max_execution_time = 60 CHANGEABLE_IN_READONLY;
CREATE USER IF NOT EXISTS grafana IDENTIFIED WITH sha256_password BY '${VAFA_GRAFANA_CH_PASSWORD}' SETTINGS PROFILE 'grafana_reader';
GRANT SELECT ON vafa.* TO grafana;
REVOKE SELECT ON vafa.access_audit FROM grafana;
REVOKE SELECT ON vafa.v_access_audit_daily FROM grafana;
CREATE USER IF NOT EXISTS grafana_audit IDENTIFIED WITH sha256_password BY '${VAFA_GRAFANA_AUDIT_CH_PASSWORD}' SETTINGS PROFILE 'grafana_reader';
GRANT SELECT ON vafa.access_audit TO grafana_audit;
GRANT SELECT ON vafa.v_access_audit_daily TO grafana_audit;
SQL
