/** Test drivers for the offers engine: events in stream order through `Engine.apply` / `complete`, as the runtime does. */
import type { FeedbackV1, StoredProfileV1, TransactionV1, TxMessage } from '../../contracts/events.js';
import { Engine, type Pending } from '../../scorer/core/engine.js';
import type { EngineConfig } from '../../config/schema/engine.js';
import { parseOffers, type OffersCatalogue } from '../../config/schema/offers.js';
import { offersConfig } from '../../config/schema/engine.js';
import { newPartitionState, type CustomerState, type PartitionState } from '../../scorer/core/state.js';
import { type Publish, type Score } from '../../scorer/core/types.js';
import { OutputEmit, type Row } from '../../sinks/mapping.js';
import { defaultEngineConfig } from '../../config/policy.js';

export const HOUR = 3_600_000;
export const DAY = 86_400_000;

export function catalogue(yaml: string): OffersCatalogue {
  return parseOffers(yaml, 'test-offers.yaml');
}

export interface DriverOptions {
  partition?: number;
  partitions?: number;
  config?: Partial<EngineConfig>;
  /** Churn probability the "model" returns for a customer's feature vector; default none (no score). */
  churn?: (customerId: string, features: Record<string, number>) => number | undefined;
  /** The score's reasons text (`churn_reasons`, contracts/churn-reasons.ts) for a customer; default none. */
  reasons?: (customerId: string) => string | undefined;
}

/** One partition of the scorer. `send` runs one event through both phases; `batch` runs phase 1 of all, then phase 2 of all. */
export class Driver {
  readonly engine: Engine;
  state: PartitionState;
  seq = 0;
  readonly offers: Row[] = [];
  readonly conversions: Row[] = [];
  readonly publishes: Publish[] = [];
  readonly transitions: Row[] = [];

  constructor(cat: OffersCatalogue, readonly opts: DriverOptions = {}) {
    this.engine = new Engine({ ...defaultEngineConfig(), ...opts.config, offers: offersConfig(cat, opts.partitions ?? 1) });
    this.state = newPartitionState(opts.partition ?? 0);
  }

  private score(p: Pending): Score | undefined {
    const v = this.opts.churn?.(p.customerId, p.features);
    if (v === undefined) return undefined;
    const reasons = this.opts.reasons?.(p.customerId);
    return reasons === undefined ? { probability: v, modelVersion: 'test' } : { probability: v, modelVersion: 'test', reasons };
  }

  private collect(emit: OutputEmit): OutputEmit {
    this.offers.push(...(emit.rows.get('offers') ?? []));
    this.conversions.push(...(emit.rows.get('offer_conversions') ?? []));
    this.transitions.push(...(emit.rows.get('lifecycle_transitions') ?? []));
    this.publishes.push(...emit.publishes.filter((p) => p.subject.startsWith('offers.')));
    return emit;
  }

  send(msg: TxMessage): OutputEmit {
    return this.batch([msg]);
  }

  batch(msgs: TxMessage[]): OutputEmit {
    const emit = new OutputEmit();
    const pendings: Pending[] = [];
    for (const msg of msgs) {
      const p = this.engine.apply(this.state, { seq: ++this.seq, partition: this.state.partition, msg }, emit);
      if (p) pendings.push(p);
    }
    for (const p of pendings) this.engine.complete(this.state, p, this.score(p), emit);
    return this.collect(emit);
  }

  tx(body: Partial<TransactionV1> & { tx_id: string; occurred_at: string }): OutputEmit {
    return this.send({ kind: 'transaction', body: txBody(body) });
  }

  profile(body: Partial<StoredProfileV1> & { opened_at: string }): OutputEmit {
    return this.send({ kind: 'profile', body: { customer_id: 'c1', ...body } });
  }

  feedback(body: Partial<FeedbackV1> & { feedback_id: string; occurred_at: string }): OutputEmit {
    return this.send({ kind: 'feedback', body: { customer_id: 'c1', kind: 'survey', ...body } });
  }

  customer(id = 'c1'): CustomerState {
    const c = this.state.customers[id];
    if (!c) throw new Error(`no customer ${id}`);
    return c;
  }
}

export function txBody(body: Partial<TransactionV1> & { tx_id: string; occurred_at: string }): TransactionV1 {
  return { customer_id: 'c1', channel: 'pos', amount_minor: 1000, currency: 'IRR', ...body };
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** A small catalogue for unit tests: no holdout unless asked, simple policy, bank time UTC+03:30. */
export function testCatalogue(extra: { offers?: string; policy?: string; holdout?: number; campaigns?: string } = {}): OffersCatalogue {
  return catalogue(`
version: "t1"
bank_time_offset: "+03:30"
tier_order: [bronze, silver, gold]
contact_policy:
${extra.policy ?? `  per_channel:
    sms: { max: 2, period_days: 7 }
    app: { max: 3, period_days: 7 }
    branch: { max: 1, period_days: 1 }
  cooldown_days: 3
  quiet_hours: { from: "21:00", to: "08:00", channels: [sms] }`}
holdout_share: ${extra.holdout ?? 0}
campaigns:
  - { id: onb }
  - { id: ret }
  - { id: occ }
${extra.campaigns ?? ''}
offers:
${extra.offers ?? `  - code: BILL
    campaign: onb
    channels: [sms, app]
    when: { not_held: [bill_pay] }
    valid_days: 7
    expected_value: 100
    churn_exponent: 0
    goal: { id: first_bill, kind: transaction, channels: [bill_pay], within_days: 10 }`}
`);
}
