/**
 * Partition leases on a real nats-server: losing one lease while its fenced worker takes long to stop
 * must not cost the instance its other leases (the refresh used to wait for that stop, and the other
 * leases expired one after another), and the lost partition is taken again once its worker has stopped.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalNats, type LocalNats } from '../../runtime/nats-server.js';
import { connectNats } from '../../runtime/nats.js';
import { createLogger } from '../../runtime/log.js';
import { PartitionOwnership, type Fence } from '../../scorer/runtime/ownership.js';

let dir: string;
let nats: LocalNats;
let nc: NatsConnection;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'vafa-ownership-'));
  nats = await startLocalNats({ port: 0, storeDir: path.join(dir, 'nats') });
  nc = await connectNats(nats.url, 'ownership-test');
}, 30_000);
afterAll(async () => {
  await nc?.close();
  await nats?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('partition leases', () => {
  it('keep the other partitions while a fenced worker stops slowly, then take the lost one again', async () => {
    const LEASE = 1000;
    const fences = new Map<number, Fence[]>();
    const releases: { p: number; at: number }[] = [];
    const ownership = new PartitionOwnership({
      nc, instance: 'only', partitions: 3, leaseMs: LEASE, logger: createLogger({ level: 'silent', name: 'test' }),
      acquire: async (p, fence) => void fences.set(p, [...(fences.get(p) ?? []), fence]),
      // The fenced worker of partition 0 finishes a long batch before it stops: three lease lifetimes.
      release: async (p) => {
        releases.push({ p, at: Date.now() });
        if (p === 0) await sleep(3 * LEASE);
      },
    });
    await ownership.start();
    try {
      expect(ownership.owned).toEqual([0, 1, 2]);
      const kv = await new Kvm(nc).open('vafa_leases');
      // Partition 0's lease disappears (as if it had expired): the next refresh loses it.
      await kv.purge('partition.0');
      await sleep(4.5 * LEASE);
      expect(releases.map((r) => r.p)).toEqual([0]);
      expect(fences.get(0)![0]!.valid).toBe(false);
      // The other leases were refreshed all along: never fenced, never released.
      expect(fences.get(1)!.map((f) => f.valid)).toEqual([true]);
      expect(fences.get(2)!.map((f) => f.valid)).toEqual([true]);
      // Partition 0 came back once its old worker had stopped, with a new fence.
      await sleep(LEASE);
      expect(ownership.owned).toEqual([0, 1, 2]);
      expect(fences.get(0)!.map((f) => f.valid)).toEqual([false, true]);
    } finally {
      await ownership.stop();
    }
  }, 30_000);

  it('take a lost partition again after two lease lifetimes even if its fenced worker never stops', async () => {
    const LEASE = 1000;
    let stuck = false;
    const fences = new Map<number, Fence[]>();
    const ownership = new PartitionOwnership({
      nc, instance: 'stuck', partitions: 2, leaseMs: LEASE, logger: createLogger({ level: 'silent', name: 'test' }),
      acquire: async (p, fence) => void fences.set(p, [...(fences.get(p) ?? []), fence]),
      // The first worker of partition 0 never stops (its new one, at the end, does).
      release: (p) => (p === 0 && (stuck = !stuck) ? new Promise<void>(() => undefined) : Promise.resolve()),
    });
    await ownership.start();
    try {
      const kv = await new Kvm(nc).open('vafa_leases');
      await kv.purge('partition.0');
      await sleep(1.2 * LEASE);
      expect(fences.get(0)!.map((f) => f.valid)).toEqual([false]);
      await sleep(2.5 * LEASE);
      expect(ownership.owned).toEqual([0, 1]);
      expect(fences.get(0)!.map((f) => f.valid)).toEqual([false, true]);
      expect(fences.get(1)!.map((f) => f.valid)).toEqual([true]);
    } finally {
      await ownership.stop();
    }
  }, 30_000);
});
