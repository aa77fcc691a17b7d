/**
 * Groups concurrent single-row scoring calls into micro-batches, so that onnxruntime's per-call
 * cost (~30 µs) is shared: a batch goes out when it holds `maxBatch` rows or when its first row has
 * waited `maxWaitMs`, whichever comes first.
 */
import type { ModelRegistry } from './registry.js';
import type { ChurnModel } from './types.js';
import { f32 } from '../../core/mod.js';

/** One score and the model version that produced it. */
export interface Score {
  /** P(churn). */
  p: number;
  version: string;
}

/** Options of {@link createBatcher}. */
export interface BatcherOptions {
  /** A fixed model, or a registry (each batch runs on the model current when it goes out). */
  model: ChurnModel | ModelRegistry;
  /** Most rows per onnxruntime call. Default 512. */
  maxBatch?: number;
  /** Longest a row waits for others before its batch goes out. Default 2 ms. */
  maxWaitMs?: number;
}

/** A micro-batcher. */
export interface Batcher {
  /**
   * Queues one row of raw feature values (in the order of the model's `features`) and resolves with
   * its score once its batch has run.
   */
  score(row: ArrayLike<number>): Promise<Score>;
  /** Sends the queued rows now. */
  flush(): Promise<void>;
  /** Sends what is queued and refuses further rows. */
  close(): Promise<void>;
  /** Rows queued, not yet sent. */
  readonly pending: number;
}

interface Waiter {
  resolve: (s: Score) => void;
  reject: (e: Error) => void;
}

function isRegistry(m: ChurnModel | ModelRegistry): m is ModelRegistry {
  return 'use' in m;
}

/** Creates a micro-batcher over a model or a model registry. */
export function createBatcher(opts: BatcherOptions): Batcher {
  const maxBatch = opts.maxBatch ?? 512;
  const maxWaitMs = opts.maxWaitMs ?? 2;
  if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new RangeError(`maxBatch must be an integer ≥ 1, got ${maxBatch}`);
  if (!(maxWaitMs >= 0)) throw new RangeError(`maxWaitMs must be ≥ 0, got ${maxWaitMs}`);
  const source = opts.model;
  const currentModel = (): ChurnModel => (isRegistry(source) ? source.current : source);
  const run = <T>(fn: (m: ChurnModel) => Promise<T>): Promise<T> => (isRegistry(source) ? source.use(fn) : fn(source));

  let width = currentModel().features.length;
  let rows = new Float32Array(maxBatch * width);
  let waiters: Waiter[] = [];
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const inFlight = new Set<Promise<void>>();

  const send = (): Promise<void> => {
    if (timer) {
      clearTimeout(timer);
      timer = undefined;
    }
    const n = waiters.length;
    if (n === 0) return Promise.resolve();
    const batch = rows;
    const batchWidth = width;
    const batchWaiters = waiters;
    width = currentModel().features.length;
    rows = new Float32Array(maxBatch * width);
    waiters = [];
    const done = run(async (model) => {
      if (model.features.length !== batchWidth) {
        throw new Error(`model ${model.version} takes ${model.features.length} features; these rows were queued with ${batchWidth}`);
      }
      const p = await model.scoreBatch(batch, n);
      if (p.length < n) throw new Error(`model ${model.version} returned ${p.length} scores for a batch of ${n} rows`);
      batchWaiters.forEach((waiter, i) => waiter.resolve({ p: f32(p, i), version: model.version }));
    }).catch((err: unknown) => {
      const e = err instanceof Error ? err : new Error(String(err));
      for (const w of batchWaiters) w.reject(e);
    });
    inFlight.add(done);
    void done.finally(() => inFlight.delete(done));
    return done;
  };

  return {
    score(row: ArrayLike<number>): Promise<Score> {
      if (closed) return Promise.reject(new Error('batcher is closed'));
      if (row.length !== width) {
        return Promise.reject(new RangeError(`row has ${row.length} values, model ${currentModel().version} takes ${width} features`));
      }
      return new Promise<Score>((resolve, reject) => {
        rows.set(row, waiters.length * width);
        waiters.push({ resolve, reject });
        if (waiters.length >= maxBatch) void send();
        else if (!timer) timer = setTimeout(() => void send(), maxWaitMs);
      });
    },
    async flush(): Promise<void> {
      await send();
    },
    async close(): Promise<void> {
      closed = true;
      await send();
      await Promise.all(inFlight);
    },
    get pending(): number {
      return waiters.length;
    },
  };
}
