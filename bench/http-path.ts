/**
 * The HTTP batch path's CPU an event, in one process: what the API does with phase 2a's bodies (500
 * transactions each) once Fastify has read them — the body parsed as Fastify parses it
 * (`secure-json-parse`, prototype and constructor poisoning refused), every item validated, its card
 * tokenized and its message built (`IngestService`), and published pipelined into the `TX` stream of a
 * fresh nats-server (the contract's stream settings), answered when JetStream has persisted it. `--in-flight`
 * bodies at once, as 2a's clients send them. Without HTTP, so a change to the ingest path can be told apart
 * from the machine's noise, which the end-to-end phase cannot on two shared cores. Prints each round and the
 * medians of `--rounds`: events/s and the process's CPU µs an event (nats-server not included).
 *
 *   npx tsx bench/http-path.ts [--events 100000] [--rounds 5] [--in-flight 6]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import secureJson from 'secure-json-parse';
import { IngestService } from '../ingest/mod.js';
import { ensureStreams, Publisher, startLocalNats } from '../platform/mod.js';
import { requestBodies } from './events.js';
import { median } from './stats.js';

const PER_REQUEST = 500;
const CUSTOMERS = 16_000;
const PARTITIONS = 8;
const TOKEN_KEY = 'bench-http-path-token-key-0123456789';

const { values } = parseArgs({ options: { events: { type: 'string', default: '100000' }, rounds: { type: 'string', default: '5' }, 'in-flight': { type: 'string', default: '6' } } });
const events = Number(values.events);
const rounds = Number(values.rounds);
const inFlight = Number(values['in-flight']);
if (!(events >= PER_REQUEST && rounds >= 1 && inFlight >= 1)) throw new Error('--events (at least 500), --rounds and --in-flight must be positive numbers');

const dir = mkdtempSync(path.join(os.tmpdir(), 'vafa-bench-http-path-'));
const server = await startLocalNats({ port: 0, storeDir: path.join(dir, 'nats'), serverName: 'vafa-bench-http-path' });
const nc = await connect({ servers: server.url, name: 'vafa-bench-http-path', timeout: 10_000 });
try {
  await ensureStreams(await jetstreamManager(nc, { timeout: 30_000 }), { replicas: 1, duplicateWindowS: 120 });
  const publisher = new Publisher(nc, { expectStream: 'TX' });
  const ingest = new IngestService({ publisher, partitions: PARTITIONS, tokenKey: TOKEN_KEY });
  const rates: number[] = [];
  const cpus: number[] = [];
  for (let round = 0; round < rounds; round++) {
    // New ids every round: a repeated id would be a JetStream duplicate, a cheaper path.
    const bodies = requestBodies(`hp${round}-`, 0, events, PER_REQUEST, CUSTOMERS).map((b) => b.body);
    let next = 0;
    let accepted = 0;
    let refused: unknown;
    const lane = async (): Promise<void> => {
      while (next < bodies.length) {
        const body = bodies[next++] as string;
        const items = secureJson.parse(body, undefined, { protoAction: 'error', constructorAction: 'error' }) as unknown[];
        const outcome = await ingest.ingest('transaction', items);
        accepted += outcome.accepted;
        refused ??= outcome.results.find((r) => r.status !== 'accepted');
      }
    };
    const cpu = process.cpuUsage();
    const started = performance.now();
    await Promise.all(Array.from({ length: inFlight }, lane));
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    if (accepted !== events) throw new Error(`round ${round + 1}: ${accepted} of ${events} events accepted; the first other: ${JSON.stringify(refused)}`);
    rates.push(events / seconds);
    cpus.push((used.user + used.system) / events);
    console.log(`round ${round + 1}: ${Math.round(events / seconds).toLocaleString('en-US')} events/s, ${((used.user + used.system) / events).toFixed(2)} µs of CPU an event`);
  }
  console.log(`median of ${rounds}: ${Math.round(median(rates)).toLocaleString('en-US')} events/s, ${median(cpus).toFixed(2)} µs of CPU an event (load ${os.loadavg()[0]?.toFixed(2)})`);
  publisher.close();
} finally {
  await nc.close();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
