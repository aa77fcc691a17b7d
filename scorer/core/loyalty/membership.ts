/**
 * Loyalty club membership (docs/loyalty.md, "Membership"): joining is the customer's choice. A customer
 * who never stated it is a member (as before the profile carried `membership`); one whose standing
 * statement is `left` is not, from the stream position of that profile on, and earns nothing: no points,
 * no bonus, no referral. Points earned before stay (they expire, and may be redeemed, as any).
 */
import type { StoredProfileV1 } from '../../../contracts/events.js';

/** True unless the customer's standing membership statement is `left`. */
export function isMember(profile: StoredProfileV1 | undefined): boolean {
  return profile?.membership?.status !== 'left';
}
