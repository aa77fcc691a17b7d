/**
 * Test harness: a real nats-server and the real ClickHouse engine (chDB behind the HTTP interface), on
 * free ports, with a temporary data directory; removed afterwards.
 */
import { RETENTION_OFF, type RetentionDays } from '../../config/retention.js';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { loadSettings, type Settings } from '../../config/settings.js';
import { createLogger, type Logger } from '../../platform/log.js';
import { freePort } from '../../platform/nats-server.js';
import { startStack, type Stack, type StackOptions } from '../../app/stack.js';

export interface TestStack extends Stack {
  dataDir: string;
  logger: Logger;
  /** Stops everything and removes the data directory. */
  destroy(): Promise<void>;
}

/** `VAFA_RETENTION_DAYS` for a child process of the same settings. */
export const retentionEnv = (days: RetentionDays): string => Object.entries(days).map(([t, d]) => `${t}=${d}`).join(',');

export async function testSettings(overrides: Partial<Settings> = {}, dataDir?: string): Promise<Settings> {
  const dir = dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'vafa-test-'));
  return loadSettings({}, {
    dataDir: dir, port: 0, iso8583Port: 0, localNatsPort: await freePort(), localClickhousePort: await freePort(),
    logLevel: (process.env.TEST_LOG_LEVEL as Settings['logLevel'] | undefined) ?? 'warn', partitions: 4, scorerWaitMs: 10, checkpointMs: 500, leaseMs: 2000,
    retentionDays: RETENTION_OFF, // tests write fixed historical dates: no TTL may expire them
    ...overrides,
  });
}

export async function startTestStack(opts: Partial<StackOptions> & { overrides?: Partial<Settings> } = {}): Promise<TestStack> {
  const settings = await testSettings(opts.overrides);
  const logger = createLogger({ level: settings.logLevel, name: 'test' });
  const stack = await startStack({ settings, logger, churn: null, ...opts });
  const ts: TestStack = {
    ...stack,
    dataDir: settings.dataDir,
    logger,
    async destroy() {
      await stack.stop();
      // engines a test restarted are not the ones the stack started: stop those too
      await ts.localNats?.stop();
      await ts.localWarehouse?.stop();
      rmSync(settings.dataDir, { recursive: true, force: true });
    },
  };
  return ts;
}

const BIN = path.resolve(import.meta.dirname, '../../bin/vafa.js');

/** Runs `vafa <args>` as a child process against the given stack (its NATS and ClickHouse). */
export function spawnVafa(args: string[], stack: Stack, env: Record<string, string> = {}): ChildProcess & { output: string[] } {
  const child = spawn(process.execPath, [BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp',
      NATS_URL: stack.natsUrl, CLICKHOUSE_URL: stack.clickhouseUrl, VAFA_DATA_DIR: stack.settings.dataDir,
      VAFA_PARTITIONS: String(stack.settings.partitions), VAFA_RETENTION_DAYS: retentionEnv(stack.settings.retentionDays), LOG_LEVEL: 'warn', VAFA_SCORER_WAIT_MS: '10', VAFA_CHECKPOINT_MS: '300', VAFA_LEASE_MS: '5000',
      ...env,
    },
  }) as ChildProcess & { output: string[] };
  // Keep draining the pipes (a full pipe would block the child) and keep the last lines for diagnosis.
  child.output = [];
  const keep = (buf: Buffer): void => {
    for (const line of buf.toString().split('\n')) if (line) child.output.push(line);
    if (child.output.length > 200) child.output.splice(0, child.output.length - 200);
    if (process.env.TEST_CHILD_LOGS) process.stderr.write(buf);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return child;
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, headers: r.headers };
}

export async function queryRows<T = Record<string, unknown>>(stack: Stack, sql: string): Promise<T[]> {
  const rs = await stack.warehouse.query({ query: sql, format: 'JSONEachRow', clickhouse_settings: { output_format_json_quote_64bit_integers: 0 } });
  return await rs.json<T>();
}

export async function waitFor<T>(fn: () => Promise<T | undefined | false>, timeoutMs = 30_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

/** Deterministic test transactions. */
export function makeTx(i: number, customer = `C${i % 25}`, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const channels = ['pos', 'online', 'fuel', 'bill_pay', 'atm', 'installment'];
  return {
    tx_id: `T${String(i).padStart(6, '0')}`, customer_id: customer, channel: channels[i % channels.length], amount_minor: 50_000 + (i * 7919) % 900_000,
    currency: 'IRR', occurred_at: new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString(), ...extra,
  };
}
