/**
 * The load generator, run in a worker thread so that building, sending and checking requests does not
 * share the API's event loop. It prepares every request first, says `ready`, and starts on `go`.
 */
import http from 'node:http';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { iso0200Fields, requestBodies } from '../events.js';
import { threadCpuMs } from '../cpu.js';
import { item } from '../../scorer/core/mod.js';
import type { FromWorker, HttpLoad, IsoLoad, LoadResult, LoadSpec, ToWorker } from './protocol.js';

const port = parentPort;
if (!port) throw new Error('bench/loadgen/worker.ts runs only as a worker thread (no parentPort)');
const send = (m: FromWorker): void => port.postMessage(m);
const go = new Promise<void>((resolve) => port.on('message', (m: ToWorker) => m.type === 'go' && resolve()));

function progressReporter(total: number): (done: number) => void {
  let last = 0;
  return (done) => {
    const now = Date.now();
    if (now - last >= 100 || done === total) {
      last = now;
      send({ type: 'progress', done, total });
    }
  };
}

/** What a run counts as the answers come: status codes, failures (the first five said) and answers, for the progress line. */
class Tally {
  readonly codes: Record<string, number> = {};
  readonly errors: string[] = [];
  failures = 0;
  private answered = 0;
  private readonly report: (done: number) => void;

  constructor(total: number) {
    this.report = progressReporter(total);
  }

  code(code: string): void {
    this.codes[code] = (this.codes[code] ?? 0) + 1;
  }

  fail(why: string): void {
    this.failures++;
    if (this.errors.length < 5) this.errors.push(why);
  }

  answer(events: number): void {
    this.answered += events;
    this.report(this.answered);
  }
}

async function runHttp(spec: HttpLoad): Promise<LoadResult> {
  const bodies = requestBodies(spec.prefix, spec.first, spec.events, spec.perRequest, spec.customers);
  const target = new URL(spec.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: spec.concurrency, maxFreeSockets: spec.concurrency });
  const latencies = new Float64Array(bodies.length);
  const tally = new Tally(spec.events);
  let accepted = 0;
  const post = (i: number): Promise<void> => new Promise((resolve) => {
    const b = item(bodies, i);
    const t0 = performance.now();
    const req = http.request({
      host: target.hostname, port: target.port, path: target.pathname, method: 'POST', agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(b.body) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        latencies[i] = performance.now() - t0;
        const code = String(res.statusCode);
        tally.code(code);
        // The body starts with {"accepted":N,…}: read N without parsing the per-item results.
        const head = Buffer.concat(chunks).subarray(0, 200).toString();
        const m = /"accepted":(\d+)/.exec(head);
        const n = m ? Number(m[1]) : 0;
        accepted += n;
        if (res.statusCode !== 202 || n !== b.events) tally.fail(`HTTP ${code}: accepted ${n} of ${b.events}: ${head.slice(0, 160)}`);
        tally.answer(b.events);
        resolve();
      });
      res.on('error', (err) => {
        tally.fail(err.message);
        resolve();
      });
    });
    req.on('error', (err) => {
      latencies[i] = performance.now() - t0;
      tally.fail(err.message);
      resolve();
    });
    req.end(b.body);
  });

  send({ type: 'ready', requests: bodies.length });
  await go;
  const elu0 = performance.eventLoopUtilization();
  const cpu0 = threadCpuMs();
  const t0 = performance.now();
  await postAll(spec, bodies.length, post, t0);
  const seconds = (performance.now() - t0) / 1000;
  agent.destroy();
  const busyMs = performance.eventLoopUtilization(elu0).active;
  const { failures, codes, errors } = tally;
  return { events: accepted, requests: bodies.length, seconds, latenciesMs: latencies, failures, codes, errors, busyMs, ...cpuSince(cpu0) };
}

/**
 * Sends requests 0 … count − 1: closed loop without a rate (`concurrency` clients, each sending its next
 * when answered), else open loop (request k due at t0 + k·interval, at most `concurrency` in flight).
 */
async function postAll(spec: HttpLoad, count: number, post: (i: number) => Promise<void>, t0: number): Promise<void> {
  let next = 0;
  if (spec.rate === undefined) {
    const client = async (): Promise<void> => {
      while (next < count) await post(next++);
    };
    await Promise.all(Array.from({ length: Math.min(spec.concurrency, count) }, client));
    return;
  }
  const interval = (spec.perRequest || 1) / spec.rate * 1000;
  const inFlight = new Set<Promise<void>>();
  while (next < count) {
    const due = t0 + next * interval;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    if (inFlight.size >= spec.concurrency) await Promise.race(inFlight);
    const p = post(next++);
    inFlight.add(p);
    void p.then(() => inFlight.delete(p));
  }
  await Promise.all(inFlight);
}

interface IsoCodec {
  encode(msg: { mti: string; fields: Record<number, string | Buffer> }): Buffer;
  decode(input: Uint8Array): { mti: string; fields: Record<number, string | Buffer> };
  frameMessage(payload: Buffer, opts: { lengthHeader: 'binary2'; lengthHeaderIncludesItself: boolean }): Buffer;
}

async function runIso(spec: IsoLoad): Promise<LoadResult> {
  const codec = (await import(spec.codecModule)) as IsoCodec;
  const perConn = Math.ceil(spec.events / spec.connections);
  const frames = isoFrames(spec, codec, perConn);
  const latencies = new Float64Array(spec.events);
  const tally = new Tally(spec.events);
  const answers = { ok: 0 };
  send({ type: 'ready', requests: spec.events });
  await go;
  const elu0 = performance.eventLoopUtilization();
  const cpu0 = threadCpuMs();
  const t0 = performance.now();
  // A connection left without requests (events not a multiple of connections) would wait for answers that never come.
  await Promise.all(frames.map((list, c) => (list.length === 0 ? undefined : isoConnection(spec, codec, c, list, latencies.subarray(c * perConn), tally, answers))));
  const seconds = (performance.now() - t0) / 1000;
  const busyMs = performance.eventLoopUtilization(elu0).active;
  const { failures, codes, errors } = tally;
  return { events: answers.ok, requests: spec.events, seconds, latenciesMs: latencies, failures, codes, errors, busyMs, ...cpuSince(cpu0) };
}

/** Every connection's framed 0200 requests, prepared before the run. */
function isoFrames(spec: IsoLoad, codec: IsoCodec, perConn: number): Buffer[][] {
  const now = new Date();
  const frames: Buffer[][] = [];
  for (let c = 0; c < spec.connections; c++) {
    const list: Buffer[] = [];
    for (let s = 0; s < perConn && c * perConn + s < spec.events; s++) {
      // A STAN has six digits: every million messages of a connection move to the next transmission second.
      const at = new Date(now.getTime() - Math.floor(s / 1_000_000) * 1000);
      const fields = iso0200Fields(spec.connectionBase + c, s, (c * perConn + s) % spec.cards, at);
      list.push(codec.frameMessage(codec.encode({ mti: '0200', fields }), { lengthHeader: 'binary2', lengthHeaderIncludesItself: false }));
    }
    frames.push(list);
  }
  return frames;
}

/**
 * Connection `c`: sends its frames with at most `spec.window` unanswered and matches each response to its
 * request by STAN (its latency into `latencies`, this connection's part); resolves when all are answered.
 */
function isoConnection(
  spec: IsoLoad, codec: IsoCodec, c: number, list: Buffer[], latencies: Float64Array, tally: Tally, answers: { ok: number },
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const sock = net.connect({ host: spec.host, port: spec.port });
    sock.setNoDelay(true);
    const sentAt = new Float64Array(list.length);
    let sent = 0;
    let got = 0;
    let buf: Buffer = Buffer.alloc(0);
    const pump = (): void => {
      const parts: Buffer[] = [];
      while (sent < list.length && sent - got < spec.window) {
        sentAt[sent] = performance.now();
        parts.push(item(list, sent++));
      }
      if (parts.length) sock.write(parts.length === 1 ? item(parts, 0) : Buffer.concat(parts));
    };
    sock.on('connect', pump);
    sock.on('data', (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      let pos = 0;
      while (buf.length - pos >= 2) {
        const len = buf.readUInt16BE(pos);
        if (buf.length - pos - 2 < len) break;
        const frame = buf.subarray(pos + 2, pos + 2 + len);
        pos += 2 + len;
        const msg = codec.decode(frame);
        const stan = Number(String(msg.fields[11]));
        const code = String(msg.fields[39]);
        tally.code(code);
        // The message this answers: the latest sent whose index has this STAN (STANs wrap at a million).
        let i = stan + Math.floor((sent - 1) / 1_000_000) * 1_000_000;
        if (i >= sent) i -= 1_000_000;
        const at = i >= 0 ? sentAt[i] : undefined;
        if (at !== undefined) latencies[i] = performance.now() - at;
        if (code === '00') answers.ok++;
        else tally.fail(`response ${msg.mti} field 39 = ${code} (STAN ${stan})`);
        got++;
        tally.answer(1);
      }
      buf = pos === buf.length ? Buffer.alloc(0) : buf.subarray(pos);
      if (got === list.length) {
        sock.end();
        resolve();
      } else pump();
    });
    sock.on('error', reject);
    sock.on('close', () => (got < list.length ? reject(new Error(`connection ${c} closed after ${got} of ${list.length} answers`)) : resolve()));
  });
}

try {
  const spec = workerData as LoadSpec;
  const result = spec.kind === 'http' ? await runHttp(spec) : await runIso(spec);
  port.postMessage({ type: 'result', result } satisfies FromWorker, [result.latenciesMs.buffer as ArrayBuffer]);
} catch (err) {
  send({ type: 'error', message: (err as Error).stack ?? String(err) });
}

function cpuSince(cpu0: number | undefined): { cpuMs?: number } {
  const cpu1 = threadCpuMs();
  return cpu0 !== undefined && cpu1 !== undefined ? { cpuMs: cpu1 - cpu0 } : {};
}
