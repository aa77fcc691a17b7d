/**
 * The sink's flush timing. Flushes storing at once (`maxFlushes`): a flush starts after the linger even
 * while the previous one stores, never more than `maxFlushes` at once, and `close` waits for all.
 * Deferred rows (operations telemetry, `ClickHouseSink.defer`): they start no flush of their own, ride
 * with the first flush at least `deferMs` after the oldest of them, and are flushed by `close`.
 * The client records each insert (tables outside the schema go as JSONEachRow through `insert`).
 */
import { describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import { ClickHouseSink } from '../../sinks/clickhouse/sink.js';
import { SinkClosedError } from '../../sinks/clickhouse/errors.js';
import { type Row } from '../../sinks/mapping.js';

interface Insert { table: string; rows: number; at: number }

/** A client whose inserts are stored only when the test releases them, in any order. */
function gatedClient(): { ch: ClickHouseClient; started: string[]; release: (table: string) => void; stored: string[] } {
  const started: string[] = [];
  const stored: string[] = [];
  const gates = new Map<string, () => void>();
  const ch = {
    insert: async ({ table }: { table: string }): Promise<void> => {
      const name = table.replace(/^test\./, '');
      started.push(name);
      await new Promise<void>((resolve) => gates.set(name, resolve));
      stored.push(name);
    },
  } as unknown as ClickHouseClient;
  const release = (table: string): void => {
    const open = gates.get(table);
    if (!open) throw new Error(`no insert into ${table} is waiting`);
    gates.delete(table);
    open();
  };
  return { ch, started, release, stored };
}

/** A client that stores every insert at once, or never answers when `hang` is set. */
function recordingClient(options: { hang?: boolean } = {}): { ch: ClickHouseClient; inserts: Insert[] } {
  const inserts: Insert[] = [];
  const ch = {
    insert: async ({ table, values }: { table: string; values: Row[] }): Promise<void> => {
      if (options.hang) await new Promise(() => undefined);
      inserts.push({ table: table.replace(/^test\./, ''), rows: values.length, at: performance.now() });
    },
  } as unknown as ClickHouseClient;
  return { ch, inserts };
}

const rows = (table: string, n: number, tag: string): Map<string, Row[]> => new Map([[table, Array.from({ length: n }, (_, i) => ({ id: `${tag}${i}` }))]]);

async function waitUntil(what: string, ok: () => boolean, deadlineMs = 5000): Promise<void> {
  const until = performance.now() + deadlineMs;
  while (!ok()) {
    if (performance.now() > until) throw new Error(`not within ${deadlineMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('ClickHouseSink flushes storing at once', () => {
  it('starts a second flush while the first stores, a third only once one of them is stored', async () => {
    const { ch, started, release, stored } = gatedClient();
    const sink = new ClickHouseSink(ch, { database: 'test', lingerMs: 10, idleLingerMs: 1, maxFlushes: 2 });
    const first = sink.write(rows('t1', 1, 'a'));
    await waitUntil('the first insert', () => started.length === 1);
    const second = sink.write(rows('t2', 1, 'b'));
    await waitUntil('the second insert while the first stores', () => started.length === 2);
    const third = sink.write(rows('t3', 1, 'c'));
    await new Promise((r) => setTimeout(r, 100));
    expect(started).toEqual(['t1', 't2']);
    // The second lands first: its writer is answered although the first is still storing.
    release('t2');
    expect(await second).toEqual([]);
    await waitUntil('the third insert once a flush ended', () => started.length === 3);
    expect(started[2]).toBe('t3');
    release('t1');
    release('t3');
    expect(await first).toEqual([]);
    expect(await third).toEqual([]);
    expect(stored).toEqual(['t2', 't1', 't3']);
    await sink.close();
  });

  it('with maxFlushes 1, a flush waits for the one storing', async () => {
    const { ch, started, release } = gatedClient();
    const sink = new ClickHouseSink(ch, { database: 'test', lingerMs: 10, idleLingerMs: 1, maxFlushes: 1 });
    const first = sink.write(rows('t1', 1, 'a'));
    await waitUntil('the first insert', () => started.length === 1);
    const second = sink.write(rows('t2', 1, 'b'));
    await new Promise((r) => setTimeout(r, 100));
    expect(started).toEqual(['t1']);
    release('t1');
    await first;
    await waitUntil('the second insert', () => started.length === 2);
    release('t2');
    expect(await second).toEqual([]);
    await sink.close();
  });

  it('close() waits for every flush storing', async () => {
    const { ch, started, release, stored } = gatedClient();
    const sink = new ClickHouseSink(ch, { database: 'test', lingerMs: 10, idleLingerMs: 1, maxFlushes: 2 });
    void sink.write(rows('t1', 1, 'a'));
    await waitUntil('the first insert', () => started.length === 1);
    void sink.write(rows('t2', 1, 'b'));
    await waitUntil('the second insert', () => started.length === 2);
    let closed = false;
    const closing = sink.close().then(() => {
      closed = true;
    });
    release('t2');
    await new Promise((r) => setTimeout(r, 50));
    expect(closed).toBe(false);
    release('t1');
    await closing;
    expect(stored.sort()).toEqual(['t1', 't2']);
  });
});

describe('ClickHouseSink.defer', () => {
  it('flushes deferred rows alone only once they waited twice deferMs and no write came', async () => {
    const { ch, inserts } = recordingClient();
    const sink = new ClickHouseSink(ch, { database: 'test', lingerMs: 20, idleLingerMs: 1, deferMs: 150 });
    const from = performance.now();
    const done = sink.defer(rows('telemetry', 2, 'a'));
    await new Promise((r) => setTimeout(r, 200));
    expect(inserts).toEqual([]);
    expect(await done).toEqual([]);
    expect(inserts).toEqual([expect.objectContaining({ table: 'telemetry', rows: 2 })]);
    expect(inserts[0]!.at - from).toBeGreaterThanOrEqual(295);
    await sink.close();
  });

  it('leaves deferred rows out of the flushes before deferMs and puts them in the first one after it', async () => {
    const { ch, inserts } = recordingClient();
    const sink = new ClickHouseSink(ch, { database: 'test', lingerMs: 20, idleLingerMs: 1, deferMs: 400 });
    const from = performance.now();
    let deferredDone = false;
    const deferred = sink.defer(rows('telemetry', 1, 'a')).then((r) => {
      deferredDone = true;
      return r;
    });
    void sink.defer(rows('telemetry', 1, 'b'));
    // Writes every 50 ms: each is flushed within the linger, without the deferred rows until 400 ms passed.
    let written = 0;
    while (!deferredDone) {
      await sink.write(rows('business', 3, `w${written++}`));
      if (performance.now() - from > 3000) throw new Error('the deferred rows were not flushed within 3 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await deferred).toEqual([]);
    const telemetry = inserts.filter((i) => i.table === 'telemetry');
    expect(telemetry).toHaveLength(1);
    expect(telemetry[0]!.rows).toBe(2);
    expect(telemetry[0]!.at - from).toBeGreaterThanOrEqual(395);
    // It went with a flush of business rows (same moment), not alone.
    expect(inserts.some((i) => i.table === 'business' && Math.abs(i.at - telemetry[0]!.at) < 15)).toBe(true);
    expect(inserts.filter((i) => i.table === 'business').length).toBeGreaterThanOrEqual(written - 1);
    await sink.close();
  });

  it('close() flushes deferred rows at once', async () => {
    const { ch, inserts } = recordingClient();
    const sink = new ClickHouseSink(ch, { database: 'test', deferMs: 60_000 });
    const deferred = sink.defer(rows('telemetry', 4, 'a'));
    await sink.close();
    expect(await deferred).toEqual([]);
    expect(inserts).toEqual([expect.objectContaining({ table: 'telemetry', rows: 4 })]);
    await expect(sink.defer(rows('telemetry', 1, 'b'))).rejects.toBeInstanceOf(SinkClosedError);
  });

  it('abort() rejects deferred rows not yet stored', async () => {
    const { ch } = recordingClient({ hang: true });
    const sink = new ClickHouseSink(ch, { database: 'test', deferMs: 60_000 });
    const deferred = sink.defer(rows('telemetry', 1, 'a'));
    sink.abort();
    await expect(deferred).rejects.toBeInstanceOf(SinkClosedError);
  });

  it('a write after deferred rows is flushed within its own linger, not at the deferred rows\' time', async () => {
    const { ch, inserts } = recordingClient();
    const sink = new ClickHouseSink(ch, { database: 'test', lingerMs: 30, idleLingerMs: 2, deferMs: 1000 });
    void sink.defer(rows('telemetry', 1, 'a'));
    const from = performance.now();
    await sink.write(rows('business', 1, 'b'));
    expect(performance.now() - from).toBeLessThan(500);
    await waitUntil('one business insert', () => inserts.some((i) => i.table === 'business'));
    expect(inserts.map((i) => i.table)).toEqual(['business']);
    await sink.close();
  });
});
