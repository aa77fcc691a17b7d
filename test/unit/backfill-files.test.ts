/**
 * Backfill from files, without engines (the LMDB state store in a temp dir, rows collected in memory):
 * CSV and gzipped NDJSON in stream order, bad lines named by file and line (counted, or fatal with
 * `strict`), events after `--cutover` left to the live stream, no offer decided for history, and a club
 * migration: opening balances as `migration` ledger entries naming their source line, lots that expire on
 * their own dates, the migrated tier.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Row } from '../../sinks/mapping.js';
import { backfill, BackfillError, type BackfillOptions } from '../../scorer/runtime/backfill/backfill.js';
import { classify, splitCsv } from '../../scorer/runtime/backfill/sources.js';
import { LmdbStateStore } from '../../scorer/runtime/store/lmdb-store.js';
import { defaultEngineConfig } from '../../config/policy.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'vafa-backfill-files-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const tokenKey = 'test-token-key-0123456789';

async function run(paths: string[], extra: Partial<BackfillOptions> = {}): Promise<{ rows: Map<string, Row[]>; summary: Awaited<ReturnType<typeof backfill>>; store: string }> {
  const where = path.join(dir, `state-${Math.random().toString(36).slice(2)}`);
  const store = LmdbStateStore.open({ path: where });
  const rows = new Map<string, Row[]>();
  try {
    const summary = await backfill({
      paths, engineConfig: defaultEngineConfig(), partitions: 3, tokenKey, store, base: 10, batch: 7,
      sink: { write: async (m) => { for (const [t, l] of m) rows.set(t, [...(rows.get(t) ?? []), ...l]); return []; } },
      ...extra,
    });
    return { rows, summary, store: where };
  } finally {
    await store.close();
  }
}

function tx(i: number, customer: string, at: string, amount = 2_000_000): Record<string, unknown> {
  return { tx_id: `T${i}`, customer_id: customer, channel: 'pos', amount_minor: amount, currency: 'IRR', occurred_at: at };
}

describe('backfill sources', () => {
  it('classifies files by name and splits quoted CSV', () => {
    expect(classify('/x/transactions-2024.csv.gz')).toEqual({ kind: 'transaction', format: 'csv' });
    expect(classify('/x/profiles.ndjson')).toEqual({ kind: 'profile', format: 'ndjson' });
    expect(classify('/x/club_balances.csv')).toEqual({ kind: 'migration', format: 'csv' });
    expect(classify('/x/labels.ndjson')).toBeUndefined();
    expect(splitCsv('a,"b,""c""",,d')).toEqual(['a', 'b,"c"', '', 'd']);
    expect(splitCsv('a,"b')).toBeUndefined();
  });
});

describe('vafa backfill (files → core → store)', () => {
  it('merges CSV and gzipped NDJSON in time order, names bad lines, leaves events after the cut-over, decides no offer', async () => {
    writeFileSync(path.join(dir, 'profiles.ndjson'), [
      { customer_id: 'A', opened_at: '2024-01-01T00:00:00Z', segment: 'mass', cards: ['4111111111111111'] },
      { customer_id: 'B', opened_at: '2024-02-01T00:00:00Z' },
    ].map((p) => JSON.stringify(p)).join('\n') + '\n');
    writeFileSync(path.join(dir, 'transactions-a.csv'), [
      'tx_id,customer_id,channel,amount_minor,currency,occurred_at',
      'T1,A,pos,2000000,IRR,2024-03-01T10:00:00Z',
      'T3,A,pos,nope,IRR,2024-03-03T10:00:00Z',
      'T5,A,"pos",2000000,IRR,2024-03-05T10:00:00Z',
      'T9,A,pos,2000000,IRR,2024-09-05T10:00:00Z',
    ].join('\n') + '\n');
    writeFileSync(path.join(dir, 'transactions-b.ndjson.gz'), gzipSync([tx(2, 'B', '2024-03-02T10:00:00Z'), tx(4, 'B', '2024-03-04T10:00:00Z'), { oops: true }]
      .map((t) => JSON.stringify(t)).join('\n') + '\n{not json\n'));
    const { rows, summary } = await run([dir], { cutover: Date.parse('2024-06-30T00:00:00Z') });
    expect(summary.byKind).toMatchObject({ profile: 2, transaction: 4 });
    expect(summary.afterCutover).toBe(1);
    expect(summary.bad).toBe(3);
    expect(summary.badLines.map((b) => `${path.basename(b.file)}:${b.line}`)).toEqual(['transactions-a.csv:3', 'transactions-b.ndjson.gz:3', 'transactions-b.ndjson.gz:4']);
    expect(summary.badLines[0]!.reason).toMatch(/amount_minor/);
    const scored = rows.get('scored_transactions')!;
    // Stream order: profiles, then T1 T2 T4 T5 by time across both files, with TX sequences after the base.
    expect(scored.map((r) => [r.tx_id, r.stream_seq])).toEqual([['T1', 13], ['T2', 14], ['T4', 15], ['T5', 16]]);
    expect(summary.position).toBe(16);
    expect(rows.get('offers') ?? []).toEqual([]);
    expect(summary.cutover).toBe('2024-06-30T00:00:00.000Z');
  });

  it('stops at the first bad line with --strict, naming it', async () => {
    writeFileSync(path.join(dir, 'transactions.ndjson'), `${JSON.stringify(tx(1, 'A', '2024-03-01T10:00:00Z'))}\n${JSON.stringify({ ...tx(2, 'A', '2024-03-02T10:00:00Z'), channel: 'teleport' })}\n`);
    await expect(run([dir], { strict: true })).rejects.toThrow(BackfillError);
    await expect(run([dir], { strict: true })).rejects.toThrow(/transactions\.ndjson:2: channel: must be one of/);
  });

  it('migrates a previous club: migration entries naming file and line, lots expiring on their own dates, the tier', async () => {
    writeFileSync(path.join(dir, 'profiles.ndjson'), JSON.stringify({ customer_id: 'M', opened_at: '2020-01-01T00:00:00Z' }) + '\n');
    writeFileSync(path.join(dir, 'club.csv'), [
      'customer_id,points,expires_at,tier,migrated_at',
      'M,1000,2024-04-30T23:59:59Z,gold,2024-01-01T00:00:00Z',
      'M,500,2026-12-31T23:59:59Z,,2024-01-01T00:00:00Z',
      'M,-5,,,2024-01-01T00:00:00Z',
    ].join('\n') + '\n');
    writeFileSync(path.join(dir, 'transactions.ndjson'), [tx(1, 'M', '2024-02-01T10:00:00Z', 0), tx(2, 'M', '2024-06-01T10:00:00Z', 0)].map((t) => JSON.stringify(t)).join('\n') + '\n');
    const { rows, summary } = await run([dir]);
    expect(summary.byKind.migration).toBe(2);
    expect(summary.bad).toBe(1);
    expect(summary.badLines[0]!.line).toBe(4);
    const ledger = rows.get('points_ledger')!;
    const migration = ledger.filter((r) => r.kind === 'migration');
    const club = path.join(dir, 'club.csv');
    expect(migration.map((r) => [r.points, r.source_id, r.expires_at])).toEqual([
      [1000, `${club}:2`, '2024-04-30T23:59:59.000Z'],
      [500, `${club}:3`, '2026-12-31T23:59:59.000Z'],
    ]);
    expect(migration[1]!.balance_after).toBe(1500);
    // The first lot expires on its date as the clock passes it (the June transaction moves the watermark).
    const expired = ledger.filter((r) => r.kind === 'expire');
    expect(expired.map((r) => r.points)).toEqual([-1000]);
    expect(rows.get('tier_changes')!.some((r) => r.to_tier === 'gold' && String(r.reason).startsWith('migration'))).toBe(true);
    const state = rows.get('customer_state')!.filter((r) => r.customer_id === 'M').at(-1)!;
    expect(state.points_balance).toBe(500);
  });

  it('resumes an interrupted backfill from the committed position without applying anything twice', async () => {
    const lines = Array.from({ length: 60 }, (_, i) => JSON.stringify(tx(i, `C${i % 5}`, new Date(Date.UTC(2024, 2, 1) + i * 3_600_000).toISOString())));
    writeFileSync(path.join(dir, 'transactions.ndjson'), lines.join('\n') + '\n');
    const whole = await run([dir]);
    const where = path.join(dir, 'resume');
    // A first run that got through the first 30 events only (as if interrupted after its commit).
    const partDir = path.join(dir, 'part');
    mkdirSync(partDir);
    writeFileSync(path.join(partDir, 'transactions.ndjson'), lines.slice(0, 30).join('\n') + '\n');
    const s1 = LmdbStateStore.open({ path: where });
    await backfill({ paths: [partDir], engineConfig: defaultEngineConfig(), partitions: 3, tokenKey, store: s1, base: 10, batch: 7 });
    await s1.close();
    const s2 = LmdbStateStore.open({ path: where });
    const collected: Row[] = [];
    const again = await backfill({
      paths: [path.join(dir, 'transactions.ndjson')], engineConfig: defaultEngineConfig(), partitions: 3, tokenKey, store: s2, base: 10, batch: 7,
      sink: { write: async (m) => { collected.push(...(m.get('scored_transactions') ?? [])); return []; } },
    });
    await s2.close();
    expect(again.resumed).toBe(30);
    // Finished, and TX advanced past it: the same history again is refused, not counted twice.
    const s3 = LmdbStateStore.open({ path: where });
    await expect(backfill({ paths: [path.join(dir, 'transactions.ndjson')], engineConfig: defaultEngineConfig(), partitions: 3, tokenKey, store: s3, base: again.position }))
      .rejects.toThrow(/already holds a finished backfill/);
    await s3.close();
    expect(again.events).toBe(30);
    expect(collected.map((r) => r.tx_id)).toEqual(whole.rows.get('scored_transactions')!.slice(30).map((r) => r.tx_id));
    expect(collected.map((r) => r.points)).toEqual(whole.rows.get('scored_transactions')!.slice(30).map((r) => r.points));
  });
});
