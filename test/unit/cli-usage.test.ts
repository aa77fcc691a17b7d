/**
 * A wrong command line is refused before anything starts: one line naming the flag (or file) and what it
 * takes, exit code 2, no stack trace, nothing written to the data directory.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../config/mod.js';
import { dayFlag, integerFlag, numberFlag, timeFlag } from '../../cli/flags.js';

const BIN = path.resolve(import.meta.dirname, '../../bin/vafa.js');
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'vafa-cli-usage-'));

afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

interface Run { code: number | null; stdout: string; stderr: string }

/** `vafa ...args`, killed after 60 s (a refusal takes a second or two: a command that starts its engines instead fails the test). */
function vafa(args: readonly string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, VAFA_DATA_DIR: path.join(dataDir, 'data'), ...extraEnv };
    for (const k of ['NATS_URL', 'CLICKHOUSE_URL', 'VAFA_API_KEYS']) delete env[k];
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const CASES: { args: string[]; says: RegExp; env?: NodeJS.ProcessEnv }[] = [
  { args: ['up', '--simulate', '--rate', 'abc'], says: /^vafa up: --rate must be a number ≥ 0, got "abc"$/ },
  { args: ['backfill', path.join(os.tmpdir(), 'vafa-no-such-history')], says: /^vafa backfill: .*vafa-no-such-history: no such file or directory$/ },
  { args: ['replay', '--from', 'yesterday'], says: /^vafa replay: --from must be a stream sequence or an RFC 3339 time, got "yesterday"$/ },
  { args: ['simulate', '--start', '2025-02-30', '--out', path.join(dataDir, 'never')], says: /^vafa simulate: --start must be a day such as 2025-01-01, got "2025-02-30"$/ },
  { args: ['train', '--history', os.tmpdir()], says: /^vafa train: .*: no profiles\.ndjson or profiles\.ndjson\.gz/ },
  // A port another program holds (set below): refused before the history's backfill or any engine starts.
  { args: ['up', '--simulate'], says: /^vafa up: 127\.0\.0\.1:\d+ \(PORT\) is already in use: another vafa, or another program, listens there; stop it or set PORT to a free port$/, env: {} },
  { args: ['scorer'], says: /^vafa scorer: set NATS_URL and CLICKHOUSE_URL: `vafa scorer` joins a running deployment/ },
];

describe('a wrong command line', () => {
  it('is refused in one line that names the flag or file, exit code 2, before anything starts', async () => {
    const held = net.createServer();
    await new Promise<void>((resolve) => held.listen({ host: '127.0.0.1', port: 0 }, resolve));
    const port = String((held.address() as net.AddressInfo).port);
    // Three at a time: each loads the command's modules through tsx, which a busy machine makes slow.
    const runs: ((typeof CASES)[number] & { run: Run })[] = [];
    try {
      for (let i = 0; i < CASES.length; i += 3) {
        runs.push(...(await Promise.all(CASES.slice(i, i + 3).map(async (c) => ({ ...c, run: await vafa(c.args, c.env ? { ...c.env, PORT: port } : {}) })))));
      }
    } finally {
      held.close();
    }
    for (const { args, says, run } of runs) {
      const what = `vafa ${args.join(' ')}`;
      expect(run.code, `${what}: ${run.stderr}`).toBe(2);
      expect(run.stderr.trim(), what).toMatch(says);
      expect(run.stderr.trim().split('\n'), what).toHaveLength(1);
      expect(run.stderr, what).not.toMatch(/\bat .*\.ts:\d+/);
      expect(run.stdout, what).toBe('');
    }
    expect(existsSync(path.join(dataDir, 'data')), 'nothing was started on the data directory').toBe(false);
    expect(existsSync(path.join(dataDir, 'never')), 'simulate wrote no history').toBe(false);
  }, 300_000);
});

describe('flag values', () => {
  it('integers: within their bounds, whole, and not empty', () => {
    expect(integerFlag('customers', '500')).toBe(500);
    expect(integerFlag('history-days', '0', 0, 3650)).toBe(0);
    for (const bad of ['0', '-3', '2.5', 'ten', '', ' ', '1e400']) expect(() => integerFlag('customers', bad), bad).toThrow(UsageError);
    expect(() => integerFlag('history-days', '3651', 0, 3650)).toThrow('--history-days must be an integer in 0..3650, got "3651"');
  });

  it('numbers: within their bounds, above the least when it must be positive', () => {
    expect(numberFlag('rate', '0', 0)).toBe(0);
    expect(numberFlag('rate', 'Infinity', 0)).toBe(Number.POSITIVE_INFINITY);
    expect(numberFlag('feedback', '2.5', 0, 100)).toBe(2.5);
    expect(() => numberFlag('duration', '0', 0, Number.POSITIVE_INFINITY, true)).toThrow('--duration must be a number greater than 0, got "0"');
    for (const bad of ['-1', 'NaN', 'abc', '']) expect(() => numberFlag('rate', bad, 0), bad).toThrow(UsageError);
    expect(() => numberFlag('feedback', '101', 0, 100)).toThrow('--feedback must be a number in 0..100, got "101"');
  });

  it('times and days: real ones only', () => {
    expect(timeFlag('cutover', '2026-01-01T00:00:00Z')).toBe(Date.UTC(2026, 0, 1));
    expect(() => timeFlag('cutover', 'soon')).toThrow(UsageError);
    expect(dayFlag('start', '2024-02-29').toISOString()).toBe('2024-02-29T00:00:00.000Z');
    for (const bad of ['2025-02-30', '2025-1-1', '2025-01-01T00:00:00Z', 'today']) expect(() => dayFlag('start', bad), bad).toThrow(UsageError);
  });
});
