/**
 * Consent and membership (docs/security.md): the statements a profile carries, the decisions they hold
 * back and the points a non-member does not earn, through the real engine.
 */
import { describe, expect, it } from 'vitest';
import type { ChannelConsentV1, StoredProfileV1 } from '../../contracts/events.js';
import { consentErrors } from '../../ingest/validation.js';
import { statementAuditEntries } from '../../api/audit.js';
import { consentAllows, heldReason, laterStatement, withStatements } from '../../scorer/core/offers/consent.js';
import { isMember } from '../../scorer/core/loyalty/membership.js';
import { type Row } from '../../sinks/mapping.js';
import { Driver, HOUR, DAY, iso, testCatalogue } from './helpers.js';

const T0 = Date.parse('2026-03-02T08:00:00Z');
const at = (ms: number): string => iso(ms);
const granted = (ms: number): ChannelConsentV1 => ({ status: 'granted', at: at(ms) });
const withdrawn = (ms: number): ChannelConsentV1 => ({ status: 'withdrawn', at: at(ms) });
const base: StoredProfileV1 = { customer_id: 'c1', opened_at: '2025-01-01T00:00:00Z' };

const SMS_ONLY = `  - code: SMSONLY
    campaign: onb
    channels: [sms]
    valid_days: 7
    expected_value: 100
    churn_exponent: 0
    goal: { id: g, kind: transaction, within_days: 7 }
  - code: SORRY
    campaign: ret
    purpose: recovery
    channels: [sms]
    when: { features: { open_complaints: { min: 1 } } }
    valid_days: 7
    expected_value: 10
    churn_exponent: 0
    goal: { id: g2, kind: transaction, within_days: 7 }`;

describe('statements: the later-given one wins, in any order, once', () => {
  it('keeps the later of two statements whichever arrives first; equal instants keep the restrictive one', () => {
    const early = granted(T0);
    const late = withdrawn(T0 + HOUR);
    expect(laterStatement(early, late)).toBe(late);
    expect(laterStatement(late, early)).toBe(late);
    expect(laterStatement(granted(T0), withdrawn(T0))?.status).toBe('withdrawn');
    expect(laterStatement(withdrawn(T0), granted(T0))?.status).toBe('withdrawn');
    expect(laterStatement(early, early)).toBe(early);
    expect(laterStatement(undefined, early)).toBe(early);
  });

  it('a profile without statements is kept as it came; a later one without them keeps the earlier statements', () => {
    expect(withStatements(undefined, base)).toBe(base);
    const first = withStatements(undefined, { ...base, membership: { status: 'joined', at: at(T0) }, consent: { sms: withdrawn(T0) } });
    const second = withStatements(first, { ...base, segment: 'mass' });
    expect(second.segment).toBe('mass');
    expect(second.membership).toEqual({ status: 'joined', at: at(T0) });
    expect(second.consent).toEqual({ sms: withdrawn(T0) });
  });

  it('merges per channel: an older statement arriving late changes nothing, a newer one replaces', () => {
    const kept = withStatements(undefined, { ...base, consent: { sms: granted(T0 + DAY), email: granted(T0) } });
    const late = withStatements(kept, { ...base, consent: { sms: withdrawn(T0), email: withdrawn(T0 + DAY) } });
    expect(late.consent).toEqual({ sms: granted(T0 + DAY), email: withdrawn(T0 + DAY) });
    expect(withStatements(late, { ...base, consent: { sms: withdrawn(T0) }, membership: { status: 'left', at: at(T0) } }).consent).toEqual(late.consent);
  });
});

describe('gates', () => {
  const cat = testCatalogue({ offers: SMS_ONLY });
  const [marketing, recovery] = cat.offers as [typeof cat.offers[0], typeof cat.offers[0]];

  it('marketing needs the channel granted; never stated is allowed unless consent.absent says withheld', () => {
    expect(consentAllows(undefined, 'sms', cat)).toBe(true);
    expect(consentAllows({ ...base, consent: { sms: withdrawn(T0) } }, 'sms', cat)).toBe(false);
    expect(consentAllows({ ...base, consent: { sms: withdrawn(T0) } }, 'app', cat)).toBe(true);
    const strict = testCatalogue({ offers: `${SMS_ONLY}\nconsent: { absent: withheld }` });
    expect(strict.consent.absent).toBe('withheld');
    expect(consentAllows(undefined, 'sms', strict)).toBe(false);
    expect(consentAllows({ ...base, consent: { sms: granted(T0) } }, 'sms', strict)).toBe(true);
  });

  it('service recovery is never held back; a members-only offer holds back a non-member', () => {
    const noSms = { ...base, consent: { sms: withdrawn(T0) } };
    expect(heldReason(marketing, noSms, 'sms', cat)).toBe('no_consent:sms');
    expect(heldReason(recovery, noSms, 'sms', cat)).toBeUndefined();
    const left = { ...base, membership: { status: 'left' as const, at: at(T0) } };
    expect(isMember(left)).toBe(false);
    expect(isMember(base)).toBe(true);
    expect(heldReason({ ...marketing, membersOnly: true }, left, 'sms', cat)).toBe('not_member');
    expect(heldReason(marketing, left, 'sms', cat)).toBeUndefined();
    expect(heldReason({ ...marketing, communication: 'service' }, noSms, 'sms', cat)).toBeUndefined();
  });

  it('ingest refuses a statement time that is no real date, naming the field', () => {
    expect(consentErrors({ membership: { status: 'joined', at: '2026-02-30T10:00:00Z' }, consent: { email: { status: 'granted', at: '2026-01-01T25:00:00Z' } } }))
      .toEqual([{ field: 'membership.at', message: 'is not a real date' }, { field: 'consent.email.at', message: 'is not a real date' }]);
    expect(consentErrors({ consent: { sms: { status: 'granted', at: at(T0) } } })).toEqual([]);
  });
});

describe('through the engine', () => {
  const held = (rows: Map<string, Row[]>): Row[] => rows.get('offers_held') ?? [];

  it('an sms-only offer to a customer without sms consent is held back, recorded once per cool-down, and published once consent is given', () => {
    const d = new Driver(testCatalogue({ offers: SMS_ONLY }));
    d.profile({ opened_at: '2025-01-01T00:00:00Z', consent: { sms: withdrawn(T0 - DAY) } });
    const first = d.tx({ tx_id: 't1', occurred_at: at(T0) });
    expect(d.publishes).toEqual([]);
    expect(d.offers).toEqual([]);
    expect(held(first.rows)).toMatchObject([{ customer_id: 'c1', offer_code: 'SMSONLY', campaign_id: 'onb', channel: 'sms', reason: 'no_consent:sms', triggered_by_tx_id: 't1', kind: 'offer' }]);
    expect(held(d.tx({ tx_id: 't2', occurred_at: at(T0 + HOUR) }).rows)).toEqual([]);
    expect(held(d.tx({ tx_id: 't3', occurred_at: at(T0 + 4 * DAY) }).rows)).toHaveLength(1);
    expect(d.customer().offers.contacts).toEqual([]);
    d.profile({ opened_at: '2025-01-01T00:00:00Z', consent: { sms: granted(T0 + 4 * DAY + HOUR) } });
    d.tx({ tx_id: 't4', occurred_at: at(T0 + 4 * DAY + 2 * HOUR) });
    expect(d.publishes.map((p) => p.subject)).toEqual(['offers.sms']);
  });

  it('a later channel with consent takes the offer instead of holding it back', () => {
    const d = new Driver(testCatalogue());
    d.profile({ opened_at: '2025-01-01T00:00:00Z', consent: { sms: withdrawn(T0 - DAY), app: granted(T0 - DAY) } });
    const emit = d.tx({ tx_id: 't1', occurred_at: at(T0) });
    expect(d.publishes.map((p) => p.subject)).toEqual(['offers.app']);
    expect(held(emit.rows)).toEqual([]);
  });

  it('a profile without statements decides exactly as before: published on the first channel', () => {
    const d = new Driver(testCatalogue({ offers: SMS_ONLY }));
    d.profile({ opened_at: '2025-01-01T00:00:00Z' });
    d.tx({ tx_id: 't1', occurred_at: at(T0) });
    expect(d.publishes.map((p) => p.subject)).toEqual(['offers.sms']);
  });

  it('a non-member earns no points; joining again earns from that profile on', () => {
    const d = new Driver(testCatalogue({ offers: SMS_ONLY }));
    d.profile({ opened_at: '2025-01-01T00:00:00Z', membership: { status: 'left', at: at(T0 - DAY) } });
    const before = d.tx({ tx_id: 't1', occurred_at: at(T0), amount_minor: 5_000_000 });
    expect(before.rows.get('points_ledger') ?? []).toEqual([]);
    expect(d.customer().loyalty.balance).toBe(0);
    d.profile({ opened_at: '2025-01-01T00:00:00Z', membership: { status: 'joined', at: at(T0 + HOUR) } });
    const after = d.tx({ tx_id: 't2', occurred_at: at(T0 + 2 * HOUR), amount_minor: 5_000_000 });
    expect((after.rows.get('points_ledger') ?? []).length).toBeGreaterThan(0);
    expect(d.customer().loyalty.balance).toBeGreaterThan(0);
  });
});

describe('audit rows of statements', () => {
  it('one row per accepted profile and kind of statement, with what was stated and when', () => {
    const request = { principal: 'k1', via: 'bearer', method: 'POST', route: '/v1/customers', remote_addr: '10.0.0.9' };
    const items = [
      { ...base, consent: { sms: withdrawn(T0), email: granted(T0) } },
      { ...base, customer_id: 'c2', membership: { status: 'joined', at: at(T0) } },
      { ...base, customer_id: 'c3' },
      { ...base, customer_id: 'c4', consent: { sms: granted(T0) } },
    ];
    const rows = statementAuditEntries(request, items, [
      { index: 0, status: 'accepted' }, { index: 1, status: 'accepted' }, { index: 2, status: 'accepted' }, { index: 3, status: 'duplicate' },
    ]);
    expect(rows).toEqual([
      { ...request, customer_id: 'c1', status: 202, action: 'consent.change', detail: `sms=withdrawn@${at(T0)} email=granted@${at(T0)}` },
      { ...request, customer_id: 'c2', status: 202, action: 'membership.change', detail: `membership=joined@${at(T0)}` },
    ]);
  });
});
