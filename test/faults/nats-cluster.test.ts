/**
 * A three-node nats-server cluster on loopback with R3 streams survives the loss of one node: every
 * event whose publish was acknowledged is in the stream afterwards, read back from the survivors.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { jetstreamManager, type StoredMsg } from '@nats-io/jetstream';
import { freePort, startLocalNats, type LocalNats } from '../../platform/nats-server.js';
import { connectNats, ensureStreams } from '../../platform/nats.js';
import { Publisher } from '../../platform/publisher.js';
import { waitFor } from '../support/stack.js';
import type { NatsConnection } from '@nats-io/transport-node';

const dir = mkdtempSync(path.join(os.tmpdir(), 'vafa-cluster-'));
const nodes: LocalNats[] = [];
let nc: NatsConnection | undefined;

afterAll(async () => {
  await nc?.close().catch(() => undefined);
  for (const n of nodes) await n.stop().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

describe('three-node NATS cluster, R3 streams', () => {
  it('keeps every acknowledged event when a node dies', async () => {
    const routePorts = [await freePort(), await freePort(), await freePort()];
    const routes = routePorts.map((p) => `nats://127.0.0.1:${p}`).join(',');
    for (let i = 0; i < 3; i++) {
      nodes.push(await startLocalNats({
        port: 0, storeDir: path.join(dir, `n${i}`), serverName: `n${i}`,
        extraArgs: ['--cluster_name', 'vafa', '--cluster', `nats://127.0.0.1:${routePorts[i]}`, '--routes', routes],
      }));
    }
    nc = await connectNats(nodes.map((n) => n.url).join(','), 'cluster-test');
    const conn = nc;
    const jsm = await waitFor(async () => {
      const m = await jetstreamManager(conn, { timeout: 2000 });
      await ensureStreams(m, { replicas: 3, duplicateWindowS: 3600 });
      return m;
    }, 60_000, 'a JetStream meta leader and R3 streams');
    const info = await jsm.streams.info('TX');
    expect(info.config.num_replicas).toBe(3);

    const publisher = new Publisher(nc, { expectStream: 'TX', timeoutMs: 4000 });
    const acked = new Set<string>();
    const publishRange = async (from: number, to: number): Promise<void> => {
      let todo = Array.from({ length: to - from }, (_, k) => from + k);
      for (let attempt = 0; attempt < 40 && todo.length; attempt++) {
        const msgs = todo.map((i) => ({ subject: `tx.${i % 4}.transaction`, msgId: `T${i}`, data: Buffer.from(JSON.stringify({ tx_id: `T${i}` })) }));
        const results = publisher.available ? await publisher.publishAll(msgs) : msgs.map(() => ({ ok: false as const, error: 'down', retryable: true }));
        results.forEach((r, k) => { if (r.ok) acked.add(msgs[k]!.msgId); });
        todo = todo.filter((_, k) => !results[k]!.ok);
        if (todo.length) await new Promise((r) => setTimeout(r, 250));
      }
    };
    await publishRange(0, 3000);
    // kill a node (the stream leader, when we can tell) while publishing goes on
    const leader = (await jsm.streams.info('TX')).cluster?.leader;
    const victim = nodes.find((n, i) => `n${i}` === leader) ?? nodes[0]!;
    const killing = victim.kill();
    await publishRange(3000, 6000);
    await killing;
    expect(acked.size).toBe(6000);

    const after = await waitFor(async () => {
      const s = await jsm.streams.info('TX');
      return s.cluster?.leader && s.state.messages >= acked.size ? s : undefined;
    }, 60_000, 'a new stream leader with every message');
    expect(after.state.messages).toBe(6000);
    // Right after a failover the cluster may still answer "JetStream system temporarily unavailable".
    const readMessage = async (seq: number): Promise<StoredMsg | null> => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await jsm.streams.getMessage('TX', { seq });
        } catch (err) {
          if (attempt >= 60 || !/temporarily unavailable/i.test((err as Error).message)) throw err;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    };
    const seen = new Set<string>();
    for (let seq = after.state.first_seq; seq <= after.state.last_seq; seq++) {
      const m = await readMessage(seq);
      if (m) seen.add((JSON.parse(Buffer.from(m.data).toString()) as { tx_id: string }).tx_id);
    }
    for (const id of acked) expect(seen.has(id)).toBe(true);
    publisher.close();
  }, 180_000);
});
