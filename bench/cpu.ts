/**
 * Where the CPU goes during a phase: this process (API, scorer, load generator and their helper
 * threads), its main thread's and the load generator's busy time (event-loop utilisation), and each
 * child process (nats-server, the embedded ClickHouse, the ingest workers: a group of processes is
 * summed) from /proc/<pid>/stat. Percentages are of one core. `roleShares` turns that into the CPU
 * of each part of the pipeline: scorer, ingest, nats-server, ClickHouse, load generator, the rest.
 */
import { readFileSync } from 'node:fs';
import { constants as perfConstants, performance, PerformanceObserver, type EventLoopUtilization, type PerformanceEntry } from 'node:perf_hooks';

const TICKS_PER_S = 100; // USER_HZ: 100 on Linux on every architecture Node supports

/** utime + stime of a process, ms; undefined when it cannot be read (not Linux, process gone). */
export function processCpuMs(pid: number): number | undefined {
  return statCpuMs(`/proc/${pid}/stat`);
}

/** utime + stime of the calling thread, ms (`/proc/thread-self`, read synchronously so on this thread); undefined off Linux. */
export function threadCpuMs(): number | undefined {
  return statCpuMs('/proc/thread-self/stat');
}

function statCpuMs(file: string): number | undefined {
  try {
    const stat = readFileSync(file, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) / TICKS_PER_S) * 1000;
  } catch {
    return undefined;
  }
}

/** Busy and total jiffies of the whole machine (all cores), from /proc/stat. */
function machineJiffies(): { busy: number; total: number } | undefined {
  try {
    const [line] = readFileSync('/proc/stat', 'utf8').split('\n', 1);
    if (line === undefined) return undefined;
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
  /** The main thread's garbage-collection pauses during the phase (its isolate only: the load generator's thread and the children have their own). */
  gc?: GcPauses;
}

/**
 * Garbage-collection pauses of the calling thread's isolate over a phase, from `gc` performance entries.
 * Where the API and the scorer run in the bench process, every request and every event in flight waits out
 * each of these pauses: the longest bounds what a p99 latency can be.
 */
export interface GcPauses {
  /** Pauses observed. */
  count: number;
  /** Their summed duration, ms. */
  total_ms: number;
  /** `total_ms` as a share of the phase's wall time, %. */
  share_pct: number;
  /** The longest pause, ms. */
  longest_ms: number;
  /** Of `total_ms`, the young generation's (scavenges, whose cost grows with what survives them). */
  minor_ms: number;
}

/** Watches the calling thread's garbage collections from its creation to `stop`. */
export class GcWatch {
  private readonly observer: PerformanceObserver;
  private readonly started = performance.now();
  private count = 0;
  private total = 0;
  private longest = 0;
  private minor = 0;

  constructor() {
    this.observer = new PerformanceObserver((list) => this.add(list.getEntries()));
    this.observer.observe({ entryTypes: ['gc'] });
  }

  private add(entries: readonly PerformanceEntry[]): void {
    for (const entry of entries) {
      this.count++;
      this.total += entry.duration;
      this.longest = Math.max(this.longest, entry.duration);
      if ((entry as PerformanceEntry & { detail?: { kind?: number } | null }).detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MINOR) this.minor += entry.duration;
    }
  }

  /** Stops watching; the pauses so far, those not yet delivered to the observer included. */
  stop(): GcPauses {
    this.add(this.observer.takeRecords());
    this.observer.disconnect();
    const wallMs = performance.now() - this.started;
    const r1 = (x: number): number => Math.round(x * 10) / 10;
    return { count: this.count, total_ms: r1(this.total), share_pct: wallMs > 0 ? r1((this.total / wallMs) * 100) : 0, longest_ms: r1(this.longest), minor_ms: r1(this.minor) };
  }
}

/** A child process, or a group of them (summed), by pid. */
export type ProcessGroup = number | readonly number[] | undefined;

export class CpuProbe {
  private readonly t0 = performance.now();
  private readonly proc0 = process.cpuUsage();
  private readonly elu0: EventLoopUtilization = performance.eventLoopUtilization();
  private readonly child0: Map<string, { pid: number; ms: number | undefined }[]>;
  private readonly machine0 = machineJiffies();
  private readonly gc = new GcWatch();

  constructor(children: Record<string, ProcessGroup>) {
    this.child0 = new Map();
    for (const [name, group] of Object.entries(children)) {
      const pids = (typeof group === 'number' ? [group] : group ?? []).filter((pid) => pid > 0);
      if (pids.length) this.child0.set(name, pids.map((pid) => ({ pid, ms: processCpuMs(pid) })));
    }
  }

  stop(): CpuShare {
    const wallMs = performance.now() - this.t0;
    const p = process.cpuUsage(this.proc0);
    const elu = performance.eventLoopUtilization(this.elu0);
    const pct = (ms: number): number => Math.round((ms / wallMs) * 1000) / 10;
    const children: Record<string, number> = {};
    for (const [name, group] of this.child0) {
      let used = 0;
      let read = 0;
      for (const { pid, ms } of group) {
        const now = processCpuMs(pid);
        if (ms !== undefined && now !== undefined) {
          used += now - ms;
          read++;
        }
      }
      if (read) children[name] = pct(used);
    }
    const share: CpuShare = { wall_s: Math.round(wallMs) / 1000, process_pct: pct((p.user + p.system) / 1000), main_thread_pct: pct(elu.active), children, gc: this.gc.stop() };
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

/** CPU of each part of the pipeline during a phase, % of one core (`cpu.roles` in the bench's JSON). */
export interface CpuRoles {
  scorer: number;
  ingest: number;
  'nats-server': number;
  /** The embedded ClickHouse (chDB) in the warehouse child process, where the bench runs it. */
  clickhouse: number;
  /** The load generator's thread: its CPU from /proc/thread-self (its event loop's busy time where that cannot be read). */
  loadgen: number;
  /** The rest of the bench process (the cluster primary's connection hand-off, GC and libuv threads). */
  bench: number;
  /** The machine's busy time not accounted above: other processes sharing the machine. */
  others: number | null;
  machine: number | null;
}

/**
 * Splits a phase's CPU by role. `running` says what the bench process itself ran besides the load
 * generator: the ingest API (one in-process worker), the scorer, or nothing (the API in worker processes,
 * which are then `children.ingest`). The load generator's share is taken out of the process's.
 */
export function roleShares(cpu: CpuShare, running: 'ingest' | 'scorer' | 'nothing', loadgenPct = 0): CpuRoles {
  const r1 = (x: number): number => Math.round(x * 10) / 10;
  const own = Math.max(0, cpu.process_pct - loadgenPct);
  return {
    scorer: running === 'scorer' ? r1(own) : 0,
    ingest: r1((running === 'ingest' ? own : 0) + (cpu.children.ingest ?? 0)),
    'nats-server': cpu.children['nats-server'] ?? 0,
    clickhouse: cpu.children.clickhouse ?? 0,
    loadgen: r1(loadgenPct),
    bench: running === 'nothing' ? r1(own) : 0,
    others: cpu.others_pct ?? null,
    machine: cpu.machine_pct ?? null,
  };
}
