/**
 * The bench's CPU by process (bench/cpu.ts): a busy child process's CPU is read from /proc and summed
 * over a group of pids; a phase's CPU splits into the pipeline's roles; the terminal table shows them.
 */
import { spawn } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { CpuProbe, roleShares, threadCpuMs, type CpuShare } from '../../bench/cpu.js';
import { renderCpu, summarize, type BenchReport } from '../../bench/report.js';

const BUSY = 'console.log("spinning"); const end = Date.now() + 2000; while (Date.now() < end) {}';
const IDLE = 'console.log("idle"); setTimeout(() => {}, 2500)';

describe('the bench\'s CPU by process', () => {
  it('reads each child\'s CPU from /proc and sums a group', async () => {
    const busy = [spawn(process.execPath, ['-e', BUSY]), spawn(process.execPath, ['-e', BUSY])];
    const idle = spawn(process.execPath, ['-e', IDLE]);
    const exited = [...busy, idle].map((c) => new Promise((r) => c.once('exit', r)));
    // each child says when it has started (the busy ones spin from then on)
    await Promise.all([...busy, idle].map((c) => new Promise((r) => c.stdout.once('data', r))));
    const probe = new CpuProbe({ ingest: busy.map((c) => c.pid!), clickhouse: idle.pid, gone: 999_999_999 });
    const apart = new CpuProbe({ a: busy[0]!.pid, b: busy[1]!.pid });
    await new Promise((r) => setTimeout(r, 1000));
    const share = probe.stop();
    const each = apart.stop();
    await Promise.all(exited);
    // how much of a core two spinners get depends on what else runs on the machine: only more than the idle one
    expect(share.children.ingest).toBeGreaterThan(1);
    expect(share.children.ingest).toBeLessThanOrEqual(210);
    expect(Math.abs(share.children.ingest! - (each.children.a! + each.children.b!))).toBeLessThanOrEqual(3);
    expect(share.children.clickhouse).toBeLessThan(share.children.ingest! / 2);
    expect(share.children.gone).toBeUndefined();
  });

  it('reads one thread\'s CPU, not the process\'s (the load generator\'s thread)', async () => {
    const thread0 = threadCpuMs()!;
    const process0 = process.cpuUsage();
    // the thread spins until it has used 300 ms of CPU itself (however long a loaded machine takes), at most 20 s
    const worker = new Worker(`
      const { readFileSync } = require('node:fs');
      const ticks = () => { const f = readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1].split(' '); return Number(f[11]) + Number(f[12]); };
      const start = ticks(); const end = Date.now() + 20000;
      while (ticks() - start < 30 && Date.now() < end) {}`, { eval: true });
    await new Promise((r) => worker.once('exit', r));
    const threadMs = threadCpuMs()! - thread0;
    const processMs = (process.cpuUsage(process0).user + process.cpuUsage(process0).system) / 1000;
    expect(processMs - threadMs).toBeGreaterThan(250);
    expect(threadMs).toBeLessThan(processMs / 2);
  });

  it('splits a phase by role: the API in this process or in workers, the scorer, the load generator', () => {
    const cpu: CpuShare = { wall_s: 1, process_pct: 90, main_thread_pct: 80, children: { 'nats-server': 30, clickhouse: 5, ingest: 120 }, machine_pct: 200, others_pct: 10 };
    expect(roleShares(cpu, 'nothing', 25)).toEqual({ scorer: 0, ingest: 120, 'nats-server': 30, clickhouse: 5, loadgen: 25, bench: 65, others: 10, machine: 200 });
    expect(roleShares({ ...cpu, children: { 'nats-server': 30 } }, 'ingest', 25)).toMatchObject({ ingest: 65, scorer: 0, bench: 0, clickhouse: 0 });
    expect(roleShares(cpu, 'scorer')).toMatchObject({ scorer: 90, ingest: 120, loadgen: 0 });
  });

  it('prints the median roles of each vafa phase in the terminal table', () => {
    const cpu = (scorer: number, ingest: number): unknown => ({ roles: { scorer, ingest, 'nats-server': 30, clickhouse: 2, loadgen: 20, bench: 5, others: 40, machine: 190 } });
    const measurements = summarize({
      core_publish: [{ events: 1000, seconds: 1 }, { events: 1000, seconds: 1 }, { events: 1000, seconds: 1 }],
      http_batch: [{ events: 100, seconds: 1, cpu: cpu(0, 150) }, { events: 100, seconds: 1, cpu: cpu(0, 170) }, { events: 100, seconds: 1, cpu: cpu(0, 130) }],
    }, {});
    const batch = measurements.find((m) => m.id === 'http_batch')!;
    expect(batch.cpu_roles).toMatchObject({ ingest: 150, scorer: 0, 'nats-server': 30 });
    const text = renderCpu({ measurements } as BenchReport);
    expect(text).toMatch(/ingest/);
    expect(text.split('\n').find((l) => l.startsWith(batch.name))?.split(/\s{2,}/).slice(1)).toEqual(['0', '150', '30', '2', '20', '5', '40', '190']);
  });
});
