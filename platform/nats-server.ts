/**
 * A local nats-server child process with JetStream, for the all-in-one default and for tests.
 * Production points `NATS_URL` at a real cluster instead (see docs/operations.md).
 * It runs in its own process group and stops when its parent dies (`spawnEngine`, platform/children.ts).
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Logger } from './log.js';
import { spawnEngine, stopChild } from './children.js';

export interface LocalNatsOptions {
  /** Client port; 0 picks a free one. */
  port: number;
  /** JetStream store directory. */
  storeDir: string;
  host?: string;
  logger?: Logger;
  /** Extra nats-server arguments (cluster routes in the cluster tests). */
  extraArgs?: string[];
  serverName?: string;
}

export interface LocalNats {
  url: string;
  port: number;
  pid: number;
  /** SIGTERM, wait for exit (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL, as a crash would. */
  kill(): Promise<void>;
  readonly exited: Promise<number | null>;
}

export class NatsServerNotFoundError extends Error {
  override readonly name = 'NatsServerNotFoundError';
  constructor() {
    super('nats-server is not installed: run `sudo apt-get install nats-server` (Debian/Ubuntu), or set NATS_URL to a running server (docker compose up nats)');
  }
}

/** Finds the nats-server binary: $NATS_SERVER_BIN, then PATH, then Debian's /usr/sbin and /usr/bin. */
export function findNatsServer(): string {
  const candidates = [
    process.env.NATS_SERVER_BIN,
    ...(process.env.PATH ?? '').split(path.delimiter).map((d) => path.join(d, 'nats-server')),
    '/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server',
  ].filter((c): c is string => !!c);
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new NatsServerNotFoundError();
  return found;
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Waits until the child said it is ready and its port accepts a connection. The port alone is not enough:
 * another program on it answers too, while the child exits for want of it.
 */
async function waitForPort(host: string, port: number, child: ChildProcess, said: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`nats-server exited (${child.exitCode ?? child.signalCode}) before accepting connections`);
    if (!said()) {
      await new Promise((r) => setTimeout(r, 50));
      continue;
    }
    const ok = await new Promise<boolean>((resolve) => {
      const sock = net.connect({ host, port }, () => { sock.destroy(); resolve(true); });
      sock.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nats-server did not accept connections on ${host}:${port} within ${timeoutMs} ms`);
}

export async function startLocalNats(opts: LocalNatsOptions): Promise<LocalNats> {
  const bin = findNatsServer();
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port === 0 ? await freePort(host) : opts.port;
  mkdirSync(opts.storeDir, { recursive: true });
  const args = ['-a', host, '-p', String(port), '-js', '-sd', opts.storeDir, '--server_name', opts.serverName ?? `vafa-${port}`, ...(opts.extraArgs ?? [])];
  const child = spawnEngine(bin, args);
  const lines: string[] = [];
  let ready = false;
  const onData = (buf: Buffer): void => {
    for (const line of buf.toString().split('\n')) {
      if (!line.trim()) continue;
      if (/\[INF\] Server is ready/.test(line)) ready = true;
      lines.push(line);
      if (lines.length > 50) lines.shift();
      if (/\[(ERR|FTL)\]/.test(line)) opts.logger?.warn({ nats: line }, 'nats-server');
      else opts.logger?.debug({ nats: line }, 'nats-server');
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    await waitForPort(host, port, child, () => ready, 15_000);
  } catch (err) {
    await stopChild(child, exited, 0);
    throw new Error(`${(err as Error).message}\n${lines.join('\n')}`, { cause: err });
  }
  return {
    url: `nats://${host}:${port}`,
    port,
    pid: child.pid ?? -1,
    exited,
    stop: (graceMs = 5000) => stopChild(child, exited, graceMs),
    kill: () => stopChild(child, exited, 0, 'SIGKILL'),
  };
}
