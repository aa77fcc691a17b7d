#!/bin/bash
# Runs once, on the first start of the ClickHouse container (docker-entrypoint-initdb.d): a read-only user
# for Grafana, as the ClickHouse data source plugin recommends (readonly = 1, with max_execution_time
# changeable so the plugin can set its query timeout), allowed to read the vafa database only.
set -euo pipefail
clickhouse client --user "${CLICKHOUSE_USER}" --password "${CLICKHOUSE_PASSWORD}" --multiquery <<SQL
CREATE DATABASE IF NOT EXISTS vafa;
CREATE SETTINGS PROFILE IF NOT EXISTS grafana_reader SETTINGS readonly = 1, max_execution_time = 60 CHANGEABLE_IN_READONLY;
CREATE USER IF NOT EXISTS grafana IDENTIFIED WITH sha256_password BY '${VAFA_GRAFANA_CH_PASSWORD}' SETTINGS PROFILE 'grafana_reader';
GRANT SELECT ON vafa.* TO grafana;
SQL
