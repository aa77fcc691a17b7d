/**
 * Everything the bench starts registers its own undo here (LIFO). A normal end runs them in order;
 * Ctrl-C / SIGTERM runs them too and then exits; and if the process dies anyway, the `exit` hook
 * SIGKILLs the child processes still alive and removes the temporary directories, synchronously.
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';

type Undo = { what: string; run: () => Promise<void> };

export class Cleanup {
  private readonly undos: Undo[] = [];
  private readonly pids = new Set<number>();
  private readonly dirs = new Set<string>();
  private running: Promise<void> | undefined;
  private readonly abortController = new AbortController();
  private readonly onSignal = (sig: NodeJS.Signals): void => {
    this.abortController.abort(new Error(`interrupted by ${sig}`));
    process.stderr.write(`\nvafa bench: ${sig}: stopping what the bench started…\n`);
    const hard = setTimeout(() => process.exit(130), 20_000);
    hard.unref();
    void this.runAll().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  private readonly onExit = (): void => this.lastResort();

  /** Aborted on SIGINT/SIGTERM: phases check it to stop early. */
  get signal(): AbortSignal {
    return this.abortController.signal;
  }

  install(): void {
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
    process.on('exit', this.onExit);
  }

  uninstall(): void {
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
    process.off('exit', this.onExit);
  }

  /** Registers an undo; returns a function that runs it now (once) and unregisters it. */
  add(what: string, run: () => Promise<void>): () => Promise<void> {
    const undo: Undo = { what, run };
    this.undos.push(undo);
    let done: Promise<void> | undefined;
    return () => {
      done ??= (async () => {
        const i = this.undos.indexOf(undo);
        if (i >= 0) this.undos.splice(i, 1);
        await run();
      })();
      return done;
    };
  }

  /** A child process to SIGKILL if the process exits before its undo ran. */
  trackPid(pid: number | undefined): void {
    if (pid && pid > 0) this.pids.add(pid);
  }

  untrackPid(pid: number | undefined): void {
    if (pid) this.pids.delete(pid);
  }

  /** A directory to remove at the end, whatever happens. */
  trackDir(dir: string): void {
    this.dirs.add(dir);
  }

  removeDir(dir: string): void {
    rmSync(dir, { recursive: true, force: true });
    this.dirs.delete(dir);
  }

  /** Runs every registered undo, newest first; errors are reported, never thrown. */
  runAll(): Promise<void> {
    this.running ??= (async () => {
      for (let u = this.undos.pop(); u; u = this.undos.pop()) {
        try {
          await u.run();
        } catch (err) {
          process.stderr.write(`vafa bench: cleanup of ${u.what} failed: ${(err as Error).message}\n`);
        }
      }
      this.lastResort();
    })();
    const r = this.running;
    return r.finally(() => {
      if (this.running === r) this.running = undefined;
    });
  }

  private lastResort(): void {
    for (const pid of engineChildren()) this.pids.add(pid);
    for (const pid of this.pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    this.pids.clear();
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
    this.dirs.clear();
  }
}

/**
 * Child processes of this process that are engines the bench starts (nats-server, `vafa warehouse`):
 * found through /proc, for an interrupt that came while a stack was still starting (before its pids
 * were known). Empty where /proc is not there.
 */
function engineChildren(): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== process.pid) continue;
      const cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0');
      if (cmd.some((a) => a.endsWith('nats-server')) || (cmd.some((a) => a.endsWith('vafa.js')) && cmd.includes('warehouse'))) out.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}
