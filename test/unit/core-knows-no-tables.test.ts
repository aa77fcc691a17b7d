/**
 * The scorer's core emits domain events (scorer/core/events.ts) and `sinks/mapping.ts` turns them into
 * rows: no code in scorer/core names a ClickHouse table or a column the events are mapped to, so adding
 * a table or a column never touches the core. Comments may name them (they explain what a report shows).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { TABLES } from '../../sinks/clickhouse/schema.js';
import { OutputEmit, tableOf } from '../../sinks/mapping.js';
import type { DomainEvent } from '../../scorer/core/events.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CORE = path.join(ROOT, 'scorer/core');

function coreFiles(dir = CORE): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const full = path.join(dir, d.name);
    return d.isDirectory() ? coreFiles(full) : d.name.endsWith('.ts') ? [full] : [];
  });
}

/** Every string literal and property name written in the code of `file` (comments excluded). */
function namesIn(file: string): { text: string; line: number }[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const out: { text: string; line: number }[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node) || ts.isIdentifier(node)) {
      out.push({ text: node.text, line: source.getLineAndCharacterOfPosition(node.getStart()).line + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

describe('the core knows no table', () => {
  it('no code in scorer/core names a ClickHouse table', () => {
    const tables = new Set(TABLES.map((t) => t.name));
    // `feedback` and `offers` are also the names of event kinds and modules; the distinctive names are not.
    const distinctive = [...tables].filter((t) => t.includes('_'));
    expect(distinctive.length).toBeGreaterThanOrEqual(7);
    const found: string[] = [];
    for (const file of coreFiles()) {
      for (const { text, line } of namesIn(file)) if (distinctive.includes(text)) found.push(`${path.relative(ROOT, file)}:${line}: ${text}`);
    }
    expect(found).toEqual([]);
  });

  it('every table the mapping writes is a table of the warehouse schema', () => {
    const mapped = new Set<string>(['customer_state']);
    const types: DomainEvent['type'][] = [
      'transaction_scored', 'points_moved', 'tier_changed', 'stage_changed', 'offer_decided', 'offer_held', 'offer_converted', 'feedback_recorded', 'referral_qualified',
    ];
    for (const type of types) {
      const table = tableOf({ type } as DomainEvent);
      if (table) mapped.add(table);
    }
    const scorerTables = TABLES.filter((t) => mapped.has(t.name)).map((t) => t.name);
    expect(scorerTables.sort()).toEqual([...mapped].sort());
  });

  it('the scan would see a table named in code', () => {
    const file = path.join(CORE, '__probe__.ts');
    const names = (code: string): string[] => {
      const source = ts.createSourceFile(file, code, ts.ScriptTarget.Latest, true);
      const out: string[] = [];
      const visit = (node: ts.Node): void => {
        if (ts.isStringLiteral(node) || ts.isIdentifier(node)) out.push(node.text);
        ts.forEachChild(node, visit);
      };
      visit(source);
      return out;
    };
    expect(names("emit.row('points_ledger', { entry_id: 'x' });")).toContain('points_ledger');
    expect(names('const row = { points_ledger: 1 };')).toContain('points_ledger');
    expect(names('// points_ledger in a comment only')).not.toContain('points_ledger');
  });

  it('an OutputEmit reads the rows the mapping makes', () => {
    const emit = new OutputEmit();
    emit.event({ type: 'tier_changed', changeId: 'c1:7:0:silver', customerId: 'c1', from: 'bronze', to: 'silver', at: 0, reason: 'qualified', branchId: 'BR1', seq: 7 });
    expect(emit.rows.get('tier_changes')).toEqual([{
      change_id: 'c1:7:0:silver', customer_id: 'c1', from_tier: 'bronze', to_tier: 'silver', occurred_at: '1970-01-01T00:00:00.000Z', reason: 'qualified', branch_id: 'BR1', stream_seq: 7,
    }]);
    expect(emit.publishes).toEqual([]);
  });
});
