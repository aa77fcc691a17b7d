/**
 * Partition leases on a real nats-server (one per test, so leases and heartbeats of one test never reach
 * the next). Losing one lease while its fenced worker stops slowly must not cost the instance its other
 * leases; a lost partition is taken again once its worker has stopped, or after a bounded wait. Rounds
 * keep running while heartbeats land (the old membership read, `kv.keys()`, stayed open while they
 * did and stalled every later round); instances that join, leave or crash move partitions without two
 * valid fences ever coexisting; hung callbacks cost bounded time and leave no unowned running worker.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startLocalNats, type LocalNats } from '../../platform/nats-server.js';
import { connectNats } from '../../platform/nats.js';
import { createLogger } from '../../platform/log.js';
import { sleep, withDeadline } from '../../platform/deadline.js';
import { chooseOwner, PartitionOwnership, type Fence, type OwnershipOptions } from '../../scorer/runtime/ownership.js';

const LEASE = 1000;
const logger = createLogger({ level: 'silent', name: 'test' });

let dir: string;
let nats: LocalNats;
let connections: NatsConnection[] = [];
let ownerships: PartitionOwnership[] = [];

beforeEach(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'vafa-ownership-'));
  nats = await startLocalNats({ port: 0, storeDir: path.join(dir, 'nats') });
}, 30_000);
afterEach(async () => {
  await withDeadline(Promise.allSettled(ownerships.map((o) => o.stop())), 10_000, 'stopping ownerships').catch(() => undefined);
  await Promise.allSettled(connections.map((c) => c.close()));
  ownerships = [];
  connections = [];
  await nats?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 30_000);

async function connection(name: string): Promise<NatsConnection> {
  const nc = await connectNats(nats.url, name);
  connections.push(nc);
  return nc;
}

/** Polls `check` every 20 ms; fails naming `what` after `timeoutMs`. */
async function waitFor(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await sleep(20);
  }
}

interface Hooks {
  acquire?(p: number): Promise<void> | undefined;
  release?(p: number): Promise<void> | undefined;
}

/**
 * The workers as the callbacks of every instance see them: each start with its fence, each stop, and
 * each start that found another valid fence for its partition (two owners at once).
 */
class Workers {
  readonly starts: { partition: number; instance: string; fence: Fence; at: number }[] = [];
  readonly stops: { partition: number; instance: string; at: number }[] = [];
  readonly overlaps: string[] = [];

  validity(p: number): boolean[] {
    return this.starts.filter((s) => s.partition === p).map((s) => s.fence.valid);
  }

  stopsOf(p: number): number[] {
    return this.stops.filter((s) => s.partition === p).map((s) => s.at);
  }

  startsOf(p: number): number[] {
    return this.starts.filter((s) => s.partition === p).map((s) => s.at);
  }

  callbacks(instance: string, hooks: Hooks = {}): Pick<OwnershipOptions, 'acquire' | 'release'> {
    return {
      acquire: async (p, fence) => {
        const rival = this.starts.find((s) => s.partition === p && s.fence.valid);
        if (rival) this.overlaps.push(`partition ${p}: ${instance} started while ${rival.instance} held a valid fence`);
        this.starts.push({ partition: p, instance, fence, at: Date.now() });
        await hooks.acquire?.(p);
      },
      release: async (p) => {
        this.stops.push({ partition: p, instance, at: Date.now() });
        await hooks.release?.(p);
      },
    };
  }
}

function ownership(nc: NatsConnection, instance: string, partitions: number, workers: Workers, hooks: Hooks = {}): PartitionOwnership {
  const o = new PartitionOwnership({ nc, instance, partitions, leaseMs: LEASE, logger, ...workers.callbacks(instance, hooks) });
  ownerships.push(o);
  return o;
}

/** Partitions each instance should own when `instances` are live. */
function expectedOwners(partitions: number, instances: string[]): Record<string, number[]> {
  const out: Record<string, number[]> = Object.fromEntries(instances.map((i) => [i, []]));
  for (let p = 0; p < partitions; p++) out[chooseOwner(p, instances)!]!.push(p);
  return out;
}

function ownedBy(members: Record<string, PartitionOwnership>): Record<string, number[]> {
  return Object.fromEntries(Object.entries(members).map(([name, o]) => [name, o.owned]));
}

describe('rendezvous owner choice', () => {
  it('spreads partitions over the instances and moves only the leaving instance\'s partitions', () => {
    // Names that differ in their last characters only, as process ids do: FNV-1a alone gave one of them everything.
    for (const names of [['a', 'b', 'c'], ['scorer-101', 'scorer-102', 'scorer-103'], ['scorer-a', 'scorer-b', 'scorer-c']]) {
      const few = expectedOwners(16, names);
      for (const name of names) expect(few[name]!.length, `${name} of ${names.join()}`).toBeGreaterThan(0);
    }
    const three = ['scorer-a', 'scorer-b', 'scorer-c'];
    const before = expectedOwners(960, three);
    for (const name of three) expect(before[name]!.length).toBeGreaterThan(960 / 3 * 0.8);
    const after = expectedOwners(960, ['scorer-a', 'scorer-c']);
    for (const name of ['scorer-a', 'scorer-c']) expect(after[name]!).toEqual(expect.arrayContaining(before[name]!));
  });
});

describe('partition leases', () => {
  it('keep the other partitions while a fenced worker stops slowly, then take the lost one again once it has stopped', async () => {
    const workers = new Workers();
    let stopped0At = 0;
    // The fenced worker of partition 0 finishes a long batch before it stops: one and a half leases.
    const only = ownership(await connection('only'), 'only', 3, workers, {
      release: async (p) => {
        if (p !== 0) return;
        await sleep(1.5 * LEASE);
        stopped0At = Date.now();
      },
    });
    await only.start();
    expect(only.owned).toEqual([0, 1, 2]);
    const kv = await new Kvm(connections[0]!).open('vafa_leases');
    // Partition 0's lease disappears (as if it had expired): the next refresh loses it.
    await kv.purge('partition.0');
    await waitFor('partition 0 fenced', () => workers.validity(0)[0] === false, 3 * LEASE);
    await waitFor('partition 0 taken again', () => workers.validity(0).length === 2 && only.owned.length === 3, 6 * LEASE);
    expect(workers.validity(0)).toEqual([false, true]);
    expect(stopped0At).toBeGreaterThan(0);
    expect(workers.startsOf(0)[1]).toBeGreaterThanOrEqual(stopped0At);
    // The other leases were refreshed all along: never fenced, never released.
    expect(workers.stops.map((s) => s.partition)).toEqual([0]);
    expect(workers.validity(1)).toEqual([true]);
    expect(workers.validity(2)).toEqual([true]);
    expect(workers.overlaps).toEqual([]);
  }, 30_000);

  it('take a lost partition again after two lease lifetimes even if its fenced worker never stops', async () => {
    const workers = new Workers();
    let stuck = true;
    // The first worker of partition 0 never stops (its new one, at the end, does).
    const o = ownership(await connection('stuck'), 'stuck', 2, workers, {
      release: (p) => (p === 0 && stuck ? ((stuck = false), new Promise<void>(() => undefined)) : undefined),
    });
    await o.start();
    const kv = await new Kvm(connections[0]!).open('vafa_leases');
    await kv.purge('partition.0');
    await waitFor('partition 0 fenced', () => workers.validity(0)[0] === false, 3 * LEASE);
    await waitFor('partition 0 taken again', () => workers.validity(0).length === 2 && o.owned.length === 2, 6 * LEASE);
    expect(workers.validity(0)).toEqual([false, true]);
    expect(workers.startsOf(0)[1]! - workers.stopsOf(0)[0]!).toBeGreaterThanOrEqual(2 * LEASE);
    expect(workers.validity(1)).toEqual([true]);
  }, 30_000);

  it('keep balancing while heartbeats land during the membership read', async () => {
    const workers = new Workers();
    const solo = ownership(await connection('solo'), 'solo', 6, workers);
    await solo.start();
    expect(solo.owned).toEqual([0, 1, 2, 3, 4, 5]);
    // Another instance heartbeats as fast as it can: the old `kv.keys()` read stayed open while it did.
    const ghost = await new Kvm(await connection('ghost')).open('vafa_leases');
    let beating = true;
    const beats = (async () => {
      while (beating) await ghost.put('instance.ghost', String(Date.now()));
    })();
    try {
      const withGhost = expectedOwners(6, ['ghost', 'solo']).solo!;
      expect(withGhost.length).toBeLessThan(6);
      await waitFor('partitions handed to the ghost', () => solo.owned.join() === withGhost.join(), 3 * LEASE);
      const kv = await new Kvm(connections[0]!).open('vafa_leases');
      // A refresh (every quarter lease) loses the purged lease and a round (every third of a lease) takes it
      // again: well within two and a half leases, unless a round stalls.
      for (let round = 0; round < 5; round++) {
        const p = withGhost[round % withGhost.length]!;
        const before = workers.validity(p).length;
        await kv.purge(`partition.${p}`);
        await waitFor(`partition ${p} taken again while heartbeats land (round ${round})`, () => workers.validity(p).length === before + 1 && solo.owned.includes(p), 2.5 * LEASE);
      }
    } finally {
      beating = false;
      await beats;
    }
    // The ghost's heartbeat expires: its partitions come back.
    await waitFor('all partitions back once the ghost is gone', () => solo.owned.length === 6, 3 * LEASE);
    const stopStarted = Date.now();
    await solo.stop();
    expect(Date.now() - stopStarted).toBeLessThan(2 * LEASE);
    expect(workers.overlaps).toEqual([]);
  }, 30_000);

  it('rebalance as instances join, leave and crash, never with two valid fences for a partition', async () => {
    const PARTITIONS = 8;
    const workers = new Workers();
    const members: Record<string, PartitionOwnership> = {};
    const crashing = await connection('c');
    members.a = ownership(await connection('a'), 'a', PARTITIONS, workers);
    await members.a.start();
    expect(members.a.owned).toHaveLength(PARTITIONS);
    members.b = ownership(await connection('b'), 'b', PARTITIONS, workers);
    members.c = ownership(crashing, 'c', PARTITIONS, workers);
    await Promise.all([members.b.start(), members.c.start()]);
    await waitFor('a, b and c share the partitions', () => JSON.stringify(ownedBy(members)) === JSON.stringify(expectedOwners(PARTITIONS, ['a', 'b', 'c'])), 6 * LEASE);

    const stopStarted = Date.now();
    await members.b.stop();
    expect(Date.now() - stopStarted).toBeLessThan(2 * LEASE);
    const { a, c } = members;
    await waitFor('a and c take b\'s partitions', () => JSON.stringify(ownedBy({ a, c })) === JSON.stringify(expectedOwners(PARTITIONS, ['a', 'c'])), 6 * LEASE);

    const cFences = workers.starts.filter((s) => s.instance === 'c' && s.fence.valid).map((s) => s.fence);
    expect(cFences.length).toBeGreaterThan(0);
    await crashing.close(); // c crashes: no more heartbeats or refreshes; its leases expire
    await waitFor('a takes every partition after c crashed', () => a.owned.length === PARTITIONS, 8 * LEASE);
    expect(cFences.map((f) => f.valid)).toEqual(cFences.map(() => false));
    expect(workers.overlaps).toEqual([]);
  }, 30_000);

  it('bound start and stop when callbacks hang, and release a worker whose start completed past its deadline', async () => {
    const workers = new Workers();
    let firstStartOf1 = true;
    let lateStartDoneAt = 0;
    const o = ownership(await connection('hangs'), 'hangs', 3, workers, {
      // Partition 1's first start takes three leases (its deadline is one); partition 2's worker never stops.
      acquire: async (p) => {
        if (p !== 1 || !firstStartOf1) return;
        firstStartOf1 = false;
        await sleep(3 * LEASE);
        lateStartDoneAt = Date.now();
      },
      release: (p) => (p === 2 ? new Promise<void>(() => undefined) : undefined),
    });
    const startStarted = Date.now();
    await o.start();
    expect(Date.now() - startStarted).toBeLessThan(2 * LEASE);
    expect(o.owned).toEqual([0, 2]);
    expect(workers.validity(1)).toEqual([false]);

    await waitFor('partition 1 taken again after its late worker was released', () => workers.validity(1).length === 2 && o.owned.length === 3, 6 * LEASE);
    expect(lateStartDoneAt).toBeGreaterThan(0);
    const [lateRelease] = workers.stopsOf(1);
    expect(lateRelease).toBeGreaterThanOrEqual(lateStartDoneAt);
    expect(workers.startsOf(1)[1]).toBeGreaterThanOrEqual(lateRelease!);
    expect(workers.validity(1)).toEqual([false, true]);

    const fence2 = workers.starts.find((s) => s.partition === 2)!.fence;
    const stopStarted = Date.now();
    await o.stop();
    expect(Date.now() - stopStarted).toBeLessThan(3 * LEASE);
    expect(fence2.valid).toBe(false);
    expect(workers.overlaps).toEqual([]);
  }, 30_000);

  it('drop every fence within a lease when NATS goes away, log each failing dependency once, and stop in bounded time', async () => {
    const messages: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n')) if (line) messages.push((JSON.parse(line) as { msg: string }).msg);
        done();
      },
    });
    const workers = new Workers();
    const o = new PartitionOwnership({
      nc: await connection('cut-off'), instance: 'cut-off', partitions: 3, leaseMs: LEASE, ...workers.callbacks('cut-off'),
      logger: createLogger({ destination, level: 'info', format: 'json', name: 'test' }),
    });
    ownerships.push(o);
    await o.start();
    expect(o.owned).toEqual([0, 1, 2]);
    await nats.stop();
    // The last refresh was sent at most a quarter lease ago: every fence is down within a lease and a half.
    await waitFor('every fence down', () => [0, 1, 2].every((p) => workers.validity(p)[0] === false), 1.5 * LEASE);
    await waitFor('the heartbeat failure logged', () => messages.includes('instance heartbeat failing; retrying'), 2 * LEASE);
    // An observation window: a dozen heartbeats and rounds fail in it, and each dependency still has one line.
    await sleep(3 * LEASE);
    const failing = messages.filter((m) => m.includes('failing'));
    expect(failing.filter((m) => m.startsWith('instance heartbeat'))).toEqual(['instance heartbeat failing; retrying']);
    expect(failing.filter((m) => m.startsWith('partition ownership round'))).toEqual(['partition ownership round failing; retrying']);
    const stopStarted = Date.now();
    await o.stop();
    expect(Date.now() - stopStarted).toBeLessThan(3 * LEASE);
  }, 30_000);
});
