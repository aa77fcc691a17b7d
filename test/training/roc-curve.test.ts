/**
 * The ROC curve of the training report: ties taken together, and a missing score (NaN, an empty cell of a
 * baseline column) ranked lowest instead of never closing its group (it used to loop until out of memory).
 */
import { describe, expect, it } from 'vitest';
import { rocCurve } from '../../training/mod.js';

describe('rocCurve', () => {
  it('goes from (0,0) to (1,1) through one point per distinct score', () => {
    const curve = rocCurve([1, 0, 1, 0], [0.9, 0.8, 0.8, 0.1]);
    expect(curve).toEqual([{ fpr: 0, tpr: 0 }, { fpr: 0, tpr: 0.5 }, { fpr: 0.5, tpr: 1 }, { fpr: 1, tpr: 1 }]);
  });

  it('ranks a missing score lowest and ends', () => {
    const curve = rocCurve([0, 1, 0, 1], [Number.NaN, 0.5, 0.2, 0.9]);
    expect(curve).toEqual([{ fpr: 0, tpr: 0 }, { fpr: 0, tpr: 0.5 }, { fpr: 0, tpr: 1 }, { fpr: 0.5, tpr: 1 }, { fpr: 1, tpr: 1 }]);
  });

  it('takes all missing scores as one group', () => {
    const curve = rocCurve([0, 1, 1, 0], [Number.NaN, Number.NaN, 0.7, Number.NaN]);
    expect(curve).toEqual([{ fpr: 0, tpr: 0 }, { fpr: 0, tpr: 0.5 }, { fpr: 1, tpr: 1 }]);
  });
});
