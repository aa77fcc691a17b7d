/**
 * Deterministic identities: the offer id (the same trigger replayed gives the same id, sent as
 * `Nats-Msg-Id`) and the stable hash assignment of customers to a campaign's holdout (control) group.
 */
import { createHash } from 'node:crypto';
import { fnv1a32 } from '../../../contracts/subjects.js';

/**
 * `of_` + the first 96 bits (24 hex digits) of SHA-256(customer ␀ offer code ␀ triggering event id).
 * The triggering event id is the transaction's `tx_id`, `profile:<stream seq>`, the feedback or
 * redemption id, or `timer:lifecycle:<due ms>` for a lifecycle timer.
 */
export function offerId(customerId: string, offerCode: string, sourceId: string): string {
  return `of_${createHash('sha256').update(`${customerId}\u0000${offerCode}\u0000${sourceId}`).digest('hex').slice(0, 24)}`;
}

/** Position of a customer in a campaign's holdout draw: fnv1a32("<campaign>:<customer>") / 2³², in [0, 1). */
export function holdoutDraw(campaignId: string, customerId: string): number {
  return fnv1a32(`${campaignId}:${customerId}`) / 0x1_0000_0000;
}

/** True when the customer is in the campaign's control group (same answer for every offer of the campaign, forever). */
export function inHoldout(campaignId: string, customerId: string, share: number): boolean {
  return share > 0 && holdoutDraw(campaignId, customerId) < share;
}
