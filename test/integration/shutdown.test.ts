/**
 * `vafa up --simulate` as a user runs it: in its own process group, stopped the way a terminal stops it
 * (SIGINT to the whole group), or killed outright. Nothing it started may be left running.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../platform/nats-server.js';

const BIN = path.resolve(import.meta.dirname, '../../bin/vafa.js');
/** What a user may wait for: Ctrl-C to exit. */
const STOP_LIMIT_MS = 15_000;

interface Run {
  child: ChildProcess;
  pid: number;
  dir: string;
  chUrl: string;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

const runs: Run[] = [];
const seenPids = new Set<number>();

/** `/proc/<pid>/stat` fields after the command: state, ppid. Undefined when the process is gone. */
function procStat(pid: number): { state: string; ppid: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: state!, ppid: Number(ppid) };
  } catch {
    return undefined;
  }
}

/** Gone: no such process, or a zombie waiting to be reaped. */
const gone = (pid: number): boolean => {
  const s = procStat(pid);
  return s === undefined || s.state === 'Z';
};

function commandLine(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return undefined;
  }
}

/** Every live descendant of `root`, with its command line. */
function descendants(root: number): { pid: number; cmd: string }[] {
  const parent = new Map<number, number>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const s = procStat(Number(e));
    if (s && s.state !== 'Z') parent.set(Number(e), s.ppid);
  }
  const out: { pid: number; cmd: string }[] = [];
  const walk = (p: number): void => {
    for (const [pid, ppid] of parent) {
      if (ppid !== p) continue;
      const cmd = commandLine(pid);
      if (cmd === undefined) continue;
      out.push({ pid, cmd });
      walk(pid);
    }
  };
  walk(root);
  return out;
}

async function poll<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function startUp(): Promise<Run> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vafa-shutdown-'));
  const [api, iso, nats, ch] = [await freePort(), await freePort(), await freePort(), await freePort()];
  // A month of history, not the default year: the backfill runs as a user's does, and what is tested here is how
  // the stop goes (demo-history.test.ts tests what a history gives); a year took ~15 s of each start on a slow machine.
  const child = spawn(process.execPath, [BIN, 'up', '--simulate', '--rate', '200', '--customers', '300', '--history-days', '30'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    env: {
      ...process.env, PORT: String(api), ISO8583_PORT: String(iso), VAFA_NATS_PORT: String(nats), VAFA_CLICKHOUSE_PORT: String(ch),
      VAFA_DATA_DIR: dir, LOG_LEVEL: 'warn', LOG_FORMAT: 'json', NATS_URL: '', CLICKHOUSE_URL: '',
    },
  });
  let text = '';
  const keep = (buf: Buffer): void => {
    text = (text + buf.toString()).slice(-200_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() }));
  });
  const run: Run = { child, pid: child.pid!, dir, chUrl: `http://127.0.0.1:${ch}`, output: () => text, exited };
  runs.push(run);
  return run;
}

async function scoredRows(run: Run): Promise<number | undefined> {
  try {
    const r = await fetch(`${run.chUrl}/?query=${encodeURIComponent('SELECT count() FROM vafa.scored_transactions')}`, { signal: AbortSignal.timeout(2000) });
    const n = r.ok ? Number((await r.text()).trim()) : 0;
    return n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Starts `vafa up` and waits until it scores. Free ports are picked before vafa binds them, so another
 * test on the machine can take one in between: a start that fails on EADDRINUSE is tried again on new
 * ports (at most three times), anything else fails the test.
 */
async function startScoring(): Promise<{ run: Run; engines: Awaited<ReturnType<typeof untilScoring>> }> {
  for (let attempt = 1; ; attempt++) {
    const run = await startUp();
    try {
      return { run, engines: await untilScoring(run) };
    } catch (err) {
      if (attempt >= 3 || run.child.exitCode === null || !run.output().includes('EADDRINUSE')) throw err;
    }
  }
}

/** Waits until vafa is up and has scored something, and returns the engines it started. */
async function untilScoring(run: Run): Promise<{ nats: number; warehouse: number; all: number[] }> {
  await poll('vafa up and scoring', 90_000, async () => {
    if (run.child.exitCode !== null) throw new Error(`vafa exited early (${run.child.exitCode}):\n${run.output().slice(-3000)}`);
    return run.output().includes('vafa is up') ? await scoredRows(run) : undefined;
  });
  const kids = descendants(run.pid);
  for (const k of kids) seenPids.add(k.pid);
  const nats = kids.find((k) => /nats-server/.test(k.cmd))?.pid;
  const warehouse = kids.find((k) => /vafa\.js warehouse/.test(k.cmd))?.pid;
  if (!nats || !warehouse) throw new Error(`engines not found among ${JSON.stringify(kids)}`);
  return { nats, warehouse, all: kids.map((k) => k.pid) };
}

const tryKill = (pid: number, signal: NodeJS.Signals): void => {
  try {
    process.kill(pid, signal);
  } catch {
    // gone
  }
};

afterAll(async () => {
  for (const r of runs) {
    tryKill(-r.pid, 'SIGKILL');
    tryKill(r.pid, 'SIGKILL');
  }
  for (const pid of seenPids) {
    tryKill(-pid, 'SIGKILL');
    tryKill(pid, 'SIGKILL');
  }
  for (const r of runs) rmSync(r.dir, { recursive: true, force: true });
});

describe('vafa up stopped from a terminal', () => {
  it('Ctrl-C (SIGINT to the process group) drains, prints the summary and exits within 15 s, leaving no process', async () => {
    const { run, engines } = await startScoring();
    expect(gone(engines.nats) || gone(engines.warehouse)).toBe(false);
    const t0 = Date.now();
    process.kill(-run.pid, 'SIGINT');
    const exit = await Promise.race([
      run.exited,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`vafa still running ${STOP_LIMIT_MS + 5000} ms after SIGINT:\n${run.output().slice(-3000)}`)), STOP_LIMIT_MS + 5000)),
    ]);
    const stopMs = exit.at - t0;
    if (process.env.TEST_VERBOSE) console.log(`[shutdown] SIGINT to exit: ${stopMs} ms`);
    expect(stopMs).toBeLessThan(STOP_LIMIT_MS);
    expect(exit.code, run.output().slice(-3000)).toBe(0);
    expect(run.output()).toMatch(/summary[\s\S]*stopped_by\s+SIGINT/);
    expect(run.output()).toMatch(/drained\s+true/);
    // vafa waited for its engines: they are gone when it exits (a moment for the kernel to tidy up).
    const left = await poll('no process left', 1000, () => {
      const alive = engines.all.filter((p) => !gone(p));
      return alive.length === 0 ? [] : undefined;
    }).catch(() => engines.all.filter((p) => !gone(p)));
    expect(left).toEqual([]);
  }, 150_000);

  it('SIGKILL of vafa alone: its nats-server and warehouse notice and stop within a few seconds', async () => {
    const { run, engines } = await startScoring();
    const t0 = Date.now();
    process.kill(run.pid, 'SIGKILL');
    await poll('vafa to die', 5000, () => (gone(run.pid) ? true : undefined));
    const left = await poll('the engines to stop', 8000, () => (gone(engines.nats) && gone(engines.warehouse) ? [] : undefined))
      .catch(() => [engines.nats, engines.warehouse].filter((p) => !gone(p)));
    if (process.env.TEST_VERBOSE) console.log(`[shutdown] SIGKILL to engines gone: ${Date.now() - t0} ms`);
    expect(left).toEqual([]);
    // and whatever else it had started (tsx's esbuild service ends with its parent's pipe)
    const rest = await poll('every child to stop', 8000, () => (engines.all.every(gone) ? [] : undefined)).catch(() => engines.all.filter((p) => !gone(p)));
    expect(rest).toEqual([]);
  }, 150_000);
});
