/**
 * Retention per table (config/retention.ts, sinks/clickhouse/retention.ts) on the real embedded
 * ClickHouse: a start applies the defaults as TTLs; `migrate` with other settings changes the TTL of the
 * existing tables and of their dashboard copies (rows past a shortened TTL go), removes it for 0, and
 * leaves a table already right alone. The setting is parsed and refused by name.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSettings, SettingsError } from '../../config/settings.js';
import { RETENTION_DEFAULTS } from '../../config/retention.js';
import { migrate } from '../../sinks/clickhouse/migrate.js';
import { currentTtl } from '../../sinks/clickhouse/retention.js';
import { queryRows, startTestStack, waitFor, type TestStack } from '../support/stack.js';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ scorer: false, api: false, overrides: { retentionDays: RETENTION_DEFAULTS } });
});
afterAll(async () => {
  await stack?.destroy();
});

async function ttls(): Promise<Record<string, string>> {
  const rows = await queryRows<{ name: string; engine_full: string }>(stack, "SELECT name, engine_full FROM system.tables WHERE database = 'vafa' AND engine LIKE '%MergeTree%'");
  return Object.fromEntries(rows.map((r) => [r.name, currentTtl(r.engine_full)]));
}

const DAY = 86_400_000;
const tx = (id: string, ageDays: number): Record<string, unknown> => ({
  tx_id: id, customer_id: 'R1', channel: 'pos', amount_minor: 1000, currency: 'EUR', occurred_at: new Date(Date.now() - ageDays * DAY).toISOString(),
  status: 'approved', points: 1, churn_probability: 0.1, partition: 0, stream_seq: 1, scored_at: new Date().toISOString(),
});

describe('retention per table', () => {
  it('a start applies the defaults as TTLs, dashboard copies following their source', async () => {
    const t = await ttls();
    expect(t.scored_transactions).toBe('toDateTime(occurred_at) + toIntervalDay(400)');
    expect(t.dash_tx_v1).toBe('toDateTime(occurred_at) + toIntervalDay(400)');
    expect(t.points_ledger).toBe('toDateTime(occurred_at) + toIntervalDay(3650)');
    expect(t.dash_ledger_v1).toBe('toDateTime(occurred_at) + toIntervalDay(3650)');
    expect(t.offer_conversions).toBe('toDateTime(offered_at) + toIntervalDay(400)');
    expect(t.feedback).toBe('toDateTime(occurred_at) + toIntervalDay(1095)');
    expect(t.access_audit).toBe(`toDateTime(at) + toIntervalDay(${RETENTION_DEFAULTS.access_audit})`);
    expect(t.scorer_batches).toBe('toDateTime(flushed_at) + toIntervalDay(30)');
    expect(t.customer_state).toBe('');
  });

  it('migrate changes the TTL of existing tables: shorter drops the rows past it, 0 removes it, a rerun changes nothing', async () => {
    await stack.warehouse.insert({ table: 'vafa.scored_transactions', values: [tx('OLD', 100), tx('NEW', 5)], format: 'JSONEachRow' });
    const before = await queryRows<{ tx_id: string }>(stack, 'SELECT tx_id FROM vafa.dash_tx_v1 ORDER BY tx_id');
    expect(before.map((r) => r.tx_id)).toEqual(['NEW', 'OLD']);

    const retention = { ...RETENTION_DEFAULTS, scored_transactions: 30, customer_state: 90, scorer_batches: 0 };
    const r = await migrate(stack.warehouse, 'vafa', { retention });
    expect(r.retention.map((c) => c.table).sort()).toEqual(['customer_state', 'dash_batches_v1', 'dash_tx_v1', 'scored_transactions', 'scorer_batches']);
    const t = await ttls();
    expect(t.scored_transactions).toBe('toDateTime(occurred_at) + toIntervalDay(30)');
    expect(t.dash_tx_v1).toBe('toDateTime(occurred_at) + toIntervalDay(30)');
    expect(t.customer_state).toBe('toDateTime(updated_at) + toIntervalDay(90)');
    expect(t.scorer_batches).toBe('');
    expect(t.dash_batches_v1).toBe('');
    expect(t.points_ledger).toBe('toDateTime(occurred_at) + toIntervalDay(3650)');

    for (const table of ['scored_transactions', 'dash_tx_v1']) {
      await waitFor(async () => {
        const rows = await queryRows<{ tx_id: string }>(stack, `SELECT tx_id FROM vafa.${table} ORDER BY tx_id`);
        return rows.length === 1 && rows[0]!.tx_id === 'NEW';
      }, 30_000, `the expired row to leave ${table}`);
    }
    expect((await migrate(stack.warehouse, 'vafa', { retention })).retention).toEqual([]);
  });

  it('VAFA_RETENTION_DAYS overrides the defaults, and a bad entry is refused by name', () => {
    expect(loadSettings({}).retentionDays).toEqual(RETENTION_DEFAULTS);
    const s = loadSettings({ VAFA_RETENTION_DAYS: 'scored_transactions=30, access_audit=3650' });
    expect(s.retentionDays).toEqual({ ...RETENTION_DEFAULTS, scored_transactions: 30, access_audit: 3650 });
    expect(() => loadSettings({ VAFA_RETENTION_DAYS: 'scored_tx=30' })).toThrow(SettingsError);
    expect(() => loadSettings({ VAFA_RETENTION_DAYS: 'scored_tx=30' })).toThrow(/VAFA_RETENTION_DAYS=.*unknown table scored_tx/);
    expect(() => loadSettings({ VAFA_RETENTION_DAYS: 'feedback=-1' })).toThrow(/VAFA_RETENTION_DAYS=.*expected table=days/);
    expect(() => loadSettings({ VAFA_RETENTION_DAYS: 'feedback=99999' })).toThrow(/at most 36500/);
    expect(() => loadSettings({ VAFA_RETENTION_DAYS: 'feedback=1,feedback=2' })).toThrow(/given twice/);
  });
});
