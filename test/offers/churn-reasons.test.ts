/**
 * The offer condition `when.churn_reasons` (docs/offers.md, Eligibility): an offer for customers whose latest
 * churn score names one of the listed features among its reasons as raising the risk, through the real engine.
 */
import { describe, expect, it } from 'vitest';
import { OffersConfigError } from '../../config/schema/offers.js';
import { Driver, iso, testCatalogue } from './helpers.js';

const T0 = Date.parse('2026-03-02T08:00:00Z');

const BECAUSE_OF_COMPLAINTS = `  - code: CALLBACK
    campaign: ret
    channels: [app]
    when: { churn_reasons: [complaints_90d, declines_30d] }
    valid_days: 7
    expected_value: 100
    churn_exponent: 0
    goal: { id: g, kind: transaction, within_days: 7 }`;

/** A stored reasons text as the scorer writes it (contracts/churn-reasons.ts), largest contribution first. */
const reasonsText = (top: [string, number][]): string =>
  JSON.stringify({ method: 'path', bias: -3, other: 0, top: top.map(([feature, contribution]) => ({ feature, value: 1, contribution })) });

/** The offer codes decided for c1's one transaction, its score carrying `reasons`. */
function decided(reasons: string | undefined): string[] {
  const d = new Driver(testCatalogue({ offers: BECAUSE_OF_COMPLAINTS }), { churn: () => 0.6, reasons: () => reasons });
  d.profile({ opened_at: '2025-01-01T00:00:00Z' });
  d.tx({ tx_id: 't1', occurred_at: iso(T0) });
  return d.offers.map((o) => String(o.offer_code));
}

describe('when.churn_reasons', () => {
  it('holds when a listed feature raises the risk among the score\'s reasons, wherever it ranks', () => {
    expect(decided(reasonsText([['complaints_90d', 0.8], ['recency_days', 0.3]]))).toEqual(['CALLBACK']);
    expect(decided(reasonsText([['recency_days', 0.9], ['tx_count_30d', 0.4], ['declines_30d', 0.1]]))).toEqual(['CALLBACK']);
  });

  it('does not hold for a listed feature that lowers the risk, for other features, or for a score without reasons', () => {
    expect(decided(reasonsText([['complaints_90d', -0.5], ['recency_days', 0.9]]))).toEqual([]);
    expect(decided(reasonsText([['recency_days', 0.9]]))).toEqual([]);
    expect(decided(undefined)).toEqual([]);
    expect(decided('')).toEqual([]);
    expect(decided('not json')).toEqual([]);
  });

  it('refuses a name outside the feature catalogue, naming the offer and the entry', () => {
    const unknown = BECAUSE_OF_COMPLAINTS.replace('declines_30d', 'declines_per_fortnight');
    expect(() => testCatalogue({ offers: unknown })).toThrow(OffersConfigError);
    expect(() => testCatalogue({ offers: unknown })).toThrow(/churn_reasons.*1.*unknown feature "declines_per_fortnight"/s);
  });
});
