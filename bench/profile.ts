/**
 * `--profile`: a V8 CPU profile of the main thread (the API and the scorer run there) per phase,
 * through the inspector; written as .cpuprofile files (open them in Chrome DevTools) and summed up as
 * the functions with the most self time, so a report can say where the CPU goes.
 */
import { Session } from 'node:inspector/promises';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
export interface CpuProfile {
  nodes: ProfileNode[];
  samples?: number[];
  timeDeltas?: number[];
  startTime: number;
  endTime: number;
}

export interface HotFunction {
  fn: string;
  self_ms: number;
  /** Share of the profiled wall time (idle included). */
  pct: number;
}

/** Self time per function (`name file:line`), most first. */
export function topFunctions(p: CpuProfile, limit = 15): HotFunction[] {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  samples.forEach((id, i) => {
    const n = byId.get(id);
    if (!n) return;
    const f = n.callFrame;
    const file = f.url ? f.url.replace(/^file:\/\//, '').split('/').slice(-2).join('/') : '';
    const key = `${f.functionName || '(anonymous)'}${file ? ` ${file}:${f.lineNumber + 1}` : ''}`;
    self.set(key, (self.get(key) ?? 0) + (deltas[i] ?? 0));
  });
  const wall = Math.max(1, p.endTime - p.startTime);
  return [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, limit)
    .map(([fn, us]) => ({ fn, self_ms: Math.round(us / 100) / 10, pct: Math.round((us / wall) * 1000) / 10 }));
}

export class Profiler {
  private session: Session | undefined;

  async start(): Promise<void> {
    if (!this.session) {
      this.session = new Session();
      this.session.connect();
      await this.session.post('Profiler.enable');
      await this.session.post('Profiler.setSamplingInterval', { interval: 500 });
    }
    await this.session.post('Profiler.start');
  }

  async stop(): Promise<CpuProfile> {
    if (!this.session) throw new Error('profiler not started');
    const { profile } = await this.session.post('Profiler.stop');
    return profile as unknown as CpuProfile;
  }

  close(): void {
    this.session?.disconnect();
    this.session = undefined;
  }
}

/** Wraps timed phases: profiles them when enabled, else does nothing. */
export interface PhaseHook {
  begin(): Promise<void>;
  /** Ends the phase's profile, writes it as `<base>-<name>.cpuprofile`, returns its hottest functions. */
  end(name: string): Promise<HotFunction[] | undefined>;
}

export const noPhaseHook: PhaseHook = { begin: async () => undefined, end: async () => undefined };

export function profilingHook(profiler: Profiler, writeProfile: (name: string, json: string) => void): PhaseHook {
  return {
    begin: () => profiler.start(),
    async end(name) {
      const p = await profiler.stop();
      writeProfile(name, JSON.stringify(p));
      return topFunctions(p);
    },
  };
}
