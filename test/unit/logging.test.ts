import { afterEach, describe, expect, it, vi } from 'vitest';
import { Writable } from 'node:stream';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Status } from '@nats-io/transport-node';
import { createClient } from '@clickhouse/client';
import { createLogger, maskPans, resolveLogFormat, type LogFormat } from '../../platform/log.js';
import { FailureEpisode } from '../../platform/episode.js';
import { logNatsStatus } from '../../platform/nats.js';
import { createWarehouseClient } from '../../sinks/clickhouse/client.js';

interface Capture { stream: Writable; lines: () => Record<string, unknown>[]; raw: () => string }

function capture(isTTY = false): Capture {
  const chunks: string[] = [];
  const stream = new Writable({ write(chunk, _enc, cb) { chunks.push(String(chunk)); cb(); } });
  if (isTTY) Object.assign(stream, { isTTY: true });
  return { stream, raw: () => chunks.join(''), lines: () => chunks.join('').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) };
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;
const PRETTY_LINE = /^\[\d\d:\d\d:\d\d\.\d{3}\] (INFO|WARN|ERROR|DEBUG): /;
const SENSITIVE = { pan: '6037991234567893', req: { headers: { authorization: 'Bearer secret-key-123456' } }, profile: { cards: ['6037991234567893'] }, feedback: { text: 'my card 6037991234567893 was declined' }, tokenKey: 'k'.repeat(20) };

afterEach(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

describe('log redaction', () => {
  it('censors card numbers, secrets and free text in log objects', () => {
    const out = capture();
    const log = createLogger({ destination: out.stream, level: 'info', format: 'json' });
    log.info(SENSITIVE, 'event');
    const [line] = out.lines();
    expect(line!.pan).toBe('[redacted]');
    expect((line!.req as { headers: { authorization: string } }).headers.authorization).toBe('[redacted]');
    expect((line!.profile as { cards: unknown }).cards).toBe('[redacted]');
    expect((line!.feedback as { text: unknown }).text).toBe('[redacted]');
    expect(line!.tokenKey).toBe('[redacted]');
    expect(out.raw()).not.toContain('6037991234567893');
    expect(out.raw()).not.toContain('secret-key-123456');
  });

  it('masks a card number quoted inside a message string', () => {
    const out = capture();
    const log = createLogger({ destination: out.stream, format: 'json' });
    log.warn('upstream said: bad card 4111-1111-1111-1111 at terminal T1');
    const [line] = out.lines();
    expect(line!.msg).toBe('upstream said: bad card [PAN 16 digits] at terminal T1');
    expect(line!.level).toBe('warn');
  });

  it('leaves ordinary numbers alone', () => {
    expect(maskPans('amount 1500000 IRR, stan 123456, rrn 000000123456')).toBe('amount 1500000 IRR, stan 123456, rrn 000000123456');
  });
});

describe('log format', () => {
  it('auto is pretty on a terminal and JSON otherwise; explicit formats win', () => {
    expect(resolveLogFormat('auto', true)).toBe('pretty');
    expect(resolveLogFormat('auto', false)).toBe('json');
    expect(resolveLogFormat('pretty', false)).toBe('pretty');
    expect(resolveLogFormat('json', true)).toBe('json');
  });

  const firstLine = (isTTY: boolean, format?: LogFormat): string => {
    const out = capture(isTTY);
    createLogger({ destination: out.stream, name: 'up', ...(format ? { format } : {}) }).info({ customers: 3 }, 'ready');
    return out.raw();
  };

  it('writes coloured pretty lines to a terminal and JSON lines to a pipe by default', () => {
    vi.stubEnv('LOG_FORMAT', '');
    vi.stubEnv('NO_COLOR', '');
    const tty = firstLine(true);
    expect(tty).toMatch(ANSI);
    expect(tty.replace(ANSI, '')).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: up: ready \{"customers":3\}\n$/);
    expect(JSON.parse(firstLine(false))).toMatchObject({ level: 'info', component: 'up', msg: 'ready', customers: 3 });
  });

  it('follows an explicit format, from the option or LOG_FORMAT', () => {
    expect(firstLine(false, 'pretty')).toMatch(/^\[[\d:.]+\] INFO: up: ready \{"customers":3\}\n$/);
    expect(JSON.parse(firstLine(true, 'json'))).toMatchObject({ msg: 'ready' });
    vi.stubEnv('LOG_FORMAT', 'pretty');
    expect(firstLine(false)).toMatch(PRETTY_LINE);
    vi.stubEnv('LOG_FORMAT', 'json');
    expect(JSON.parse(firstLine(true))).toMatchObject({ msg: 'ready' });
  });

  it('pretty lines are still redacted and masked, one line per entry', () => {
    const out = capture(true);
    const log = createLogger({ destination: out.stream, format: 'pretty', name: 'api' });
    log.info(SENSITIVE, 'event');
    log.child({ module: 'iso8583' }).warn({ password: 'hunter2-hunter2' }, 'bad card 4111 1111 1111 1111 at terminal T1');
    const text = out.raw().replace(ANSI, '');
    const lines = text.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(PRETTY_LINE);
    expect(lines[0]).toContain('"pan":"[redacted]"');
    expect(lines[1]).toMatch(/WARN: api\/iso8583: bad card \[PAN 16 digits\] at terminal T1 \{"password":"\[redacted\]"\}$/);
    for (const secret of ['6037991234567893', '4111 1111 1111 1111', 'secret-key-123456', 'hunter2', 'declined', 'k'.repeat(20)]) expect(text).not.toContain(secret);
  });

  it('keeps an error summary inline and puts a thrown error’s stack below its line', () => {
    const out = capture();
    const log = createLogger({ destination: out.stream, format: 'pretty' });
    log.warn({ err: 'ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:8123' }, 'clickhouse failing; retrying');
    log.error({ err: new Error('boom') }, 'crashed');
    const lines = out.raw().trimEnd().split('\n');
    expect(lines[0]).toMatch(/WARN: clickhouse failing; retrying \{"err":"ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:8123"\}$/);
    expect(lines[1]).toMatch(/ERROR: crashed/);
    expect(lines.slice(2).join('\n')).toContain('Error: boom');
  });
});

describe('log lines at exit', () => {
  const LOG_TS = path.resolve(import.meta.dirname, '../../platform/log.ts');

  /** Runs a child that logs `n` lines, then calls process.exit(3) at once or just returns; returns its stdout. */
  async function logThenExit(format: LogFormat, n: number, how: 'exit' | 'return'): Promise<string> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vafa-log-exit-'));
    const script = path.join(dir, 'exit.ts');
    writeFileSync(script, [
      `import { createLogger } from ${JSON.stringify(LOG_TS)};`,
      `const log = createLogger({ format: ${JSON.stringify(format)}, name: 'exit' });`,
      `for (let i = 0; i < ${n}; i++) log.info({ i, pan: '6037991234567893' }, 'line ' + i);`,
      `log.fatal('last line');`,
      how === 'exit' ? 'process.exit(3);' : 'process.exitCode = 3;',
    ].join('\n'));
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000, env: { ...process.env, LOG_LEVEL: 'info' } });
      const chunks: Buffer[] = [];
      child.stdout.on('data', (b: Buffer) => chunks.push(b));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect(code).toBe(3);
      return Buffer.concat(chunks).toString();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it.each([['json', 'exit'], ['pretty', 'exit'], ['json', 'return'], ['pretty', 'return']] as const)('%s: every line reaches a pipe and the process ends (%s)', async (format, how) => {
    const n = 5000;
    const text = await logThenExit(format, n, how);
    const lines = text.trimEnd().split('\n');
    expect(lines).toHaveLength(n + 1);
    expect(lines.at(-1)).toContain('last line');
    expect(text).not.toContain('6037991234567893');
    if (format === 'json') expect(JSON.parse(lines[n - 1]!)).toMatchObject({ msg: `line ${n - 1}`, pan: '[redacted]' });
    else expect(lines[n - 1]).toMatch(new RegExp(`INFO: exit: line ${n - 1} \\{"i":${n - 1},"pan":"\\[redacted\\]"\\}$`));
  }, 40_000);
});

function recorder(): { log: ReturnType<typeof createLogger>; lines: () => Record<string, unknown>[] } {
  const out = capture();
  const log = createLogger({ destination: out.stream, format: 'json', level: 'debug' });
  return { log, lines: () => (out.raw() ? out.lines() : []) };
}

describe('failure episodes', () => {
  it('logs the start, then at most every repeatMs with a count, then the recovery', () => {
    const { log, lines } = recorder();
    let t = 1_000_000;
    const episode = new FailureEpisode(log, 'clickhouse', { repeatMs: 5000, now: () => t });
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8123\n    at TCPConnectWrap.afterConnect'), { code: 'ECONNREFUSED' });
    for (let i = 0; i <= 12; i++, t += 500) episode.fail(refused);
    expect(episode.active).toBe(true);
    expect(episode.count).toBe(13);
    t = 1_007_000;
    episode.ok();
    episode.ok();
    expect(episode.active).toBe(false);
    const got = lines();
    expect(got.map((l) => l.msg)).toEqual(['clickhouse failing; retrying', 'clickhouse still failing', 'clickhouse recovered']);
    expect(got[0]).toMatchObject({ level: 'warn', err: 'connect ECONNREFUSED 127.0.0.1:8123' });
    expect(got[1]).toMatchObject({ failures: 11, failures_since_last_line: 10, for_s: 5 });
    expect(got[2]).toMatchObject({ level: 'info', failures: 13, for_s: 7 });
    expect(JSON.stringify(got)).not.toContain('afterConnect');
  });

  it('turns NATS connection statuses into one episode that a reconnect ends', async () => {
    const { log, lines } = recorder();
    let t = 0;
    const statuses: Status[] = [
      { type: 'disconnect', server: '127.0.0.1:4222' },
      ...Array.from({ length: 20 }, (): Status => ({ type: 'reconnecting' })),
      { type: 'error', error: new Error('connection refused') },
      { type: 'reconnect', server: '127.0.0.1:4222' },
      { type: 'ping', pendingPings: 1 },
    ];
    async function* feed(): AsyncGenerator<Status> {
      for (const s of statuses) {
        yield s;
        t += 500;
      }
    }
    await logNatsStatus(feed(), new FailureEpisode(log, 'nats connection', { repeatMs: 5000, now: () => t }), log);
    const got = lines();
    expect(got.map((l) => l.msg)).toEqual(['nats connection failing; retrying', 'nats connection still failing', 'nats connection still failing', 'nats connection recovered']);
    expect(got[0]).toMatchObject({ err: 'disconnected from 127.0.0.1:4222', server: '127.0.0.1:4222' });
    expect(got[1]).toMatchObject({ failures: 11, failures_since_last_line: 10 });
    expect(got[3]).toMatchObject({ failures: 22, server: '127.0.0.1:4222' });
  });
});

describe('ClickHouse client library output', () => {
  async function refusedUrl(): Promise<string> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return `http://127.0.0.1:${port}`;
  }

  function spyConsole(): () => number {
    const spies = (['log', 'info', 'warn', 'error', 'debug', 'trace'] as const).map((m) => vi.spyOn(console, m).mockImplementation(() => undefined));
    return () => spies.reduce((n, s) => n + s.mock.calls.length, 0);
  }

  async function failRequests(client: ReturnType<typeof createClient>): Promise<void> {
    expect((await client.ping()).success).toBe(false);
    await expect(client.query({ query: 'SELECT 1' })).rejects.toThrow(/ECONNREFUSED/);
    await expect(client.insert({ table: 't', values: [{ a: 1 }], format: 'JSONEachRow' })).rejects.toThrow(/ECONNREFUSED/);
    await expect(client.command({ query: 'SELECT 1' })).rejects.toThrow(/ECONNREFUSED/);
  }

  it('the library default prints to the console on a refused connection (what the option prevents)', async () => {
    const printed = spyConsole();
    const client = createClient({ url: await refusedUrl(), request_timeout: 5000 });
    try {
      await failRequests(client);
    } finally {
      await client.close();
    }
    expect(printed()).toBeGreaterThan(0);
  });

  it('a refused connection prints nothing; with a logger, one debug line a failure and none at info', async () => {
    const printed = spyConsole();
    const url = await refusedUrl();
    const { log, lines } = recorder();
    const quiet = createLogger({ destination: capture().stream, format: 'json', level: 'info' });
    const clients = [
      createWarehouseClient({ url, user: 'default', password: 'pw-1234567890', database: 'default' }, { requestTimeoutMs: 5000 }),
      createWarehouseClient({ url, user: 'default', password: 'pw-1234567890', database: 'default' }, { requestTimeoutMs: 5000, logger: log }),
      createWarehouseClient({ url, user: 'default', password: 'pw-1234567890', database: 'default' }, { requestTimeoutMs: 5000, logger: quiet }),
    ];
    try {
      for (const c of clients) await failRequests(c);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
    expect(printed()).toBe(0);
    const got = lines();
    expect(got.length).toBeGreaterThan(0);
    for (const l of got) {
      expect(l).toMatchObject({ level: 'debug', clickhouse_client: expect.any(String) as unknown });
      expect(String(l.err)).not.toContain('\n');
    }
    expect(JSON.stringify(got)).not.toContain('pw-1234567890');
  });
});
