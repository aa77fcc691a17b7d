/**
 * The ClickHouse users Grafana reads as (docker/clickhouse/initdb/10-grafana-reader.sh), checked against the
 * schema `vafa migrate` creates on the embedded engine: `grafana` (every organization member's data source)
 * reads every relation the read dashboards need and nothing that reads `access_audit`; `grafana_audit` (the
 * administrators' organization) reads exactly the audit relations, which is all the access-audit dashboard reads.
 *
 * The grants are read from the script, not exercised: chDB cannot hold users (its `default` user has no
 * access management, and it has no writable user directory: `CREATE USER` answers `Code: 497 … Not enough
 * privileges … CREATE USER`, `GRANT … TO g` answers `Code: 511 … There is no role g in user directories`).
 * So this derives each user's effective SELECT from the script's GRANT/REVOKE statements (partial revokes:
 * a REVOKE on one relation takes it out of a database-wide GRANT, as ClickHouse does).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_DASHBOARDS, DASHBOARDS, type DashboardSpec } from '../../dashboards/grafana/definitions.js';
import { startWarehouse, type Warehouse } from '../../platform/warehouse/server.js';
import { migrate } from '../../sinks/clickhouse/migrate.js';

const DB = 'vafa';
const SCRIPT = path.resolve(import.meta.dirname, '../../docker/clickhouse/initdb/10-grafana-reader.sh');

interface Grants { database: Set<string>; granted: Set<string>; revoked: Set<string> }

/** Effective SELECT per user from the script's statements (only `SELECT` on `vafa.*` or `vafa.<relation>`). */
function grantsOf(script: string): Map<string, Grants> {
  const sql = /<<SQL\n([\s\S]*?)\nSQL\n/.exec(script)?.[1];
  if (!sql) throw new Error(`${SCRIPT}: no <<SQL … SQL block`);
  const users = new Map<string, Grants>();
  const user = (name: string): Grants => {
    if (!users.has(name)) users.set(name, { database: new Set(), granted: new Set(), revoked: new Set() });
    return users.get(name)!;
  };
  for (const statement of sql.split(';').map((s) => s.trim()).filter(Boolean)) {
    const grant = /^(GRANT|REVOKE)\s+(\S+)\s+ON\s+(\w+)\.(\*|\w+)\s+(?:TO|FROM)\s+(\w+)$/i.exec(statement);
    if (!grant) {
      if (/^(GRANT|REVOKE)/i.test(statement)) throw new Error(`${SCRIPT}: statement not understood by this test: ${statement}`);
      continue;
    }
    const [, verb, privilege, database, relation, name] = grant as unknown as [string, string, string, string, string, string];
    expect(privilege, statement).toBe('SELECT');
    expect(database, statement).toBe(DB);
    const g = user(name);
    if (verb.toUpperCase() === 'GRANT') (relation === '*' ? g.database : g.granted).add(relation === '*' ? database : relation);
    else g.revoked.add(relation);
  }
  return users;
}

const canRead = (g: Grants | undefined, relation: string): boolean =>
  g !== undefined && !g.revoked.has(relation) && (g.granted.has(relation) || g.database.has(DB));

/** Relations a dashboard's SQL reads (FROM / JOIN, with or without the database). */
function relationsRead(dashboards: readonly DashboardSpec[]): Set<string> {
  const out = new Set<string>();
  for (const d of dashboards) {
    for (const p of d.panels) for (const sql of p.sql) for (const m of sql.matchAll(/\b(?:FROM|JOIN)\s+(?:vafa\.)?([A-Za-z_]\w*)/gi)) out.add(m[1]!);
    for (const v of d.variables) if (v.type === 'query') for (const m of v.query.matchAll(/\b(?:FROM|JOIN)\s+(?:vafa\.)?([A-Za-z_]\w*)/gi)) out.add(m[1]!);
  }
  return out;
}

let dir: string;
let wh: Warehouse;
let ch: ClickHouseClient;
/** Every relation of the migrated database, with its CREATE statement. */
let relations: Map<string, string>;

beforeAll(async () => {
  dir = fs.mkdtempSync(`${os.tmpdir()}/vafa-grants-`);
  wh = await startWarehouse({ port: 0, dataDir: dir });
  ch = createClient({ url: wh.url, log: { level: ClickHouseLogLevel.OFF } });
  await ch.command({ query: `CREATE DATABASE IF NOT EXISTS ${DB}` });
  await migrate(ch, DB);
  const rs = await ch.query({ query: `SELECT name, create_table_query FROM system.tables WHERE database = '${DB}'`, format: 'JSONEachRow' });
  relations = new Map((await rs.json<{ name: string; create_table_query: string }>()).map((r) => [r.name, r.create_table_query]));
}, 120_000);
afterAll(async () => {
  await ch?.close();
  await wh?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** `access_audit` and every relation reading it, directly or through another (a view, a materialized view and the table it writes to). */
function auditRelations(): Set<string> {
  const audit = new Set(['access_audit']);
  for (let grown = true; grown;) {
    grown = false;
    for (const [name, create] of relations) {
      if (audit.has(name)) continue;
      const reads = [...audit].some((a) => new RegExp(`\\b${DB}\\.${a}\\b`).test(create));
      if (!reads) continue;
      audit.add(name);
      grown = true;
      const target = /\bTO\s+(?:\w+\.)?(\w+)/.exec(create)?.[1];
      if (target && relations.has(target)) audit.add(target);
    }
  }
  return audit;
}

describe('ClickHouse users for Grafana (docker/clickhouse/initdb/10-grafana-reader.sh)', () => {
  it('grafana reads no relation that holds or reads the access audit, and every relation of the read dashboards', () => {
    const grants = grantsOf(fs.readFileSync(SCRIPT, 'utf8')).get('grafana');
    const audit = auditRelations();
    expect([...audit].sort()).toEqual(expect.arrayContaining(['access_audit', 'v_access_audit_daily']));
    for (const relation of audit) expect(canRead(grants, relation), `grafana may read ${relation}`).toBe(false);
    const needed = relationsRead(DASHBOARDS);
    expect(needed.size).toBeGreaterThan(10);
    for (const relation of needed) {
      expect(relations.has(relation), `a read dashboard reads ${relation}, which migrate does not create`).toBe(true);
      expect(canRead(grants, relation), `grafana may not read ${relation}`).toBe(true);
    }
  });

  it('grafana_audit reads exactly the audit relations, which is all the access-audit dashboard reads', () => {
    const grants = grantsOf(fs.readFileSync(SCRIPT, 'utf8')).get('grafana_audit');
    const audit = auditRelations();
    const readable = [...relations.keys()].filter((r) => canRead(grants, r)).sort();
    expect(readable).toEqual([...audit].sort());
    for (const relation of relationsRead(ADMIN_DASHBOARDS)) expect(audit.has(relation), `the audit dashboard reads ${relation}`).toBe(true);
  });

  it('every GRANT and REVOKE names a relation migrate creates (a misspelt REVOKE would revoke nothing)', () => {
    for (const [user, g] of grantsOf(fs.readFileSync(SCRIPT, 'utf8'))) {
      for (const relation of [...g.granted, ...g.revoked]) expect(relations.has(relation), `${user}: ${relation}`).toBe(true);
    }
  });

  it('the check itself: without the REVOKEs grafana could read the audit', () => {
    const script = fs.readFileSync(SCRIPT, 'utf8').replace(/^REVOKE .*\n/gm, '');
    const grants = grantsOf(script).get('grafana');
    expect(canRead(grants, 'access_audit')).toBe(true);
    expect(canRead(grants, 'v_access_audit_daily')).toBe(true);
  });
});
