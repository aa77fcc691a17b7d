/**
 * Child processes of the all-in-one: the embedded ClickHouse runs in its own process (chDB allows one
 * data directory per process, and its engine must stay off the API's and scorer's event loops).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Logger } from './log.js';

const BIN = path.resolve(import.meta.dirname, '../bin/vafa.js');

export interface ChildHandle {
  pid: number;
  stop(graceMs?: number): Promise<void>;
  readonly exited: Promise<number | null>;
}

export async function waitForHttp(url: string, timeoutMs: number, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastErr = '';
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) throw new Error(`process exited with code ${child.exitCode} before ${url} answered`);
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (r.ok) return;
      lastErr = `HTTP ${r.status}`;
    } catch (err) {
      lastErr = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms (${lastErr})`);
}

/** Starts `vafa warehouse` (embedded ClickHouse behind the HTTP interface) and waits for /ping. */
export async function spawnWarehouse(opts: { port: number; host?: string; dataDir: string; logger: Logger; logLevel?: string }): Promise<ChildHandle & { url: string }> {
  const host = opts.host ?? '127.0.0.1';
  const child = spawn(process.execPath, [BIN, 'warehouse', '--port', String(opts.port), '--host', host, '--data-dir', opts.dataDir], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, LOG_LEVEL: opts.logLevel ?? process.env.LOG_LEVEL ?? 'info' },
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `http://${host}:${opts.port}`;
  try {
    await waitForHttp(`${url}/ping`, 60_000, child);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  opts.logger.info({ url, pid: child.pid }, 'embedded ClickHouse (chDB) ready');
  return {
    url,
    pid: child.pid ?? -1,
    exited,
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(t);
    },
  };
}
