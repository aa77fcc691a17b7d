/**
 * Ports in use: the check before a start names the setting of a port another process holds, and a local
 * nats-server that cannot have its port is a failed start, not one reported ready because the other
 * program answered there.
 */
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkPortsFree, PortInUseError } from '../../platform/ports.js';
import { freePort, startLocalNats } from '../../platform/nats-server.js';

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A plain TCP server on a free port of 127.0.0.1 (another program, to vafa). */
async function holdPort(): Promise<number> {
  const server = net.createServer((socket) => socket.end('HTTP/1.0 200 OK\r\n\r\nnot nats\r\n'));
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as net.AddressInfo).port;
}

describe('the ports of a start', () => {
  it('are refused when another process listens on one, naming its setting; free ones and 0 pass', async () => {
    const held = await holdPort();
    const free = await freePort('127.0.0.1');
    await expect(checkPortsFree([{ setting: 'PORT', host: '127.0.0.1', port: free }, { setting: 'ISO8583_PORT', host: '127.0.0.1', port: 0 }])).resolves.toBeUndefined();
    const err = await checkPortsFree([{ setting: 'PORT', host: '127.0.0.1', port: free }, { setting: 'VAFA_NATS_PORT', host: '127.0.0.1', port: held }]).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(PortInUseError);
    expect((err as PortInUseError).setting).toBe('VAFA_NATS_PORT');
    expect((err as Error).message).toBe(`127.0.0.1:${held} (VAFA_NATS_PORT) is already in use: another vafa, or another program, listens there; stop it or set VAFA_NATS_PORT to a free port`);
    // The check leaves the free port free.
    await expect(checkPortsFree([{ setting: 'PORT', host: '127.0.0.1', port: free }])).resolves.toBeUndefined();
  });

  it('a local nats-server whose port another program holds fails to start, with its own reason', async () => {
    const held = await holdPort();
    const storeDir = mkdtempSync(path.join(os.tmpdir(), 'vafa-ports-nats-'));
    cleanups.push(() => rmSync(storeDir, { recursive: true, force: true }));
    const started = Date.now();
    const err = await startLocalNats({ port: held, storeDir }).then(async (nats) => {
      await nats.kill();
      return undefined;
    }, (e: unknown) => e);
    expect(err, 'startLocalNats reported a nats-server ready on a port it could not have').toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/nats-server exited/);
    expect((err as Error).message).toMatch(/address already in use/);
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});
