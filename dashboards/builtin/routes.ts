/**
 * The built-in dashboard (`GET /`), for deployments without Grafana: the Grafana dashboards' panels as live
 * charts (Apache ECharts, served from node_modules: no CDN), fed by JSON endpoints that run each panel's
 * own SQL, expanded exactly as Grafana's ClickHouse plugin would (dashboards/expand.ts), on the `warehouse`
 * client. One definition, two front ends: what a panel shows here is what it shows in Grafana.
 *
 *   GET /api/dashboard                      the dashboards, their panels and variables (the caller's: see below)
 *   GET /api/dashboard/:uid/variables       the options of each variable (runs the variable queries)
 *   GET /api/dashboard/:uid?range=24h&branch=B01,B02&…   every panel's data for the range
 *   GET /api/admin/dashboard/:uid…          the same for the administrators' dashboards (the access audit)
 *
 * Time: `event-time` dashboards end at the latest event time in the warehouse (simulated traffic may run
 * ahead of or behind the wall clock), `wall-clock` ones (operations) at now; `to` (RFC 3339) overrides.
 * Variable values are checked against a strict pattern before they reach SQL (Grafana's `singlequote`
 * format escapes quotes but not backslashes). Results are cached for 2 s, so many open pages cost one
 * query per panel per refresh.
 *
 * Access (docs/security.md): the page (`/`, `/index.html`) and every `/api/dashboard` route need the `read`
 * scope (a bearer key, or the session cookie `/login` sets); `/api/admin/dashboard` routes need `admin` (a
 * session has it for reads when its key holds it), and `/api/dashboard` lists the administrators' dashboards
 * only to a caller holding `admin`. The script, the style sheet and ECharts are public (no data in them). A
 * signed-out browser asking for the page is sent to `/login`.
 */
import { createReadStream } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply } from 'fastify';
import fastifyStatic from '@fastify/static';
import type { ClickHouseClient } from '@clickhouse/client';
import { ALL, expandPanelSql, type TemplateVariable } from '../expand.js';
import { ADMIN_DASHBOARDS, DASHBOARDS, renderDashboard, type DashboardSpec } from '../grafana/definitions.js';
import { withDefaultScope } from '../../api/mod.js';

export interface DashboardDeps {
  warehouse: ClickHouseClient;
  database: string;
}

export const RANGES: Record<string, number> = {
  '5m': 5 * 60_000, '15m': 15 * 60_000, '1h': 3_600_000, '6h': 6 * 3_600_000, '24h': 86_400_000, '7d': 7 * 86_400_000, '30d': 30 * 86_400_000,
  '90d': 90 * 86_400_000, '365d': 365 * 86_400_000,
};
const INTERVALS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 7 * 86400, 30 * 86400].map((s) => s * 1000);
/** Points a chart can show without crowding (Grafana uses the panel's width in pixels). */
const MAX_POINTS = 150;
const VALUE = /^[\p{L}\p{N}_.:@ /-]{1,64}$/u;
const CACHE_MS = 2000;

/** Operations look at the last quarter hour, event-time dashboards at the last 30 days. */
const defaultRange = (spec: DashboardSpec): string => (spec.clock === 'wall-clock' ? '15m' : '30d');

/** Grafana-style interval: the smallest round interval that keeps a range within `MAX_POINTS` points. */
export function intervalFor(rangeMs: number): number {
  const raw = rangeMs / MAX_POINTS;
  return INTERVALS.find((i) => i >= raw) ?? Math.max(...INTERVALS);
}

interface PanelJson {
  id: number;
  type: string;
  title: string;
  description: string;
  gridPos: { w: number; h: number; x: number; y: number };
  fieldConfig: { defaults: { unit?: string }; overrides: { matcher: { options: string }; properties: { id: string; value: unknown }[] }[] };
  options: { stacking?: string; orientation?: string };
  targets: { rawSql: string; refId: string }[];
}
interface VariableJson { name: string; label: string; type: string; query: string }
interface DashboardJson { uid: string; title: string; description: string; tags: string[]; panels: PanelJson[]; templating: { list: VariableJson[] } }

export interface Column { name: string; type: string; time: boolean }
export interface Frame { refId: string; columns: Column[]; rows: unknown[][] }

/** What the page needs to draw a panel, taken from the Grafana JSON. */
function panelMeta(p: PanelJson): Record<string, unknown> {
  const hidden: string[] = [];
  const rightAxis: string[] = [];
  const units: Record<string, string> = {};
  for (const o of p.fieldConfig.overrides) {
    for (const prop of o.properties) {
      if (prop.id === 'custom.hideFrom' && (prop.value as { viz?: boolean }).viz) hidden.push(o.matcher.options);
      if (prop.id === 'custom.axisPlacement' && prop.value === 'right') rightAxis.push(o.matcher.options);
      if (prop.id === 'unit') units[o.matcher.options] = String(prop.value);
    }
  }
  return {
    id: p.id, type: p.type, title: p.title, description: p.description, gridPos: p.gridPos, unit: p.fieldConfig.defaults.unit ?? 'short',
    stacked: p.options.stacking === 'normal', horizontal: p.options.orientation === 'horizontal', hidden, rightAxis, units,
  };
}

function timeColumn(type: string): boolean {
  return /^(Nullable\()?(LowCardinality\()?(Date|DateTime)/.test(type);
}

type Boards = Map<string, { spec: DashboardSpec; json: DashboardJson }>;

const boards = (specs: readonly DashboardSpec[]): Boards => new Map(specs.map((spec) => [spec.uid, { spec, json: renderDashboard(spec) as unknown as DashboardJson }]));

/** The two sets the built-in dashboard serves: the staff's (`read`) and the administrators' (`admin`: the access audit). */
const SETS = [
  { prefix: '/api/dashboard', scope: 'read', audit: 'dashboard.view', specs: DASHBOARDS },
  { prefix: '/api/admin/dashboard', scope: 'admin', audit: 'admin.audit.read', specs: ADMIN_DASHBOARDS },
] as const;

/**
 * Registers the built-in dashboard on `app`: the list of dashboards, each one's variables and data (the
 * staff's and the administrators'), ECharts and the page itself.
 */
export async function registerDashboard(app: FastifyInstance, deps: DashboardDeps): Promise<void> {
  const sets = SETS.map((set) => ({ ...set, dashboards: boards(set.specs) }));
  const data = new DashboardData(deps);
  app.get('/api/dashboard', { config: { scope: 'read' }, schema: { hide: true } }, async (req) => ({
    dashboards: sets.filter((set) => req.principal?.scopes.has(set.scope) ?? false).flatMap((set) => [...set.dashboards.values()].map(({ spec, json }) => ({
      uid: spec.uid, title: spec.title, description: spec.description, clock: spec.clock, refresh: spec.refresh,
      defaultRange: defaultRange(spec), api: `${set.prefix}/${spec.uid}`,
      variables: spec.variables.map((v) => ({ name: v.name, label: v.label })),
      panels: json.panels.map(panelMeta),
    }))),
    ranges: Object.keys(RANGES),
  }));
  for (const set of sets) registerData(app, data, set);
  await registerPage(app);
}

interface Compact { meta: { name: string; type: string }[]; data: unknown[][] }

/** A time range asked for, and the interval its charts are cut in. */
interface ResolvedRange { from: Date; to: Date; intervalMs: number }

/** The warehouse queries behind the dashboards, each result cached for {@link CACHE_MS}. */
class DashboardData {
  private readonly cache = new Map<string, { at: number; value: Promise<unknown> }>();

  constructor(private readonly deps: DashboardDeps) {}

  cached<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const now = Date.now();
    for (const [k, v] of this.cache) if (now - v.at > CACHE_MS) this.cache.delete(k);
    const hit = this.cache.get(key);
    if (hit) return hit.value as Promise<T>;
    const value = fn();
    this.cache.set(key, { at: now, value });
    value.catch(() => this.cache.delete(key));
    return value;
  }

  async query(sql: string, params?: Record<string, unknown>): Promise<Compact> {
    const rs = await this.deps.warehouse.query({
      query: sql, format: 'JSONCompact', ...(params ? { query_params: params } : {}),
      clickhouse_settings: { output_format_json_quote_64bit_integers: 0, date_time_output_format: 'iso', max_execution_time: 20 },
    });
    return (await rs.json()) as unknown as Compact;
  }

  /** The latest event time the warehouse holds (from part metadata: no scan), or now when it holds none. */
  eventNow(): Promise<number> {
    return this.cached('event-now', async () => {
      const r = await this.query("SELECT toUnixTimestamp(max(max_time)) FROM system.parts WHERE database = {db:String} AND table IN ('dash_tx_v1', 'dash_ledger_v1') AND active", { db: this.deps.database });
      const t = Number(r.data[0]?.[0] ?? 0) * 1000;
      return t > 0 ? t + 1000 : Date.now();
    });
  }

  async clockNow(spec: DashboardSpec): Promise<number> {
    return spec.clock === 'wall-clock' ? Date.now() : await this.eventNow();
  }

  /** The range of a request (`range`, `to`), or why it is refused. */
  async resolveRange(spec: DashboardSpec, q: Record<string, string | undefined>): Promise<ResolvedRange | string> {
    const rangeKey = q.range ?? defaultRange(spec);
    const rangeMs = RANGES[rangeKey];
    if (!rangeMs) return `range must be one of ${Object.keys(RANGES).join(', ')}`;
    let to: number;
    if (q.to) {
      to = Date.parse(q.to);
      if (!Number.isFinite(to)) return 'to must be an RFC 3339 time';
    } else to = await this.clockNow(spec);
    return { from: new Date(to - rangeMs), to: new Date(to), intervalMs: intervalFor(rangeMs) };
  }

  /** The options of each variable of a dashboard (running the variable queries in order: one may use the ones before). */
  async variableOptions(spec: DashboardSpec, range: { from: Date; to: Date }, intervalMs: number): Promise<TemplateVariable[]> {
    const out: TemplateVariable[] = [];
    for (const v of spec.variables) {
      let options: string[];
      if (v.type === 'custom') options = v.query.split(',');
      else {
        const r = await this.query(expandPanelSql(v.query, { range, intervalMs, variables: out }));
        options = r.data.map((row) => String(row[0]));
      }
      out.push({ name: v.name, current: [ALL], options });
    }
    return out;
  }

  /** Every panel's frames for the range and the chosen variable values (a failing panel carries its error). */
  async dashboardData(d: { spec: DashboardSpec; json: DashboardJson }, chosen: Map<string, string[]>, range: ResolvedRange, log: FastifyBaseLogger): Promise<unknown> {
    // Variables without a selection are "All": options are only needed where a panel uses one outside
    // $__conditionalAll, which these dashboards never do, so "All" costs no variable query here.
    const variables: TemplateVariable[] = d.spec.variables.map((v) => ({ name: v.name, current: chosen.get(v.name) ?? [ALL], options: v.type === 'custom' ? v.query.split(',') : [] }));
    const ctx = { range: { from: range.from, to: range.to }, intervalMs: range.intervalMs, variables };
    const panels = await mapLimit(d.json.panels, 4, async (p) => {
      try {
        return { id: p.id, frames: await this.panelFrames(p, ctx) };
      } catch (err) {
        log.warn({ err: (err as Error).message, dashboard: d.spec.uid, panel: p.title }, 'dashboard panel query failed');
        return { id: p.id, frames: [], error: (err as Error).message.split('\n')[0]?.slice(0, 300) };
      }
    });
    return { uid: d.spec.uid, from: range.from.toISOString(), to: range.to.toISOString(), intervalMs: range.intervalMs, panels };
  }

  /** One frame per target of a panel; time columns become epoch ms. */
  private async panelFrames(p: PanelJson, ctx: Parameters<typeof expandPanelSql>[1]): Promise<Frame[]> {
    const frames: Frame[] = [];
    for (const t of p.targets) {
      const r = await this.query(expandPanelSql(t.rawSql, ctx));
      const columns = r.meta.map((m) => ({ name: m.name, type: m.type, time: timeColumn(m.type) }));
      const rows = r.data.map((row) => row.map((v, i) => (columns[i]?.time === true && typeof v === 'string' ? Date.parse(v.length === 10 ? `${v}T00:00:00Z` : v) : v)));
      frames.push({ refId: t.refId, columns, rows });
    }
    return frames;
  }
}

/** The chosen values of a dashboard's variables (none: "All"), or why one is refused. */
function parseVariables(spec: DashboardSpec, q: Record<string, string | undefined>): Map<string, string[]> | string {
  const chosen = new Map<string, string[]>();
  for (const v of spec.variables) {
    const raw = q[v.name];
    if (raw === undefined || raw === '' || raw === 'all' || raw === ALL) continue;
    const values = raw.split(',').map((s) => s.trim()).filter(Boolean);
    const bad = values.find((x) => !VALUE.test(x));
    if (bad !== undefined) return `variable ${v.name}: value ${JSON.stringify(bad)} is not allowed (letters, digits, space and _ . : @ / - only)`;
    chosen.set(v.name, values);
  }
  return chosen;
}

function bad(reply: FastifyReply, message: string): FastifyReply {
  return reply.code(400).send({ error: 'VAFA_BAD_DASHBOARD_QUERY', message });
}

/** GET <prefix>/:uid/variables and GET <prefix>/:uid for one set of dashboards. */
function registerData(app: FastifyInstance, data: DashboardData, set: { prefix: string; scope: 'read' | 'admin'; audit: string; dashboards: Boards }): void {
  const { prefix, scope, audit, dashboards } = set;
  app.get(`${prefix}/:uid/variables`, { config: { scope }, schema: { hide: true } }, async (req, reply) => {
    const d = dashboards.get((req.params as { uid: string }).uid);
    if (!d) return reply.code(404).send({ error: 'VAFA_NOT_FOUND', message: 'No such dashboard.' });
    const q = req.query as Record<string, string | undefined>;
    const range = await data.resolveRange(d.spec, q);
    if (typeof range === 'string') return bad(reply, range);
    const key = `vars:${d.spec.uid}:${Math.floor(range.to.getTime() / 60_000)}:${q.range ?? ''}`;
    const vars = await data.cached(key, () => data.variableOptions(d.spec, range, range.intervalMs));
    return { variables: vars.map((v) => ({ name: v.name, label: d.spec.variables.find((s) => s.name === v.name)?.label ?? v.name, options: v.options })) };
  });

  app.get(`${prefix}/:uid`, { config: { scope, audit }, schema: { hide: true } }, async (req, reply) => {
    const d = dashboards.get((req.params as { uid: string }).uid);
    if (!d) return reply.code(404).send({ error: 'VAFA_NOT_FOUND', message: 'No such dashboard.' });
    const q = req.query as Record<string, string | undefined>;
    const chosen = parseVariables(d.spec, q);
    if (typeof chosen === 'string') return bad(reply, chosen);
    const range = await data.resolveRange(d.spec, q);
    if (typeof range === 'string') return bad(reply, range);
    const key = `data:${d.spec.uid}:${range.from.getTime()}:${range.to.getTime()}:${JSON.stringify([...chosen])}`;
    return await data.cached(key, () => data.dashboardData(d, chosen, range, req.log));
  });
}

/** ECharts (public) and the page (`/`, `/index.html`: `read`; its script and style sheet: public). */
async function registerPage(app: FastifyInstance): Promise<void> {
  const echarts = createRequire(import.meta.url).resolve('echarts/dist/echarts.min.js');
  app.get('/vendor/echarts.min.js', { config: { scope: 'public' }, schema: { hide: true } }, async (_req, reply) => {
    reply.header('content-type', 'application/javascript; charset=utf-8').header('cache-control', 'public, max-age=86400');
    return reply.send(createReadStream(echarts));
  });

  await withDefaultScope(app, (url) => (url === '/' || url === '/index.html' ? 'read' : 'public'), async (sub) => {
    await sub.register(fastifyStatic, {
      root: path.join(import.meta.dirname, 'public'),
      prefix: '/',
      wildcard: false,
      index: 'index.html',
      decorateReply: false,
      schemaHide: true,
      cacheControl: false,
    });
  });
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  const queue = items.entries();
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    for (const [i, item] of queue) out[i] = await fn(item);
  });
  await Promise.all(workers);
  return out;
}
