/**
 * Waiting for a running stack to finish what it was given, and counting what it wrote: used by `vafa up
 * --duration`, the benchmarks and the integration tests. Below cli/ and bench/, so that both can use it.
 */
import type { Stack } from './stack.js';
import { natsJsm, sleep, withDeadline } from '../platform/mod.js';
import { STREAM_TX } from '../contracts/subjects.js';
import { consumerName } from '../scorer/runtime/mod.js';

/** Waits until every partition consumer has nothing pending or un-acked (or the timeout passes). */
export async function waitForDrain(stack: Stack, timeoutMs: number): Promise<boolean> {
  const jsm = await natsJsm(stack.nc);
  const parts = stack.settings.scorerPartitions === 'all' ? [...Array(stack.settings.partitions).keys()] : stack.settings.scorerPartitions;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    let outstanding = 0;
    for (const p of parts) {
      const left = Math.max(100, deadline - Date.now());
      const info = await withDeadline(jsm.consumers.info(STREAM_TX, consumerName(p)), left, 'consumer info').catch(() => undefined);
      outstanding += info ? info.num_pending + info.num_ack_pending : 1;
    }
    if (outstanding === 0) return true;
    await sleep(Math.min(250, Math.max(0, deadline - Date.now())));
  }
  return false;
}

/** Rows of `table` in the stack's database (FINAL: a replayed row counts once). */
export async function countRows(stack: Stack, table: string): Promise<number> {
  const rs = await stack.warehouse.query({ query: `SELECT count() AS n FROM ${stack.settings.clickhouseDatabase}.${table} FINAL`, format: 'JSONEachRow' });
  const rows = await rs.json<{ n: string | number }>();
  return Number(rows[0]?.n ?? 0);
}
