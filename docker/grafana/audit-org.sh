#!/bin/bash
# Once, after Grafana's first start: the administrators' Grafana organization "vafa audit", holding the only
# data source that may read the access audit (ClickHouse user grafana_audit) and the access-audit dashboard
# (dashboards/grafana-admin/*.json). Grafana OSS lets every member of an organization query every data source
# of it, so the audit cannot share an organization with the staff it watches; file provisioning cannot create
# an organization (and refuses to start when a provisioning file names one that does not exist), hence this
# script. Add the auditors to the organization (Administration → Organizations); nobody else.
#
#   GRAFANA_URL=http://localhost:3000 GRAFANA_ADMIN_PASSWORD=… VAFA_GRAFANA_AUDIT_CH_PASSWORD=… docker/grafana/audit-org.sh
#
# Idempotent: an existing organization, data source or dashboard is kept (the dashboard is overwritten).
set -euo pipefail
cd "$(dirname "$0")/../.."
url="${GRAFANA_URL:-http://localhost:3000}"
auth="${GRAFANA_ADMIN_USER:-admin}:${GRAFANA_ADMIN_PASSWORD:?set GRAFANA_ADMIN_PASSWORD (the Grafana server admin)}"
ch_password="${VAFA_GRAFANA_AUDIT_CH_PASSWORD:?set VAFA_GRAFANA_AUDIT_CH_PASSWORD (as given to the clickhouse service)}"
org_name="vafa audit"

api() { curl -fsS -u "$auth" -H 'Content-Type: application/json' "$@"; }

org_id=$(api "$url/api/orgs/name/vafa%20audit" 2>/dev/null | sed -n 's/^{"id":\([0-9]*\).*/\1/p' || true)
if [ -z "$org_id" ]; then
  org_id=$(api -X POST "$url/api/orgs" -d "{\"name\":\"$org_name\"}" | sed -n 's/.*"orgId":"\{0,1\}\([0-9]*\).*/\1/p')
fi
[ -n "$org_id" ] || { echo "audit-org.sh: could not create or find the Grafana organization \"$org_name\"" >&2; exit 1; }
in_org=(-H "X-Grafana-Org-Id: $org_id")

if ! api "${in_org[@]}" "$url/api/datasources/uid/vafa-clickhouse-audit" >/dev/null 2>&1; then
  api "${in_org[@]}" -X POST "$url/api/datasources" -d "{
    \"name\": \"vafa ClickHouse audit\", \"uid\": \"vafa-clickhouse-audit\", \"type\": \"grafana-clickhouse-datasource\",
    \"access\": \"proxy\", \"isDefault\": true,
    \"jsonData\": { \"host\": \"${VAFA_CLICKHOUSE_HOST:-clickhouse}\", \"port\": 8123, \"protocol\": \"http\", \"secure\": false,
                  \"username\": \"grafana_audit\", \"defaultDatabase\": \"vafa\", \"queryTimeout\": \"60\" },
    \"secureJsonData\": { \"password\": \"$ch_password\" } }" >/dev/null
fi

for file in dashboards/grafana-admin/*.json; do
  { printf '{"overwrite": true, "dashboard": '; cat "$file"; printf '}'; } | api "${in_org[@]}" -X POST "$url/api/dashboards/db" --data-binary @- >/dev/null
  echo "imported $file into organization \"$org_name\" ($org_id)"
done
