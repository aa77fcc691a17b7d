import type { Manifest } from '../../../models/mod.js';

/** A loaded churn model. */
export interface ChurnModel {
  /** The manifest's version; record it with every score. */
  readonly version: string;
  /** Ordered feature names: column j of each row is `features[j]`. */
  readonly features: readonly string[];
  /** Decision threshold on P(churn). */
  readonly threshold: number;
  readonly manifest: Manifest;
  /** Where the model came from (the manifest path). */
  readonly source: string;
  /** What the loader rewrote (ZipMap removed, batch dimension relaxed, …). */
  readonly notes: readonly string[];
  /** Calls to onnxruntime and rows scored so far. */
  readonly stats: { readonly runs: number; readonly rows: number };
  /**
   * Scores `n` rows with one onnxruntime call.
   * @param rows row-major raw feature values (`n × features.length`, extra values ignored); the
   *   manifest's scaling is applied here, the array itself is not modified. A NaN value is a
   *   missing feature: tree models route it as their trainer did, linear models return NaN for
   *   the row, so impute upstream for those.
   * @returns P(churn) per row.
   */
  scoreBatch(rows: Float32Array, n: number): Promise<Float32Array>;
  /** Releases the onnxruntime session once calls in flight have finished. */
  close(): Promise<void>;
}
