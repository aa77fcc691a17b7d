/**
 * Schemas of the Grafana provisioning files in dashboards/provisioning/, written from the ClickHouse data
 * source plugin's documentation (v4.20.0, "Configure the ClickHouse data source": the provisioning example
 * and the settings tables) and Grafana's provisioning format (`apiVersion: 1`, `datasources`, `providers`).
 * The test suite validates the project's files, and the plugin's own provisioning example, with them.
 */
import { Type, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

const Str = Type.String();
const Bool = Type.Boolean();
const Port = Type.Integer({ minimum: 1, maximum: 65535 });
/** Timeouts are strings of seconds in the plugin's config (`dialTimeout: "10"`); plain numbers are accepted too. */
const Seconds = Type.Union([Type.String({ pattern: '^[0-9]+$' }), Type.Integer({ minimum: 0 })]);
const strict = <T extends Record<string, TSchema>>(props: T, required: (keyof T)[] = []) =>
  Type.Object(Object.fromEntries(Object.entries(props).map(([k, v]) => [k, required.includes(k) ? v : Type.Optional(v)])) as T, { additionalProperties: false });

const LogsConfig = strict({
  defaultDatabase: Str, defaultTable: Str, otelEnabled: Bool, otelVersion: Str, filterTimeColumn: Str, timeColumn: Str, levelColumn: Str,
  messageColumn: Str, contextColumns: Type.Array(Str), selectContextColumns: Bool,
});
const TracesConfig = strict({
  defaultDatabase: Str, defaultTable: Str, otelEnabled: Bool, otelVersion: Str, durationUnit: Type.Union(['seconds', 'milliseconds', 'microseconds', 'nanoseconds'].map((u) => Type.Literal(u))),
  flattenNested: Bool, traceIdColumn: Str, spanIdColumn: Str, operationNameColumn: Str, parentSpanIdColumn: Str, serviceNameColumn: Str, durationColumn: Str,
  startTimeColumn: Str, tagsColumn: Str, serviceTagsColumn: Str, kindColumn: Str, statusCodeColumn: Str, statusMessageColumn: Str, stateColumn: Str,
  instrumentationLibraryNameColumn: Str, instrumentationLibraryVersionColumn: Str, traceEventsColumnPrefix: Str, traceLinksColumnPrefix: Str,
  traceTimestampTableSuffix: Str,
});

/** `jsonData` of a grafana-clickhouse-datasource (v4 names; `database` is the pre-v4 name of `defaultDatabase`). */
export const ClickHouseJsonData = strict({
  host: Type.String({ minLength: 1, pattern: '^[^:/]+$', description: 'server host name, no scheme or port' }),
  port: Port,
  protocol: Type.Union([Type.Literal('native'), Type.Literal('http')]),
  secure: Bool, path: Str, username: Str,
  configMode: Type.Union([Type.Literal('classic'), Type.Literal('single-table')]),
  signalType: Type.Union([Type.Literal('logs'), Type.Literal('traces')]),
  defaultDatabase: Str, defaultTable: Str,
  database: Type.String({ description: 'legacy name of defaultDatabase (still in the plugin\'s own e2e provisioning)' }),
  logs: LogsConfig, traces: TracesConfig,
  tlsSkipVerify: Bool, tlsAuth: Bool, tlsAuthWithCACert: Bool,
  dialTimeout: Seconds, queryTimeout: Seconds, validateSql: Bool, enableRowLimit: Bool, forwardGrafanaHeaders: Bool,
  httpHeaders: Type.Array(strict({ name: Type.String({ minLength: 1 }), value: Str, secure: Bool }, ['name'])),
  customSettings: Type.Array(strict({ setting: Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }), value: Str }, ['setting', 'value'])),
}, ['host', 'port', 'protocol']);

export const ClickHouseSecureJsonData = Type.Union([
  Type.Null(),
  Type.Object({ password: Type.Optional(Str), tlsCACert: Type.Optional(Str), tlsClientCert: Type.Optional(Str), tlsClientKey: Type.Optional(Str) }, {
    additionalProperties: false, patternProperties: { '^secureHttpHeaders\\..+$': Str },
  }),
]);

const Datasource = Type.Object({
  name: Type.String({ minLength: 1 }),
  type: Type.String({ minLength: 1 }),
  uid: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,40}$' })),
  access: Type.Optional(Type.Union([Type.Literal('proxy'), Type.Literal('direct')])),
  orgId: Type.Optional(Type.Integer({ minimum: 1 })),
  url: Type.Optional(Str),
  user: Type.Optional(Str),
  database: Type.Optional(Str),
  basicAuth: Type.Optional(Bool),
  basicAuthUser: Type.Optional(Str),
  withCredentials: Type.Optional(Bool),
  isDefault: Type.Optional(Bool),
  jsonData: Type.Optional(Type.Record(Str, Type.Unknown())),
  secureJsonData: Type.Optional(Type.Union([Type.Null(), Type.Record(Str, Type.Unknown())])),
  version: Type.Optional(Type.Integer()),
  editable: Type.Optional(Bool),
}, { additionalProperties: false });

/** Grafana's data source provisioning file. */
export const DatasourceProvisioning = Type.Object({
  apiVersion: Type.Literal(1),
  deleteDatasources: Type.Optional(Type.Array(Type.Object({ name: Str, orgId: Type.Optional(Type.Integer()) }, { additionalProperties: false }))),
  prune: Type.Optional(Bool),
  datasources: Type.Array(Datasource, { minItems: 1 }),
}, { additionalProperties: false });

/** Grafana's dashboard provider file. */
export const DashboardProvisioning = Type.Object({
  apiVersion: Type.Literal(1),
  providers: Type.Array(Type.Object({
    name: Type.String({ minLength: 1 }),
    orgId: Type.Optional(Type.Integer({ minimum: 1 })),
    folder: Type.Optional(Str),
    folderUid: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,40}$' })),
    type: Type.Literal('file'),
    disableDeletion: Type.Optional(Bool),
    updateIntervalSeconds: Type.Optional(Type.Integer({ minimum: 1 })),
    allowUiUpdates: Type.Optional(Bool),
    options: Type.Object({ path: Type.String({ minLength: 1 }), foldersFromFilesStructure: Type.Optional(Bool) }, { additionalProperties: false }),
  }, { additionalProperties: false }), { minItems: 1 }),
}, { additionalProperties: false });

function errors(schema: TSchema, value: unknown, at: string): string[] {
  return [...Value.Errors(schema, value)].map((e) => `${at}${e.path || '/'}: ${e.message}`);
}

const TLS_PORTS = new Set([8443, 9440]);
const PLAIN_PORTS = new Set([8123, 9000]);

/** Problems with a parsed data source provisioning file (empty when it is valid). */
export function checkDatasourceProvisioning(doc: unknown): string[] {
  const out = errors(DatasourceProvisioning, doc, '');
  if (out.length) return out;
  const file = doc as { datasources: { type: string; jsonData?: Record<string, unknown>; secureJsonData?: unknown }[] };
  file.datasources.forEach((ds, i) => {
    if (ds.type !== 'grafana-clickhouse-datasource') return;
    const at = `/datasources/${i}`;
    out.push(...errors(ClickHouseJsonData, ds.jsonData, `${at}/jsonData`), ...errors(ClickHouseSecureJsonData, ds.secureJsonData ?? null, `${at}/secureJsonData`));
    const j = ds.jsonData ?? {};
    // Rules the documentation states in prose.
    if (j.protocol !== 'http') {
      for (const k of ['path', 'httpHeaders', 'forwardGrafanaHeaders']) if (k in j) out.push(`${at}/jsonData/${k}: only with protocol http`);
    }
    if (j.secure === true && PLAIN_PORTS.has(j.port as number)) out.push(`${at}/jsonData/port: ${String(j.port)} is a plain-text port but secure is true (TLS ports: 8443 http, 9440 native)`);
    if (j.secure !== true && TLS_PORTS.has(j.port as number)) out.push(`${at}/jsonData/port: ${String(j.port)} is a TLS port but secure is not set`);
    if (j.protocol === 'http' && j.port === 9000) out.push(`${at}/jsonData/port: 9000 is the native port; HTTP is 8123`);
    if (j.protocol === 'native' && j.port === 8123) out.push(`${at}/jsonData/port: 8123 is the HTTP port; native is 9000`);
    if (j.configMode === 'single-table' && !j.signalType) out.push(`${at}/jsonData/signalType: required with configMode single-table`);
  });
  return out;
}

/** Problems with a parsed dashboard provider file (empty when it is valid). */
export function checkDashboardProvisioning(doc: unknown): string[] {
  return errors(DashboardProvisioning, doc, '');
}
