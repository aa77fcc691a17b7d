/**
 * The dashboard and deployment files, without engines: Grafana JSON generated and consistent, panel SQL
 * well-formed for the plugin, provisioning valid against the plugin's documented format, the compose file
 * accepted by docker-compose, the Dockerfile, and the clustered form of the dashboard views.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { renderedAdminFiles, renderedFiles } from '../../dashboards/grafana/generate.js';
import { ADMIN_DASHBOARDS, AUDIT_DATASOURCE, DASHBOARDS, DATASOURCE } from '../../dashboards/grafana/definitions.js';
import { AUDIT_TABLE, AUDIT_VIEWS } from '../../sinks/clickhouse/audit.js';
import { expandPanelSql } from '../../dashboards/expand.js';
import { checkDashboardProvisioning, checkDatasourceProvisioning } from '../../dashboards/provisioning-schema.js';
import { dashboardRelation, dashboardStatements, DASHBOARD_VIEWS } from '../../sinks/clickhouse/dashboard-views.js';
import { loadSettings } from '../../config/settings.js';
import { insecureEngines } from '../../app/engine-credentials.js';
import { adminDashboardFiles, dashboardFiles, relationsOf, ROOT } from './support.js';

const yamlFile = (rel: string): unknown => parse(readFileSync(path.join(ROOT, rel), 'utf8'));

describe('Grafana dashboard files', () => {
  it('are what definitions.ts generates (run `npx tsx dashboards/grafana/generate.ts` after editing it)', () => {
    for (const [name, text] of renderedFiles()) expect(readFileSync(path.join(ROOT, 'dashboards/grafana', name), 'utf8'), name).toBe(text);
  });

  it('use the provisioned data source, the SQL editor, and the right result format per panel', () => {
    for (const d of dashboardFiles()) {
      expect(d.tags).toContain('vafa');
      for (const p of d.panels) {
        expect(p.datasource).toEqual(DATASOURCE);
        expect(p.targets.length).toBeGreaterThan(0);
        for (const t of p.targets) {
          expect(t.datasource).toEqual(DATASOURCE);
          expect(t.editorType).toBe('sql');
          expect(t.format, `${d.uid} / ${p.title}`).toBe(p.type === 'timeseries' ? 0 : 1);
        }
      }
      for (const v of d.templating.list) if (v.type === 'query') expect(v.datasource).toEqual(DATASOURCE);
    }
  });

  it('read only the dashboard relations, name only variables they define, and keep to what the plugin expands', () => {
    for (const d of dashboardFiles()) {
      const defined = new Set(d.templating.list.map((v) => v.name));
      const sqls = [...d.panels.flatMap((p) => p.targets.map((t) => [p.title, t.rawSql] as const)), ...d.templating.list.filter((v) => v.type === 'query').map((v) => [`variable ${v.name}`, v.query] as const)];
      for (const [what, sql] of sqls) {
        const where = `${d.uid} / ${what}`;
        // Comments: how the plugin's parser treats text after them is not pinned down by its tests; none are used.
        expect(sql, where).not.toMatch(/--|\/\*/);
        const tables = [...sql.matchAll(/\b(?:FROM|JOIN)\s+([A-Za-z_][\w.]*)/gi)].map((m) => m[1]!);
        for (const t of tables) expect(dashboardRelation(t), `${where} reads ${t}`).toBeDefined();
        expect(relationsOf(sql).length, where).toBeGreaterThan(0);
        for (const m of sql.matchAll(/\$\{?(\w+)/g)) {
          if (!m[1]!.startsWith('__')) expect(defined.has(m[1]!), `${where}: $${m[1]} is a variable of the dashboard`).toBe(true);
        }
        for (const m of sql.matchAll(/\$__(\w+)/g)) {
          expect(['timeFilter', 'timeInterval', 'fromTime', 'toTime', 'interval_s', 'conditionalAll'], `${where}: $__${m[1]}`).toContain(m[1]);
        }
        // The plugin finds "All" only from a plain variable reference in the second argument.
        for (const m of sql.matchAll(/\$__conditionalAll\(/g)) {
          const rest = sql.slice(m.index + m[0].length);
          expect(rest, where).toMatch(/^[^]*?, \$\w+\)/);
        }
        const expanded = expandPanelSql(sql, {
          range: { from: new Date('2026-01-01T00:00:00Z'), to: new Date('2026-02-01T00:00:00Z') }, intervalMs: 3_600_000,
          variables: d.templating.list.map((v) => ({ name: v.name, current: ['x1', 'x2'], options: ['x1', 'x2'] })),
        });
        expect(expanded, where).not.toMatch(/\$/);
      }
    }
  });
});

describe('the administrators\' dashboards (access audit)', () => {
  it('are what definitions.ts generates, in dashboards/grafana-admin/', () => {
    for (const [name, text] of renderedAdminFiles()) expect(readFileSync(path.join(ROOT, 'dashboards/grafana-admin', name), 'utf8'), name).toBe(text);
    expect([...renderedAdminFiles().keys()]).toEqual(['vafa-access-audit.json']);
  });

  it('are apart from the others: own uids, own tag (the others\' links do not list them), never in dashboards/grafana/', () => {
    const uids = new Set(DASHBOARDS.map((d) => d.uid));
    for (const d of ADMIN_DASHBOARDS) expect(uids.has(d.uid), d.uid).toBe(false);
    for (const d of adminDashboardFiles()) {
      expect(d.tags).not.toContain('vafa');
      expect(existsSync(path.join(ROOT, 'dashboards/grafana', `${d.uid}.json`))).toBe(false);
    }
  });

  it('read only the access audit and its daily view, with the audit data source and the plugin\'s macros', () => {
    const audit = new Set([AUDIT_TABLE.name, ...AUDIT_VIEWS.map((v) => v.name)]);
    for (const d of adminDashboardFiles()) {
      expect(d.templating.list).toEqual([]);
      for (const p of d.panels) {
        expect(p.datasource).toEqual(AUDIT_DATASOURCE);
        for (const t of p.targets) {
          const where = `${d.uid} / ${p.title}`;
          expect(t.datasource).toEqual(AUDIT_DATASOURCE);
          expect(t.editorType).toBe('sql');
          expect(t.format, where).toBe(p.type === 'timeseries' ? 0 : 1);
          expect(t.rawSql, where).not.toMatch(/--|\/\*/);
          const tables = [...t.rawSql.matchAll(/\b(?:FROM|JOIN)\s+([A-Za-z_][\w.]*)/gi)].map((m) => m[1]!);
          expect(tables.length, where).toBeGreaterThan(0);
          for (const table of tables) expect(audit.has(table), `${where} reads ${table}`).toBe(true);
          for (const m of t.rawSql.matchAll(/\$__(\w+)/g)) expect(['timeFilter', 'fromTime', 'toTime'], `${where}: $__${m[1]}`).toContain(m[1]);
          expect(expandPanelSql(t.rawSql, { range: { from: new Date('2026-01-01T00:00:00Z'), to: new Date('2026-02-01T00:00:00Z') }, intervalMs: 3_600_000, variables: [] }), where).not.toMatch(/\$/);
        }
      }
    }
    // …and no dashboard of the read-scope set does (they read dash_* only: checked above).
    for (const d of dashboardFiles()) for (const p of d.panels) for (const t of p.targets) expect(t.rawSql, `${d.uid} / ${p.title}`).not.toMatch(/access_audit/);
  });
});

describe('provisioning', () => {
  const datasources = yamlFile('dashboards/provisioning/datasources/clickhouse.yml') as { datasources: { uid: string; type: string; jsonData: Record<string, unknown> }[] };
  const providers = yamlFile('dashboards/provisioning/dashboards/vafa.yml') as { providers: { options: { path: string } }[] };

  it('the data source file is valid for the ClickHouse plugin and is what the dashboards reference', () => {
    expect(checkDatasourceProvisioning(datasources)).toEqual([]);
    const ds = datasources.datasources[0]!;
    expect(ds).toMatchObject({ uid: DATASOURCE.uid, type: DATASOURCE.type });
    expect(ds.jsonData).toMatchObject({ protocol: 'http', port: 8123, defaultDatabase: loadSettings({}).clickhouseDatabase });
    expect(ds.jsonData).not.toHaveProperty('database');
  });

  it('the schema accepts the plugin\'s own provisioning example and refuses broken ones', () => {
    expect(checkDatasourceProvisioning(parse(readFileSync(path.join(import.meta.dirname, 'fixtures/plugin-provisioning-example.v4.20.0.yml'), 'utf8')))).toEqual([]);
    const mutate = (f: (j: Record<string, unknown>) => void): string[] => {
      const doc = structuredClone(datasources);
      f(doc.datasources[0]!.jsonData);
      return checkDatasourceProvisioning(doc);
    };
    expect(mutate((j) => delete j.host).join()).toMatch(/host/);
    expect(mutate((j) => (j.protocol = 'https')).join()).toMatch(/protocol/);
    expect(mutate((j) => (j.defaultDb = 'vafa')).join()).toMatch(/defaultDb/);
    expect(mutate((j) => (j.host = 'http://clickhouse:8123')).join()).toMatch(/host/);
    expect(mutate((j) => (j.secure = true)).join()).toMatch(/plain-text port/);
    expect(mutate((j) => (j.protocol = 'native')).join()).toMatch(/only with protocol http|HTTP port/);
    expect(mutate((j) => (j.port = '8123')).join()).toMatch(/port/);
    expect(checkDatasourceProvisioning({ apiVersion: 1, datasources: [{ type: 'grafana-clickhouse-datasource' }] }).join()).toMatch(/name/);
  });

  it('the dashboard provider is valid and loads the directory docker-compose mounts the dashboards at', () => {
    expect(checkDashboardProvisioning(providers)).toEqual([]);
    expect(checkDashboardProvisioning({ apiVersion: 1, providers: [{ name: 'x', type: 'git', options: { path: '/x' } }] }).join()).toMatch(/type/);
    const compose = yamlFile('docker-compose.yml') as { services: Record<string, { volumes?: string[] }> };
    const mounts = compose.services.grafana!.volumes!;
    expect(mounts).toContain(`./dashboards/grafana:${providers.providers[0]!.options.path}:ro`);
    expect(mounts).toContain('./dashboards/provisioning:/etc/grafana/provisioning:ro');
  });

  it('nothing provisions the administrators\' dashboards or their data source into the staff\'s organization', () => {
    const dir = path.join(ROOT, 'dashboards/provisioning');
    for (const sub of ['dashboards', 'datasources']) {
      for (const file of readdirSync(path.join(dir, sub))) {
        const text = readFileSync(path.join(dir, sub, file), 'utf8');
        expect(text, file).not.toMatch(/grafana-admin|vafa-admin/);
        expect(text, file).not.toContain(AUDIT_DATASOURCE.uid);
      }
    }
    const compose = yamlFile('docker-compose.yml') as { services: Record<string, { volumes?: string[]; environment?: Record<string, string> }> };
    expect(compose.services.grafana!.volumes!.join()).not.toContain('grafana-admin');
    expect(compose.services.grafana!.environment!.VAFA_GRAFANA_CH_USER).toBe('grafana');
  });

  it('docker/grafana/audit-org.sh imports every administrators\' dashboard into an organization of its own, with the audit data source as grafana_audit', () => {
    const script = readFileSync(path.join(ROOT, 'docker/grafana/audit-org.sh'), 'utf8');
    execFileSync('bash', ['-n', path.join(ROOT, 'docker/grafana/audit-org.sh')]);
    expect(script).toContain('X-Grafana-Org-Id: $org_id');
    expect(script).toContain(`\\"uid\\": \\"${AUDIT_DATASOURCE.uid}\\", \\"type\\": \\"${AUDIT_DATASOURCE.type}\\"`);
    expect(script).toContain('\\"username\\": \\"grafana_audit\\"');
    expect(script).toContain('for file in dashboards/grafana-admin/*.json');
    expect(existsSync(path.join(ROOT, 'dashboards/grafana-admin'))).toBe(true);
    const compose = yamlFile('docker-compose.yml') as { services: Record<string, { environment?: Record<string, string> }> };
    expect(Object.keys(compose.services.clickhouse!.environment!)).toContain('VAFA_GRAFANA_AUDIT_CH_PASSWORD');
  });
});

describe('docker-compose.yml', () => {
  const composeBin = process.env.DOCKER_COMPOSE ?? '/usr/bin/docker-compose';

  it('is accepted by docker-compose config, with the simulator as an optional profile', () => {
    if (!existsSync(composeBin)) throw new Error(`${composeBin} is missing: install docker-compose (Debian: apt-get install docker-compose) or set DOCKER_COMPOSE`);
    const run = (...args: string[]): string => execFileSync(composeBin, ['-f', path.join(ROOT, 'docker-compose.yml'), ...args], { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' } });
    run('config', '-q');
    expect(run('--profile', 'simulate', 'config', '--services').trim().split('\n').sort()).toEqual(['clickhouse', 'grafana', 'ingest', 'migrate', 'nats', 'scorer-a', 'scorer-b', 'simulator']);
    const cfg = parse(run('config')) as { services: Record<string, { environment?: Record<string, string>; healthcheck?: unknown; image?: string; command?: string[]; profiles?: string[] }> };
    const s = cfg.services;
    expect(s.simulator!.profiles).toEqual(['simulate']);
    for (const name of ['nats', 'clickhouse', 'grafana', 'ingest', 'scorer-a', 'scorer-b', 'migrate']) expect(s[name]!.profiles, name).toBeUndefined();
    expect(s.nats!.image).toMatch(/^nats:2\.1[1-9]/);
    expect(s.nats!.command).toEqual(expect.arrayContaining(['-js', '-sd', '/data', '--user', 'vafa', '--pass']));
    expect(s.grafana!.environment!.GF_INSTALL_PLUGINS).toMatch(/^grafana-clickhouse-datasource/);
    for (const name of ['nats', 'clickhouse', 'grafana', 'ingest']) expect(s[name]!.healthcheck, name).toBeDefined();
    for (const name of ['ingest', 'scorer-a', 'scorer-b']) {
      expect(s[name]!.environment).toMatchObject({ NATS_URL: 'nats://nats:4222', CLICKHOUSE_URL: 'http://clickhouse:8123', CLICKHOUSE_DATABASE: 'vafa' });
      expect(() => loadSettings(s[name]!.environment), name).not.toThrow();
      // vafa ingest / scorer would refuse engines off their machine without credentials (docs/security.md)
      expect(insecureEngines(loadSettings(s[name]!.environment)), name).toEqual([]);
    }
    // The scorers own disjoint shares that together cover every partition.
    const owned = ['scorer-a', 'scorer-b'].flatMap((n) => s[n]!.environment!.VAFA_SCORER_PARTITIONS!.split(',').map(Number));
    expect(owned.sort((a, b) => a - b)).toEqual([...Array(Number(s['scorer-a']!.environment!.VAFA_PARTITIONS)).keys()]);
  });

  it('builds vafa from node:22-slim with npm ci and runs bin/vafa.js', () => {
    const df = readFileSync(path.join(ROOT, 'docker/vafa.Dockerfile'), 'utf8');
    expect(df).toMatch(/^FROM node:22-slim/m);
    expect(df).toMatch(/npm ci/);
    expect(df).toMatch(/"node", ("--[^"]+", )*"bin\/vafa\.js"/); // with the V8 flags of platform/node-flags.ts (test/unit/node-flags.test.ts)
    expect(existsSync(path.join(ROOT, 'docker/clickhouse/initdb/10-grafana-reader.sh'))).toBe(true);
  });
});

describe('dashboard views', () => {
  it('have a time-ordered copy, fed by a materialized view, for every table a time-ranged panel reads', () => {
    const copies = DASHBOARD_VIEWS.filter((v) => v.kind === 'table' && v.timeColumn);
    expect(copies.map((c) => c.source).sort()).toEqual(['feedback', 'lifecycle_transitions', 'offer_conversions', 'offer_conversions', 'offers', 'offers', 'offers_held', 'points_ledger', 'scorer_batches', 'scored_transactions'].sort());
    for (const c of copies) {
      const sql = c.sql('vafa');
      expect(sql).toMatch(new RegExp(`ORDER BY \\(toStartOfHour\\(${c.timeColumn}\\)`));
      expect(sql).toMatch(/ENGINE = ReplacingMergeTree/);
      expect(DASHBOARD_VIEWS.some((m) => m.kind === 'materialized' && m.sql('vafa').includes(`TO vafa.${c.name} AS`))).toBe(true);
    }
  });

  it('have a clustered form: replicated local copies, Distributed tables, views on the local sources', () => {
    const stmts = dashboardStatements('vafa', { cluster: 'vafa' }).map((s) => s.sql);
    expect(stmts.filter((s) => /ReplicatedReplacingMergeTree\('\/clickhouse\/tables\/\{shard\}\/vafa\/dash_tx_v1_local', '\{replica\}', stream_seq\)/.test(s))).toHaveLength(1);
    expect(stmts.some((s) => s.includes('CREATE TABLE IF NOT EXISTS vafa.dash_tx_v1 ON CLUSTER vafa AS vafa.dash_tx_v1_local\nENGINE = Distributed(vafa, vafa, dash_tx_v1_local, cityHash64(customer_id))'))).toBe(true);
    expect(stmts.some((s) => s.includes('TO vafa.dash_tx_v1_local AS') && s.includes('FROM vafa.scored_transactions_local'))).toBe(true);
    expect(stmts.every((s) => s.includes('ON CLUSTER vafa'))).toBe(true);
  });
});
