/**
 * Consent and membership (docs/security.md, "Consent and membership"): how a customer's statements are
 * kept, and which offer decisions they hold back. Pure functions of the profile and the catalogue.
 *
 * - A profile carries statements (`membership`, `consent.<channel>`), each with the time the customer gave
 *   it. A profile that leaves one out leaves it unchanged; of two statements, the one given later wins,
 *   whatever order they arrive in; given at the same instant, the restrictive one (`left`, `withdrawn`)
 *   wins. So applying the same profiles in any order, or twice, keeps the same statements.
 * - Never stated: a member with every channel allowed, as before these fields existed (`consent.absent`
 *   in offers.yaml can make an unstated channel withheld instead).
 * - A marketing offer or survey is held back (decided, recorded in `offers_held`, never published, no
 *   contact, budget or count used) when none of its channels the contact policy allows has consent
 *   (`no_consent:<channel>`), or when it is `members_only` and the customer is not a member
 *   (`not_member`). Service communications (by default `purpose: recovery`) are never held back.
 */
import type { ChannelConsentV1, ConsentV1, MembershipV1, StoredProfileV1 } from '../../../contracts/events.js';
import type { OfferChannel } from '../../../contracts/subjects.js';
import { isMember } from '../loyalty/membership.js';
import type { OfferDef, OffersCatalogue } from '../../../config/schema/mod.js';

/** What a communication is for the consent rules: `service` is never held back for want of consent. */
export type Communication = 'marketing' | 'service';

/** Why a decision was held back: `not_member`, or `no_consent:<channel>`. */
export type HeldReason = 'not_member' | `no_consent:${OfferChannel}`;

type Statement = MembershipV1 | ChannelConsentV1;
const RESTRICTIVE = new Set(['left', 'withdrawn']);

/** The statement that stands of two: the later given; at the same instant the restrictive one; else the one kept. */
export function laterStatement<T extends Statement>(kept: T | undefined, given: T | undefined): T | undefined {
  if (!kept) return given;
  if (!given) return kept;
  const keptAt = Date.parse(kept.at);
  const givenAt = Date.parse(given.at);
  if (givenAt !== keptAt) return givenAt > keptAt ? given : kept;
  return kept.status !== given.status && RESTRICTIVE.has(given.status) ? given : kept;
}

/**
 * The profile to keep when `next` arrives after `previous`: `next`, with the statements that stand of
 * both. The very object `next` when neither states anything (a profile without these fields is kept as
 * it came, as before they existed).
 */
export function withStatements(previous: StoredProfileV1 | undefined, next: StoredProfileV1): StoredProfileV1 {
  if (!previous?.membership && !previous?.consent && !next.membership && !next.consent) return next;
  const merged: StoredProfileV1 = { ...next };
  const membership = laterStatement(previous?.membership, next.membership);
  if (membership) merged.membership = membership;
  const consent = mergedConsent(previous?.consent, next.consent);
  if (consent) merged.consent = consent;
  return merged;
}

function mergedConsent(kept: ConsentV1 | undefined, given: ConsentV1 | undefined): ConsentV1 | undefined {
  if (!kept) return given;
  if (!given) return kept;
  const out: ConsentV1 = {};
  for (const channel of ['sms', 'app', 'email', 'push', 'branch'] as const) {
    const statement = laterStatement(kept[channel], given[channel]);
    if (statement) out[channel] = statement;
  }
  return out;
}

/** Marketing or service: the offer's own `communication`, else `service` for the catalogue's service purposes. */
export function communicationOf(o: OfferDef, cat: OffersCatalogue): Communication {
  return o.communication ?? (cat.consent.servicePurposes.includes(o.purpose) ? 'service' : 'marketing');
}

/** True when marketing may use `channel`: its statement is `granted`; never stated: the catalogue's `consent.absent`. */
export function consentAllows(profile: StoredProfileV1 | undefined, channel: OfferChannel, cat: OffersCatalogue): boolean {
  const statement = profile?.consent?.[channel];
  return statement ? statement.status === 'granted' : cat.consent.absent === 'granted';
}

/**
 * Why `o` may not go to the customer on `channel`, or undefined when it may: a service communication
 * always may; a members-only offer needs a member; marketing needs the channel's consent.
 */
export function heldReason(o: OfferDef, profile: StoredProfileV1 | undefined, channel: OfferChannel, cat: OffersCatalogue): HeldReason | undefined {
  if (communicationOf(o, cat) === 'service') return undefined;
  if (o.membersOnly && !isMember(profile)) return 'not_member';
  return consentAllows(profile, channel, cat) ? undefined : `no_consent:${channel}`;
}
