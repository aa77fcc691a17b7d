/**
 * nats-server killed under ingest load: every item the API acknowledged (`accepted` / `duplicate`) is in
 * stream TX afterwards, and every item it could not store was reported as failed (503), never as stored.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { makeTx, postJson, startTestStack, waitFor, type TestStack } from '../support/stack.js';
import { startLocalNats } from '../../platform/nats-server.js';

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack({ scorer: false });
});
afterAll(async () => {
  await stack?.destroy();
});

describe('ingest while nats-server dies', () => {
  it('never acknowledges an event it did not store', async () => {
    const acked = new Set<string>();
    const failed = new Set<string>();
    let statuses: Record<number, number> = {};
    let next = 0;
    let running = true;
    const client = async (): Promise<void> => {
      while (running) {
        const batch = Array.from({ length: 100 }, () => makeTx(next++, `OUT${next % 50}`));
        const r = await postJson(`${stack.apiUrl}/v1/transactions`, batch).catch(() => undefined);
        if (!r) continue;
        statuses = { ...statuses, [r.status]: (statuses[r.status] ?? 0) + 1 };
        for (const item of (r.body.results ?? []) as { id?: string; status: string }[]) {
          if (!item.id) continue;
          if (item.status === 'accepted' || item.status === 'duplicate') acked.add(item.id);
          else if (item.status === 'failed') failed.add(item.id);
        }
        if (r.status === 503) await new Promise((res) => setTimeout(res, 100));
      }
    };
    const clients = [client(), client(), client()];
    await waitFor(async () => acked.size > 2000, 30_000, 'load');
    const nats = stack.localNats!;
    await nats.kill();
    await new Promise((r) => setTimeout(r, 1500));
    stack.localNats = await startLocalNats({ port: nats.port, storeDir: path.join(stack.dataDir, 'nats') });
    const afterRestart = acked.size;
    await waitFor(async () => acked.size > afterRestart + 2000, 30_000, 'load after the restart');
    running = false;
    await Promise.all(clients);

    expect(statuses[503]).toBeGreaterThan(0);
    expect(failed.size).toBeGreaterThan(0);
    const jsm = await jetstreamManager(stack.nc);
    const info = await jsm.streams.info('TX');
    const stored = new Set<string>();
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const m = await jsm.streams.getMessage('TX', { seq }).catch(() => undefined);
      if (m) stored.add((JSON.parse(Buffer.from(m.data).toString()) as { tx_id: string }).tx_id);
    }
    const missing = [...acked].filter((id) => !stored.has(id));
    expect(missing).toEqual([]);
    // no item was reported both as stored and as failed
    expect([...failed].filter((id) => acked.has(id) && !stored.has(id))).toEqual([]);
  }, 120_000);
});
