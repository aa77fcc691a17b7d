/**
 * Engine child processes: the nats-server and the embedded ClickHouse (`vafa warehouse`; chDB allows one
 * data directory per process, and its engine must stay off the API's and scorer's event loops).
 *
 * Every engine runs in its own process group (`detached: true`): a terminal's Ctrl-C reaches vafa only,
 * and vafa stops the engines last, after the scorer has drained. An engine must also not outlive a vafa
 * that was killed outright (SIGKILL, OOM), so each one watches its parent:
 * - native engines (nats-server), on Linux: started through util-linux `setpriv --pdeathsig SIGTERM`,
 *   which sets PR_SET_PDEATHSIG and execs the engine (same pid, same cmdline: callers that watch or kill
 *   the pid are unaffected). The kernel signals the engine when the *thread* that spawned it exits; Node
 *   spawns on the main thread, so that is the vafa process (spawning from a worker thread would tie the
 *   engine to that thread). A parent that dies in the microseconds between fork and prctl is missed.
 * - native engines elsewhere (no setpriv, or one without `--pdeathsig`; `VAFA_NO_PDEATHSIG=1` forces
 *   this): a detached `sh` watchdog polls both pids every second and sends SIGTERM (then SIGKILL after
 *   5 s) to the engine once vafa is gone; it exits with the engine, and the engine's exit ends it.
 * - the Node warehouse: an IPC channel; the child stops gracefully on `disconnect`, which it gets when
 *   the parent dies in any way, since the kernel closes the parent's end (see `untilParentGone`).
 * Measured on the 2-core VM under load, vafa SIGKILLed: nats-server exits 0.15 s later (pdeathsig), the
 *   warehouse 0.3 s later (IPC, graceful close); with the watchdog, nats-server 1–1.5 s later.
 * A process-wide registry lets the CLI kill every live engine on a forced exit (`killEngines`), and an
 * `exit` hook sends SIGTERM to any engine still running when vafa exits.
 */
import { spawn, spawnSync, type ChildProcess, type StdioOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from './log.js';
import { withDeadline } from './deadline.js';

const BIN = path.resolve(import.meta.dirname, '../bin/vafa.js');

export interface ChildHandle {
  pid: number;
  stop(graceMs?: number): Promise<void>;
  readonly exited: Promise<number | null>;
}

/** How an engine learns that vafa is gone. */
export type ParentDeathGuard = 'pdeathsig' | 'watchdog' | 'ipc';

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
}

/** Sends `signal` to every engine this process started that is still running; returns their pids. */
export function killEngines(signal: NodeJS.Signals = 'SIGKILL'): number[] {
  const pids: number[] = [];
  for (const child of live) {
    if (child.pid) pids.push(child.pid);
    signalGroup(child, signal);
  }
  return pids;
}

/** Pids of the engines this process started that are still running. */
export function enginePids(): number[] {
  return [...live].flatMap((c) => (c.pid ? [c.pid] : []));
}

let setprivPath: string | null | undefined;

/** util-linux `setpriv` when it is there and supports `--pdeathsig` (checked once); else null. */
export function findSetpriv(): string | null {
  if (setprivPath !== undefined) return setprivPath;
  setprivPath = null;
  if (process.platform !== 'linux' || process.env.VAFA_NO_PDEATHSIG) return null;
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/bin', '/bin', '/usr/sbin', '/sbin'];
  const bin = dirs.map((d) => path.join(d, 'setpriv')).find((p) => existsSync(p));
  if (!bin) return null;
  const probe = spawnSync(bin, ['--pdeathsig', 'SIGTERM', '--', 'true'], { stdio: 'ignore', timeout: 5000 });
  if (probe.status === 0) setprivPath = bin;
  return setprivPath;
}

/** `sh` loop: while vafa lives, wait; when the engine ends, end; when vafa ends, stop the engine. */
const WATCHDOG = [
  'while kill -0 "$1" 2>/dev/null; do kill -0 "$2" 2>/dev/null || exit 0; sleep 1; done',
  'kill -TERM "$2" 2>/dev/null; i=0',
  'while kill -0 "$2" 2>/dev/null && [ $i -lt 5 ]; do sleep 1; i=$((i+1)); done',
  'kill -KILL "$2" 2>/dev/null; exit 0',
].join('; ');

function startWatchdog(enginePid: number): ChildProcess {
  const dog = spawn('/bin/sh', ['-c', WATCHDOG, 'vafa-watchdog', String(process.pid), String(enginePid)], { stdio: 'ignore', detached: true });
  dog.on('error', () => undefined);
  dog.unref();
  return dog;
}

export interface EngineSpawnOptions {
  /** Default `['ignore', 'pipe', 'pipe']`; `ipc` guards add an IPC channel. */
  stdio?: StdioOptions;
  env?: NodeJS.ProcessEnv;
  /** Default `pdeathsig` (falls back to `watchdog` where setpriv is missing). */
  guard?: ParentDeathGuard;
}

/**
 * Spawns an engine in its own process group, guarded against outliving this process (see the module
 * TSDoc), and registers it for `killEngines` until it exits.
 */
export function spawnEngine(bin: string, args: string[], opts: EngineSpawnOptions = {}): ChildProcess & { guard: ParentDeathGuard } {
  const setpriv = opts.guard === 'ipc' ? null : findSetpriv();
  const guard: ParentDeathGuard = opts.guard === 'ipc' ? 'ipc' : setpriv ? 'pdeathsig' : 'watchdog';
  const [file, argv] = setpriv ? [setpriv, ['--pdeathsig', 'SIGTERM', '--', bin, ...args]] : [bin, args];
  const stdio = opts.stdio ?? ['ignore', 'pipe', 'pipe'];
  const child = spawn(file, argv, {
    stdio: guard === 'ipc' && Array.isArray(stdio) ? [...stdio, 'ipc'] : stdio,
    detached: true,
    ...(opts.env ? { env: opts.env } : {}),
  });
  if (!child.pid) return Object.assign(child, { guard });
  live.add(child);
  installExitHook();
  // Only the child handle keeps vafa alive, as before: the IPC channel does not.
  (child.channel as { unref?: () => void } | undefined)?.unref?.();
  const dog = guard === 'watchdog' ? startWatchdog(child.pid) : undefined;
  child.once('exit', () => {
    live.delete(child);
    if (dog && dog.exitCode === null) dog.kill('SIGKILL');
  });
  return Object.assign(child, { guard });
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => killEngines('SIGTERM'));
}

/** `signal` (default SIGTERM), then SIGKILL after `graceMs`; resolves when the child has exited. */
export async function stopChild(child: ChildProcess, exited: Promise<unknown>, graceMs: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
  signalGroup(child, signal);
  const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), graceMs);
  // After SIGKILL the exit is prompt; the bound is for a process stuck in the kernel.
  await withDeadline(exited, graceMs + 5000, `exit of pid ${child.pid}`).catch(() => undefined);
  clearTimeout(timer);
}

/**
 * Resolves when the process that spawned this one with an IPC channel goes away (it exited, crashed or
 * was SIGKILLed: the kernel closes the channel). Never resolves without a channel. The channel does not
 * keep this process alive.
 */
export function untilParentGone(): Promise<'parent gone'> {
  return new Promise((resolve) => {
    if (!process.channel) return;
    process.channel.unref();
    process.once('disconnect', () => resolve('parent gone'));
  });
}

export async function waitForHttp(url: string, timeoutMs: number, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastErr = '';
  while (Date.now() < deadline) {
    if (child && (child.exitCode !== null || child.signalCode !== null)) throw new Error(`process exited (${child.exitCode ?? child.signalCode}) before ${url} answered`);
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
  const child = spawnEngine(process.execPath, [BIN, 'warehouse', '--port', String(opts.port), '--host', host, '--data-dir', opts.dataDir], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, LOG_LEVEL: opts.logLevel ?? process.env.LOG_LEVEL ?? 'info' },
    guard: 'ipc',
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `http://${host}:${opts.port}`;
  try {
    await waitForHttp(`${url}/ping`, 60_000, child);
  } catch (err) {
    await stopChild(child, exited, 0, 'SIGKILL');
    throw err;
  }
  opts.logger.info({ url, pid: child.pid }, 'embedded ClickHouse (chDB) ready');
  return {
    url,
    pid: child.pid ?? -1,
    exited,
    stop: (graceMs = 10_000) => stopChild(child, exited, graceMs),
  };
}
