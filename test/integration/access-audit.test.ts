/**
 * The access-audit writer (api/audit.ts) on the real embedded ClickHouse: rows are batched (one insert per
 * `maxBatch`), land in `access_audit` and its daily view; with ClickHouse unreachable the buffer stays
 * bounded and what it drops is counted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { AccessAudit } from '../../api/audit.js';
import { createWarehouseClient } from '../../sinks/clickhouse/client.js';
import { createLogger } from '../../platform/log.js';
import { queryRows, startTestStack, waitFor, type TestStack } from '../support/stack.js';

const logger = createLogger({ level: 'silent' });
let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ scorer: false, api: false });
});
afterAll(async () => {
  await stack?.destroy();
});

const entry = (i: number): Parameters<AccessAudit['record']>[0] => ({
  principal: `analyst-${i % 3}`, via: 'bearer', action: i % 2 ? 'customer.view' : 'customer.ledger', customer_id: `C${i % 50}`,
  method: 'GET', route: '/v1/customers/:id', status: 200, remote_addr: '10.1.2.3', request_id: `r${i}`,
});

describe('access audit writer', () => {
  it('batches rows into access_audit and the daily view', async () => {
    const inserts: number[] = [];
    const warehouse = stack.warehouse;
    const counting = new Proxy(warehouse, {
      get(target, prop, recv) {
        if (prop === 'insert') return (args: { values: unknown[] }) => { inserts.push(args.values.length); return target.insert(args as never); };
        return Reflect.get(target, prop, recv) as unknown;
      },
    });
    const audit = new AccessAudit({ warehouse: counting, database: 'vafa', logger, flushMs: 50, maxBatch: 1000 });
    const n = 5000;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) audit.record(entry(i));
    await audit.close();
    const ms = performance.now() - t0;
    expect(audit.written).toBe(n);
    expect(inserts.every((k) => k <= 1000)).toBe(true);
    expect(inserts.length).toBeLessThanOrEqual(Math.ceil(n / 1000) + 1);
    const [row] = await queryRows<{ n: number; customers: number }>(stack, 'SELECT count() AS n, uniqExact(customer_id) AS customers FROM vafa.access_audit FINAL');
    expect(row).toEqual({ n, customers: 50 });
    const daily = await queryRows<{ principal: string; requests: number; customers: number }>(stack,
      "SELECT principal, sum(requests) AS requests, max(customers) AS customers FROM vafa.v_access_audit_daily GROUP BY principal ORDER BY principal");
    expect(daily.map((d) => d.principal)).toEqual(['analyst-0', 'analyst-1', 'analyst-2']);
    expect(daily.reduce((a, d) => a + Number(d.requests), 0)).toBe(n);
    if (process.env.AUDIT_DEBUG) console.log(`${n} audit rows in ${ms.toFixed(0)} ms (${Math.round(n / (ms / 1000))} rows/s), ${inserts.length} inserts`);
  });

  it('keeps at most maxBuffered rows while ClickHouse is unreachable, counts the drops', async () => {
    const registry = new Registry();
    const dead = createWarehouseClient({ url: 'http://127.0.0.1:9', user: 'default', password: '', database: 'vafa' }, { requestTimeoutMs: 1000 });
    const audit = new AccessAudit({ warehouse: dead, database: 'vafa', logger, registry, flushMs: 20, maxBatch: 50, maxBuffered: 200 });
    for (let i = 0; i < 500; i++) audit.record(entry(i));
    await waitFor(async () => audit.pending === 200 && audit.dropped === 300, 10_000, 'the bound');
    expect((await registry.getSingleMetric('vafa_access_audit_dropped_total')!.get()).values[0]!.value).toBe(300);
    await audit.close();
    expect(audit.written).toBe(0);
    expect(audit.pending + audit.dropped).toBe(500);
    await dead.close();
  });
});
