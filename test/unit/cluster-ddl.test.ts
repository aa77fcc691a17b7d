import { describe, expect, it } from 'vitest';
import { TABLES, createTableSql, schemaStatements } from '../../sinks/clickhouse/schema.js';

describe('clustered schema', () => {
  const cluster = schemaStatements('vafa', { cluster: 'vafa' });
  const single = schemaStatements('vafa');

  it('has a replicated local table and a distributed table for every single-node table', () => {
    expect(cluster).toHaveLength(1 + 2 * TABLES.length);
    for (const def of TABLES) {
      const local = cluster.find((s) => s.startsWith(`CREATE TABLE IF NOT EXISTS vafa.${def.name}_local ON CLUSTER vafa (`));
      const dist = cluster.find((s) => s.startsWith(`CREATE TABLE IF NOT EXISTS vafa.${def.name} ON CLUSTER vafa AS vafa.${def.name}_local`));
      expect(local, def.name).toBeDefined();
      expect(dist, def.name).toMatch(/ENGINE = Distributed\(vafa, vafa, \w+_local, cityHash64\(customer_id\)\)|ENGINE = Distributed\(vafa, vafa, \w+_local, rand\(\)\)/);
      expect(local).toContain(`ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/vafa/${def.name}_local', '{replica}'${def.version ? `, ${def.version}` : ''})`);
    }
  });

  it('differs from the single-node form only in engine, table name and ON CLUSTER', () => {
    for (const def of TABLES) {
      const s = createTableSql(def, 'vafa');
      const c = cluster.find((x) => x.startsWith(`CREATE TABLE IF NOT EXISTS vafa.${def.name}_local`))!;
      const normalise = (sql: string): string => sql
        .replace(`vafa.${def.name}_local ON CLUSTER vafa`, `vafa.${def.name}`)
        .replace(/ENGINE = \S+\(.*\)\n/, 'ENGINE = X\n');
      expect(normalise(c)).toBe(normalise(s));
    }
    expect(single[0]).toBe('CREATE DATABASE IF NOT EXISTS vafa');
    expect(cluster[0]).toBe('CREATE DATABASE IF NOT EXISTS vafa ON CLUSTER vafa');
  });
});
