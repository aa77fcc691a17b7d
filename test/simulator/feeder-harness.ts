/**
 * What the feeder's closed-loop tests stand on: a real nats-server with vafa's streams, and an HTTP
 * server in vafa's API's place that accepts every posted item (202) and hands each request's items to
 * the test.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { startLocalNats } from '../../platform/nats-server.js';
import { connectNats, ensureStreams } from '../../platform/nats.js';

export interface FeederHarness {
  /** The stand-in API's base URL (the feeder's `target`). */
  url: string;
  natsUrl: string;
  nc: NatsConnection;
  /** Stops both servers and removes the temporary directory. */
  close(): Promise<void>;
}

export async function startFeederHarness(name: string, onItems: (path: string, items: Record<string, unknown>[]) => void): Promise<FeederHarness> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `vafa-${name}-`));
  const nats = await startLocalNats({ port: 0, storeDir: path.join(dir, 'nats') });
  const nc = await connectNats(nats.url, `${name}-test`);
  await ensureStreams(await jetstreamManager(nc), { replicas: 1, duplicateWindowS: 120 });
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const items = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>[];
      onItems(req.url ?? '', items);
      res.writeHead(202, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ accepted: items.length, duplicates: 0, results: items.map((_, index) => ({ index, status: 'accepted', id: 'x' })) }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    natsUrl: nats.url,
    nc,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await nc.close();
      await nats.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
