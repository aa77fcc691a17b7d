/**
 * Holds the current churn model and swaps it without a restart. A call pins the model it started
 * on, so a batch in flight during a swap finishes on the old model and reports the old version; the
 * retired model is closed once its last pinned call returns.
 */
import type { ChurnModel } from './types.js';

/** Options of {@link ModelRegistry.swap}. */
export interface SwapOptions {
  /**
   * Accept a model whose feature list differs from the current one. Off by default: rows built for
   * the old feature order would be scored wrongly by a model expecting another.
   */
  allowFeatureChange?: boolean;
}

/** The current model, with hot swap. */
export class ModelRegistry {
  private model: ChurnModel;
  private readonly pins = new Map<ChurnModel, number>();
  private readonly waiters = new Map<ChurnModel, (() => void)[]>();

  /** @param closeRetired close a model once it is swapped out and drained. Default true. */
  constructor(initial: ChurnModel, private readonly closeRetired = true) {
    this.model = initial;
  }

  /** The model new calls use. */
  get current(): ChurnModel {
    return this.model;
  }

  /** Version of the current model. */
  get version(): string {
    return this.model.version;
  }

  /**
   * Runs `fn` on the current model, pinned: a swap while `fn` runs does not close it. Build rows
   * from the pinned model's `features`.
   */
  async use<T>(fn: (model: ChurnModel) => Promise<T>): Promise<T> {
    const model = this.model;
    this.pins.set(model, (this.pins.get(model) ?? 0) + 1);
    try {
      return await fn(model);
    } finally {
      const left = (this.pins.get(model) ?? 1) - 1;
      if (left > 0) {
        this.pins.set(model, left);
      } else {
        this.pins.delete(model);
        for (const wake of this.waiters.get(model) ?? []) wake();
        this.waiters.delete(model);
      }
    }
  }

  /** Scores a batch on the current model; the result says which version scored it. */
  scoreBatch(rows: Float32Array, n: number): Promise<{ probabilities: Float32Array; version: string }> {
    return this.use(async (m) => ({ probabilities: await m.scoreBatch(rows, n), version: m.version }));
  }

  /**
   * Makes `next` the current model at once; calls already running finish on the old one.
   * Resolves with the retired model after its calls have drained (and it is closed, unless the
   * registry was built with `closeRetired = false`).
   * @throws Error when the feature lists differ and `allowFeatureChange` is not set; the current
   *   model stays.
   */
  async swap(next: ChurnModel, opts: SwapOptions = {}): Promise<ChurnModel> {
    const old = this.model;
    if (next === old) return old;
    const same = next.features.length === old.features.length && next.features.every((f, i) => f === old.features[i]);
    if (!same && !opts.allowFeatureChange) {
      throw new Error(`model ${next.version} expects features [${next.features.join(', ')}], the current ${old.version} `
        + `[${old.features.join(', ')}]; pass allowFeatureChange once the feature pipeline builds the new rows`);
    }
    this.model = next;
    if (this.pins.has(old)) {
      await new Promise<void>((resolve) => {
        const list = this.waiters.get(old) ?? [];
        list.push(resolve);
        this.waiters.set(old, list);
      });
    }
    if (this.closeRetired) await old.close();
    return old;
  }

  /** Closes the current model after its calls drain. */
  async close(): Promise<void> {
    const m = this.model;
    if (this.pins.has(m)) {
      await new Promise<void>((resolve) => this.waiters.set(m, [...(this.waiters.get(m) ?? []), resolve]));
    }
    await m.close();
  }
}
