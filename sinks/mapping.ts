/**
 * What the outputs make of the core's domain events (scorer/core/events.ts): a ClickHouse row per event
 * (`tableRows`), the `customer_state` row of every customer's latest snapshot, and the messages the
 * scorer publishes (`messagesOf`: offer triggers on `OFFERS`, referral credits on `TX`). The core knows
 * none of these shapes; a new table or column is a change here and in the schema, not in the core.
 */
import { maskPans } from '../platform/mod.js';
import { featuresJson, ParseCache, referralPublish, offerSubject, Emit, iso, parseTime, type Publish, type CustomerSnapshot, type DomainEvent, type FeedbackRecorded, type OfferConverted, type OfferDecided, type OfferHeld, type PointsMoved, type StageChanged, type TierChanged, type TransactionScored } from '../scorer/core/mod.js';

export type TableName =
  | 'scored_transactions' | 'points_ledger' | 'customer_state' | 'offers' | 'offer_conversions'
  | 'lifecycle_transitions' | 'tier_changes' | 'feedback' | 'offers_held';

export type Row = Record<string, string | number | boolean | null>;

/** The table an event is a row of (a referral is only a message). */
const TABLE_OF: Record<DomainEvent['type'], TableName | undefined> = {
  transaction_scored: 'scored_transactions', points_moved: 'points_ledger', tier_changed: 'tier_changes',
  stage_changed: 'lifecycle_transitions', offer_decided: 'offers', offer_held: 'offers_held', offer_converted: 'offer_conversions',
  feedback_recorded: 'feedback', referral_qualified: undefined,
};

/** The table `e` is written to, or undefined when it is no row. */
export function tableOf(e: DomainEvent): TableName | undefined {
  return TABLE_OF[e.type];
}

/** `e`'s row in `tableOf(e)`; undefined for an event that is no row. */
export function rowOf(e: DomainEvent): Row | undefined {
  switch (e.type) {
    case 'transaction_scored': return scoredRow(e);
    case 'points_moved': return ledgerRow(e);
    case 'tier_changed': return tierRow(e);
    case 'stage_changed': return transitionRow(e);
    case 'offer_decided': return offerRow(e);
    case 'offer_held': return heldRow(e);
    case 'offer_converted': return conversionRow(e);
    case 'feedback_recorded': return feedbackRow(e);
    case 'referral_qualified': return undefined;
  }
}

/** Whether `e` publishes a message: a treated offer (a holdout decision is only recorded), or a referral. */
function publishes(e: DomainEvent): boolean {
  return (e.type === 'offer_decided' && !e.holdout) || e.type === 'referral_qualified';
}

/** The message `e` publishes, if any: a treated offer's trigger, or a referral's credit. */
export function messageOf(e: DomainEvent): Publish | undefined {
  if (!publishes(e)) return undefined;
  if (e.type === 'offer_decided') return offerTrigger(e);
  if (e.type === 'referral_qualified') {
    return referralPublish({ referrerId: e.referrerId, referredId: e.referredId, points: e.points, occurredAt: iso(e.at), version: e.rulesVersion, partitions: e.partitions });
  }
  return undefined;
}

/**
 * Every table's rows of a batch, `customer_state` last, tables in the order of their first row;
 * `visit` sees each row with the event (or the customer id, for `customer_state`) it came from.
 */
export function tableRows(emit: Emit, visit?: (row: Row, from: DomainEvent | string) => void): Map<TableName, Row[]> {
  const rows = eventRows(emit, visit);
  if (emit.customerCount > 0) {
    const list: Row[] = [];
    for (const [id, snapshot] of emit.customers) {
      const row = customerRow(snapshot);
      list.push(row);
      visit?.(row, id);
    }
    rows.set('customer_state', list);
  }
  return rows;
}

/** The rows of a batch's events, per table, tables in the order of their first row (no `customer_state`). */
function eventRows(emit: Emit, visit?: (row: Row, from: DomainEvent) => void): Map<TableName, Row[]> {
  const rows = new Map<TableName, Row[]>();
  for (const e of emit.events) {
    const table = TABLE_OF[e.type];
    const row = table === undefined ? undefined : rowOf(e);
    if (table === undefined || row === undefined) continue;
    let list = rows.get(table);
    if (!list) rows.set(table, (list = []));
    list.push(row);
    visit?.(row, e);
  }
  return rows;
}

/** The messages a batch publishes, in the order the core decided them. */
export function messagesOf(emit: Emit): Publish[] {
  const out: Publish[] = [];
  for (const e of emit.events) {
    const m = messageOf(e);
    if (m) out.push(m);
  }
  return out;
}

/** Rows and messages a batch makes, counted (every row, `customer_state` included, and every message). */
export function outputCount(emit: Emit): number {
  let n = emit.customerCount;
  for (const e of emit.events) {
    if (TABLE_OF[e.type] !== undefined) n++;
    if (publishes(e)) n++;
  }
  return n;
}

/** An `Emit` read as the outputs see it: rows per table and messages (tests, benchmarks, tools). */
export class OutputEmit extends Emit {
  /** Rows of the events, per table (no `customer_state`). */
  get rows(): Map<TableName, Row[]> {
    return eventRows(this);
  }

  /** The `customer_state` row of every customer, by id. */
  get customerRows(): Map<string, Row> {
    const out = new Map<string, Row>();
    for (const [id, s] of this.customers) out.set(id, customerRow(s));
    return out;
  }

  get publishes(): Publish[] {
    return messagesOf(this);
  }

  tableRows(): Map<TableName, Row[]> {
    return tableRows(this);
  }
}

function scoredRow(e: TransactionScored): Row {
  const tx = e.tx;
  return {
    tx_id: tx.tx_id, customer_id: tx.customer_id, channel: tx.channel, amount_minor: tx.amount_minor, currency: tx.currency,
    occurred_at: iso(e.at), status: tx.status ?? 'approved', reverses_tx_id: tx.reverses_tx_id ?? '',
    kind: tx.kind ?? 'standard', refund_of_tx_id: tx.refund_of_tx_id ?? '', mcc: tx.mcc ?? '',
    merchant_id: tx.merchant_id ?? '', terminal_id: tx.terminal_id ?? '', branch_id: tx.branch_id ?? '', biller_id: tx.biller_id ?? '',
    due_date: tx.due_date ?? null, card_token: tx.card_token ?? '', points: e.points, churn_probability: e.churnProbability,
    model_version: e.modelVersion, churn_reasons: e.churnReasons, lifecycle_stage: e.stage, tier: e.tier, segment: e.segment,
    rules_version: e.rulesVersion, duplicate_of_seq: 0, partition: e.partition, stream_seq: e.seq,
  };
}

function ledgerRow(e: PointsMoved): Row {
  return {
    entry_id: e.entryId, customer_id: e.customerId, kind: e.kind, points: e.points, rule_id: e.ruleId, rules_version: e.rulesVersion, source_id: e.sourceId,
    channel: e.channel, branch_id: e.branchId, tier: e.tier, occurred_at: iso(e.at),
    expires_at: e.expiresAt === null ? null : iso(e.expiresAt), balance_after: e.balanceAfter, stream_seq: e.seq,
  };
}

function tierRow(e: TierChanged): Row {
  return {
    change_id: e.changeId, customer_id: e.customerId, from_tier: e.from, to_tier: e.to, occurred_at: iso(e.at), reason: e.reason,
    branch_id: e.branchId, stream_seq: e.seq,
  };
}

function transitionRow(e: StageChanged): Row {
  return {
    transition_id: e.transitionId, customer_id: e.customerId, from_stage: e.from, to_stage: e.to,
    occurred_at: iso(e.at), reason: e.reason, churn_probability: e.churnProbability, segment: e.segment,
    branch_id: e.branchId, source_id: e.sourceId, stream_seq: e.seq,
  };
}

function offerRow(e: OfferDecided): Row {
  return {
    offer_id: e.offerId, customer_id: e.customerId, offer_code: e.code, campaign_id: e.campaign, channel: e.channel, reason: e.reason,
    churn_probability: e.churnProbability, lifecycle_stage: e.stage, tier: e.tier, segment: e.segment, branch_id: e.branchId,
    triggered_by_tx_id: e.triggeredBy, created_at: iso(e.at), expires_at: iso(e.expiresAt), holdout: e.holdout ? 1 : 0,
    expected_value: e.expectedValue, cost: e.cost, kind: e.survey ? 'survey' : 'offer', survey_scale: e.survey?.scale ?? '',
    stream_seq: e.seq,
  };
}

/** The trigger on `OFFERS` (contract: OfferTriggerV1). */
function offerTrigger(e: OfferDecided): Publish {
  const payload: Publish['payload'] = {
    offer_id: e.offerId, customer_id: e.customerId, offer_code: e.code, campaign_id: e.campaign, channel: e.channel, reason: e.reason,
    churn_probability: e.churnProbability, lifecycle_stage: e.stage, tier: e.tier, triggered_by_tx_id: e.triggeredBy,
    created_at: iso(e.at), expires_at: iso(e.expiresAt), kind: e.survey ? 'survey' : 'offer',
    ...(e.survey ? { survey: { scale: e.survey.scale, question: e.survey.question } } : {}),
    ...(e.forBranch ? { branch_id: e.branchId } : {}),
  };
  return { subject: offerSubject(e.channel), msgId: e.offerId, payload };
}

function heldRow(e: OfferHeld): Row {
  return {
    offer_id: e.offerId, customer_id: e.customerId, offer_code: e.code, campaign_id: e.campaign, channel: e.channel, reason: e.reason,
    kind: e.survey ? 'survey' : 'offer', lifecycle_stage: e.stage, tier: e.tier, segment: e.segment,
    branch_id: e.branchId, triggered_by_tx_id: e.triggeredBy, held_at: iso(e.at), stream_seq: e.seq,
  };
}

function conversionRow(e: OfferConverted): Row {
  return {
    conversion_id: e.conversionId, offer_id: e.offerId, customer_id: e.customerId, campaign_id: e.campaign, offer_code: e.code, channel: e.channel,
    branch_id: e.branchId, holdout: e.holdout ? 1 : 0, goal: e.goal, tx_id: e.sourceId, offered_at: iso(e.offeredAt), converted_at: iso(e.at),
    value_minor: e.valueMinor, stream_seq: e.seq, ...e.answer,
  };
}

function feedbackRow(e: FeedbackRecorded): Row {
  const fb = e.feedback;
  return {
    feedback_id: fb.feedback_id, customer_id: fb.customer_id, occurred_at: iso(e.at), kind: fb.kind, score: fb.score ?? null,
    scale: fb.scale ?? '', resolves_feedback_id: fb.resolves_feedback_id ?? '', campaign_id: e.campaignId, offer_id: fb.offer_id ?? '',
    branch_id: fb.branch_id ?? '', channel: fb.channel ?? '', text: maskPans(fb.text ?? ''), lifecycle_stage: e.stage, stream_seq: e.seq,
  };
}

/** `iso(parseTime(s))` of profiles' opening times, remembered (a customer's comes back in every row of theirs). */
const openedTexts = new ParseCache<string>((s) => iso(parseTime(s)));

/** The `customer_state` row of a snapshot. */
export function customerRow(s: CustomerSnapshot): Row {
  const profile = s.profile;
  return {
    customer_id: s.customerId, version: s.seq, updated_at: iso(s.at), segment: profile?.segment ?? '', branch_id: profile?.branch_id ?? '',
    opened_at: profile?.opened_at ? openedTexts.get(profile.opened_at) : null, points_balance: s.balance, tier: s.tier,
    churn_probability: s.churnProbability, model_version: s.modelVersion, churn_reasons: s.churnReasons, lifecycle_stage: s.stage,
    expected_value: s.expectedValue, value_at_risk: s.expectedValue * s.churnProbability, tx_count_30d: s.txCount30d,
    spend_30d_minor: s.spend30dMinor, last_tx_at: s.lastTxAt ? iso(s.lastTxAt) : null, features: featuresJson(s.features), recent_offers: '[]',
  };
}
