/**
 * Decoding stream `TX` messages for the core: subject → kind, JSON → a contract-valid event. A message
 * that fails here is poison: it goes to `DLQ` with the reason and never blocks its partition.
 */
import { EraseCustomerControlV1, EraseMentionsControlV1, LoyaltyRulesControlV1, CustomerProfileV1, FeedbackV1, RedemptionV1, TransactionV1, isRealDate, type CoreMessage } from '../../contracts/events.js';
import { parseTxSubject } from '../../contracts/subjects.js';
import { Validator } from '../../ingest/mod.js';
import { Type } from '@sinclair/typebox';

const StoredProfile = Type.Composite([Type.Omit(CustomerProfileV1, ['cards']), Type.Object({ card_tokens: Type.Optional(Type.Array(Type.String())) })], { additionalProperties: false });
/**
 * Redemptions as they travel on `TX`: the public ones (points ≥ 1, from the API), and the scorer's own
 * referral credits (negative points, ids `ref:…`) that a referred customer's partition sends to the
 * referrer's partition (scorer/core/loyalty/referral.ts). Ingest never accepts the latter.
 */
const StoredRedemption = Type.Composite([
  Type.Omit(RedemptionV1, ['occurred_at', 'points']),
  Type.Object({ occurred_at: Type.String({ minLength: 20 }), points: Type.Union([Type.Integer({ minimum: -1_000_000_000, maximum: -1 }), Type.Integer({ minimum: 1, maximum: 1_000_000_000 })]) }),
], { additionalProperties: false });

/**
 * The validator of each kind. A freshly parsed body is ours: the schema's defaults are filled in place
 * (`validateOwned`, no copy); a body that fails is checked again in full, whose errors are the message.
 */
const validators: Record<CoreMessage['kind'], Validator<unknown>> = {
  transaction: new Validator(TransactionV1),
  profile: new Validator(StoredProfile),
  feedback: new Validator(FeedbackV1),
  redemption: new Validator(StoredRedemption),
  control: new Validator(LoyaltyRulesControlV1),
};
/** Control messages are checked against the schema their `type` names, so an error names a field, not "the union". */
const controlValidators: Record<string, Validator<unknown>> = { loyalty_rules: validators.control, erase_customer: new Validator(EraseCustomerControlV1), erase_mentions: new Validator(EraseMentionsControlV1) };

export type Decoded = { ok: true; msg: CoreMessage; partition: number } | { ok: false; reason: string; detail: string };

export function decodeTx(subject: string, data: Uint8Array): Decoded {
  const parsed = parseTxSubject(subject);
  if (!parsed) return { ok: false, reason: 'bad_subject', detail: `subject ${subject} is not tx.<partition>.<kind>` };
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'));
  } catch (err) {
    return { ok: false, reason: 'bad_json', detail: (err as Error).message };
  }
  const checker = parsed.kind === 'control' ? controlValidators[String((body as { type?: unknown } | null)?.type)] ?? validators.control : validators[parsed.kind];
  const checked = checker.validateOwned(body);
  if (!checked.ok) {
    return { ok: false, reason: 'invalid_event', detail: checked.errors.map((e) => `${e.field}: ${e.message}`).join('; ') };
  }
  const v = checked.value as Record<string, unknown>;
  for (const f of ['occurred_at', 'opened_at']) {
    if (typeof v[f] === 'string' && !isRealDate(v[f])) return { ok: false, reason: 'invalid_event', detail: `${f}: is not a real date` };
  }
  if (parsed.kind === 'redemption' && (v.points as number) < 0 && !String(v.redemption_id).startsWith('ref:')) {
    return { ok: false, reason: 'invalid_event', detail: 'points: negative points are only allowed for referral credits (ref:…)' };
  }
  return { ok: true, msg: { kind: parsed.kind, body: checked.value } as CoreMessage, partition: parsed.partition };
}
