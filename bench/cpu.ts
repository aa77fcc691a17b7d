/**
 * Where the CPU goes during a phase: this process (API, scorer, load generator and their helper
 * threads), its main thread's and the load generator's busy time (event-loop utilisation), and each
 * child process (nats-server, the embedded ClickHouse) from /proc. Percentages are of one core.
 */
import { readFileSync } from 'node:fs';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';

const TICKS_PER_S = 100; // USER_HZ: 100 on Linux on every architecture Node supports

/** utime + stime of a process, ms; undefined when it cannot be read (not Linux, process gone). */
export function processCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) / TICKS_PER_S) * 1000;
  } catch {
    return undefined;
  }
}

/** Busy and total jiffies of the whole machine (all cores), from /proc/stat. */
function machineJiffies(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = v;
    const busy = user + nice + system + irq + softirq + steal;
    return { busy, total: busy + idle + iowait };
  } catch {
    return undefined;
  }
}

export interface CpuShare {
  wall_s: number;
  /** The bench process: API, scorer, the load-generator thread, libuv and GC threads. */
  process_pct: number;
  /** The main thread's event loop busy share (API and scorer run there). */
  main_thread_pct: number;
  /** Children by name (nats-server, clickhouse). */
  children: Record<string, number>;
  /** The whole machine's busy time (100 per core) and what of it was neither this process nor its children: other work sharing the machine. */
  machine_pct?: number;
  others_pct?: number;
}

export class CpuProbe {
  private readonly t0 = performance.now();
  private readonly proc0 = process.cpuUsage();
  private readonly elu0: EventLoopUtilization = performance.eventLoopUtilization();
  private readonly child0: Map<string, { pid: number; ms: number | undefined }>;
  private readonly machine0 = machineJiffies();

  constructor(children: Record<string, number | undefined>) {
    this.child0 = new Map(Object.entries(children).filter((e): e is [string, number] => typeof e[1] === 'number' && e[1] > 0).map(([k, pid]) => [k, { pid, ms: processCpuMs(pid) }]));
  }

  stop(): CpuShare {
    const wallMs = performance.now() - this.t0;
    const p = process.cpuUsage(this.proc0);
    const elu = performance.eventLoopUtilization(this.elu0);
    const pct = (ms: number): number => Math.round((ms / wallMs) * 1000) / 10;
    const children: Record<string, number> = {};
    for (const [name, { pid, ms }] of this.child0) {
      const now = processCpuMs(pid);
      if (ms !== undefined && now !== undefined) children[name] = pct(now - ms);
    }
    const share: CpuShare = { wall_s: Math.round(wallMs) / 1000, process_pct: pct((p.user + p.system) / 1000), main_thread_pct: pct(elu.active), children };
    const m1 = machineJiffies();
    if (this.machine0 && m1 && m1.total > this.machine0.total) {
      const busyMs = ((m1.busy - this.machine0.busy) / TICKS_PER_S) * 1000;
      share.machine_pct = pct(busyMs);
      const ours = share.process_pct + Object.values(children).reduce((s, x) => s + x, 0);
      share.others_pct = Math.max(0, Math.round((share.machine_pct - ours) * 10) / 10);
    }
    return share;
  }
}
