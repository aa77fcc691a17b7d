/**
 * Referral across partitions. The referred customer R and the referrer X may live in different
 * partitions, and a pure core only writes its own partition's state. So R's partition decides the bonus
 * (R's first qualifying transaction within the window of R's `opened_at`, the points from the rules in
 * force at that stream position) and emits one deterministic message that credits X on X's partition:
 * a redemption-shaped event with NEGATIVE points on `tx.<partition of X>.redemption`:
 *
 *   { redemption_id: "ref:<rules version>:<R>", customer_id: X, points: -<bonus>, occurred_at: <R's tx time> }
 *   Nats-Msg-Id: "redemption:ref:<rules version>:<R>"
 *
 * X's partition applies it like any redemption in stream order: a negative amount is a credit (a `bonus`
 * ledger row with rule `referral`, a new lot, tier-qualifying). The public API can never produce it
 * (RedemptionV1 requires points ≥ 1); only the scorer publishes it. The redemption id de-duplicates it in
 * X's state and the message id in JetStream, so a replay of R's partition never credits twice.
 */
import { fnv1a32, partitionOf, txMsgId, txSubject } from '../../../contracts/subjects.js';
import type { Publish } from '../types.js';

export const REFERRAL_RULE = 'referral';
const PREFIX = 'ref:';
const MAX_ID = 64;

/** The deterministic redemption id of R's referral bonus (≤ 64 printable characters). */
export function referralCreditId(version: string, referredId: string): string {
  const id = `${PREFIX}${version}:${referredId}`;
  if (id.length <= MAX_ID) return id;
  const h = (s: string): string => fnv1a32(s).toString(16).padStart(8, '0');
  return `${PREFIX}${version}:~${h(referredId)}${h(`${referredId.length}:${[...referredId].reverse().join('')}`)}`;
}

/** `ref:<version>:<referred>` → its parts; undefined for other ids. */
export function parseReferralCreditId(id: string): { version: string; referred: string } | undefined {
  if (!id.startsWith(PREFIX)) return undefined;
  const rest = id.slice(PREFIX.length);
  const i = rest.indexOf(':');
  if (i <= 0) return undefined;
  return { version: rest.slice(0, i), referred: rest.slice(i + 1) };
}

/** The message R's partition emits to credit referrer X. */
export function referralPublish(opts: { referrerId: string; referredId: string; points: number; occurredAt: string; version: string; partitions: number }): Publish {
  const redemptionId = referralCreditId(opts.version, opts.referredId);
  return {
    subject: txSubject(partitionOf(opts.referrerId, opts.partitions), 'redemption'),
    msgId: txMsgId('redemption', redemptionId),
    payload: { redemption_id: redemptionId, customer_id: opts.referrerId, points: -opts.points, occurred_at: opts.occurredAt },
  };
}
