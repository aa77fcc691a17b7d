/**
 * The conformance suite every `Output` (sinks/output.ts) passes against its real downstream: one
 * `describeOutput(subject)` per output, the same tests for each (as benthos tests all its outputs).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SinkClosedError, type Output, type Refusal } from '../../sinks/output.js';

/** One output wired to a real downstream, made fresh for each test. */
export interface OutputUnderTest<B> {
  output: Output<B, Refusal>;
  /** The bound the output was made with (`maxPending`). */
  maxPending: number;
  /** A batch of one item per id; the same id always makes the same item (its deterministic id). */
  batch(ids: readonly string[]): B;
  /** A batch of the good ids plus one item the downstream refuses for its data. */
  withRefused(good: readonly string[], bad: string): B;
  /** How many times the downstream holds each id, as it is read (0: not there, 2: a duplicate). */
  stored(ids: readonly string[]): Promise<Map<string, number>>;
  /** The downstream stops answering (requests are held, not refused) / answers again. */
  stall(): void;
  resume(): void;
  /** Releases what the test made (the output is already closed or is closed here). */
  dispose(): Promise<void>;
}

export interface OutputSubject<B> {
  name: string;
  make(): Promise<OutputUnderTest<B>>;
  /** The reason the output gives for the item `withRefused` spoils. */
  refusedReason: RegExp;
}

const ids = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(4, '0')}`);

/** Settled state of a promise, without waiting for it. */
function track<T>(p: Promise<T>): { settled: () => boolean; promise: Promise<T> } {
  let settled = false;
  const promise = p.finally(() => {
    settled = true;
  });
  promise.catch(() => undefined);
  return { settled: () => settled, promise };
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const allOnce = (stored: Map<string, number>, wanted: readonly string[]): boolean => wanted.every((id) => stored.get(id) === 1);

export function describeOutput<B>(subject: OutputSubject<B>): void {
  describe(`output conformance: ${subject.name}`, () => {
    let current: OutputUnderTest<B> | undefined;
    let run = 0;
    const fresh = async (): Promise<{ t: OutputUnderTest<B>; prefix: string }> => {
      current = await subject.make();
      run++;
      return { t: current, prefix: `${subject.name}-${process.pid}-${Date.now()}-${run}` };
    };

    afterEach(async () => {
      current?.resume();
      await current?.dispose();
      current = undefined;
    });

    it('resolves a write only once every item is durable downstream', async () => {
      const { t, prefix } = await fresh();
      const wanted = ids(prefix, 40);
      t.stall();
      const write = track(t.output.write(t.batch(wanted)));
      await new Promise((r) => setTimeout(r, 400));
      expect(write.settled()).toBe(false);
      expect([...(await t.stored(wanted)).values()].filter((n) => n > 0)).toHaveLength(0);
      t.resume();
      expect(await write.promise).toEqual([]);
      // Read at once: nothing left to land after the write resolved.
      expect(allOnce(await t.stored(wanted), wanted)).toBe(true);
      await t.output.close(5000);
    });

    it('is idempotent on replay: the same ids written again add nothing', async () => {
      const { t, prefix } = await fresh();
      const wanted = ids(prefix, 30);
      await t.output.write(t.batch(wanted));
      await t.output.write(t.batch(wanted));
      await t.output.close(5000);
      // A new output (a restarted scorer) replays the second half with a few new items.
      const again = await subject.make();
      try {
        const more = [...wanted.slice(15), ...ids(`${prefix}-more`, 5)];
        await again.output.write(again.batch(more));
        await again.output.close(5000);
        const stored = await t.stored([...wanted, ...more]);
        expect([...stored.entries()].filter(([, n]) => n !== 1)).toEqual([]);
      } finally {
        await again.dispose();
      }
    });

    it('applies back-pressure: beyond maxPending a writer waits, and everything lands once the downstream answers', async () => {
      const { t, prefix } = await fresh();
      const size = Math.max(1, Math.floor(t.maxPending / 2));
      const batches = Array.from({ length: 5 }, (_, i) => ids(`${prefix}-b${i}`, size));
      t.stall();
      const writes = batches.map((b) => track(t.output.write(t.batch(b))));
      await until('writes beyond the bound to wait', () => t.output.stats.waiting > 0);
      await new Promise((r) => setTimeout(r, 200));
      expect(t.output.stats.pending).toBeLessThanOrEqual(t.maxPending);
      expect(t.output.stats.waiting).toBeGreaterThanOrEqual(batches.length - Math.floor(t.maxPending / size));
      expect(writes.at(-1)!.settled()).toBe(false);
      t.resume();
      await Promise.all(writes.map((w) => w.promise));
      expect(t.output.stats).toMatchObject({ pending: 0, waiting: 0 });
      const wanted = batches.flat();
      expect(allOnce(await t.stored(wanted), wanted)).toBe(true);
      await t.output.close(5000);
    });

    it('returns an item the downstream refuses for its data, with the reason, and stores the rest', async () => {
      const { t, prefix } = await fresh();
      const good = ids(prefix, 9);
      const bad = `${prefix}-bad`;
      const refused = await t.output.write(t.withRefused(good, bad));
      expect(refused).toHaveLength(1);
      expect(refused[0]!.reason).toMatch(subject.refusedReason);
      expect(refused[0]!.detail.length).toBeGreaterThan(0);
      const stored = await t.stored([...good, bad]);
      expect(allOnce(stored, good)).toBe(true);
      expect(stored.get(bad) ?? 0).toBe(0);
      await t.output.close(5000);
    });

    it('closes within its deadline: a write still pending is rejected with SinkClosedError, a later write at once', async () => {
      const { t, prefix } = await fresh();
      t.stall();
      const write = track(t.output.write(t.batch(ids(prefix, 10))));
      await new Promise((r) => setTimeout(r, 200));
      const started = performance.now();
      await t.output.close(600);
      const took = performance.now() - started;
      expect(took).toBeGreaterThanOrEqual(550);
      expect(took).toBeLessThan(600 + 1000);
      await expect(write.promise).rejects.toBeInstanceOf(SinkClosedError);
      await expect(t.output.write(t.batch(ids(`${prefix}-late`, 1)))).rejects.toBeInstanceOf(SinkClosedError);
    });

    it('finishes what is pending before its deadline when the downstream answers', async () => {
      const { t, prefix } = await fresh();
      const wanted = ids(prefix, 20);
      const write = t.output.write(t.batch(wanted));
      await t.output.close(10_000);
      expect(await write).toEqual([]);
      expect(allOnce(await t.stored(wanted), wanted)).toBe(true);
    });
  });
}
