/** Test drivers for the loyalty engine: events in stream order through `Engine.apply` / `complete`, as the runtime does. */
import type { RedemptionV1, StoredProfileV1, TransactionV1, TxMessage } from '../../contracts/events.js';
import { Engine } from '../../scorer/core/engine.js';
import type { EngineConfig } from '../../config/schema/engine.js';
import { loyaltyConfig } from '../../config/schema/engine.js';
import { parseRules, type LoyaltyRules } from '../../config/schema/loyalty-rules.js';
import type { RulesTimeline } from '../../config/schema/rules-timeline.js';
import { newPartitionState, type CustomerState, type PartitionState } from '../../scorer/core/state.js';
import { type Publish } from '../../scorer/core/types.js';
import { OutputEmit, type Row } from '../../sinks/mapping.js';
import { defaultEngineConfig } from '../../config/policy.js';

export const HOUR = 3_600_000;
export const DAY = 86_400_000;

export function rules(yaml: string): LoyaltyRules {
  return parseRules(yaml, 'test-rules.yaml');
}

export interface DriverOptions {
  partition?: number;
  partitions?: number;
  config?: Partial<EngineConfig>;
}

/** One partition of the scorer, fed one event at a time. */
export class Driver {
  readonly engine: Engine;
  state: PartitionState;
  seq = 0;
  readonly ledger: Row[] = [];
  readonly tierChanges: Row[] = [];
  readonly publishes: Publish[] = [];
  readonly scored: Row[] = [];

  constructor(r: LoyaltyRules | RulesTimeline, readonly opts: DriverOptions = {}) {
    const partitions = opts.partitions ?? 1;
    this.engine = new Engine({ ...defaultEngineConfig(), ...opts.config, loyalty: loyaltyConfig(r, partitions) });
    this.state = newPartitionState(opts.partition ?? 0);
  }

  send(msg: TxMessage, seq = this.seq + 1): OutputEmit {
    this.seq = seq;
    const emit = new OutputEmit();
    const p = this.engine.apply(this.state, { seq, partition: this.state.partition, msg }, emit);
    if (p) this.engine.complete(this.state, p, undefined, emit);
    this.ledger.push(...(emit.rows.get('points_ledger') ?? []));
    this.tierChanges.push(...(emit.rows.get('tier_changes') ?? []));
    this.scored.push(...(emit.rows.get('scored_transactions') ?? []));
    this.publishes.push(...emit.publishes.filter((m) => m.subject.startsWith('tx.'))); // loyalty's own messages (not offer triggers)
    return emit;
  }

  tx(body: Partial<TransactionV1> & { tx_id: string; occurred_at: string }): OutputEmit {
    return this.send({ kind: 'transaction', body: { customer_id: 'c1', channel: 'pos', amount_minor: 0, currency: 'IRR', ...body } });
  }

  redeem(body: { redemption_id: string; points: number; occurred_at: string; customer_id?: string }): OutputEmit {
    const r: RedemptionV1 & { occurred_at: string } = { customer_id: 'c1', ...body };
    return this.send({ kind: 'redemption', body: r });
  }

  profile(body: Partial<StoredProfileV1> & { opened_at: string }): OutputEmit {
    return this.send({ kind: 'profile', body: { customer_id: 'c1', ...body } });
  }

  customer(id = 'c1'): CustomerState {
    const c = this.state.customers[id];
    if (!c) throw new Error(`no customer ${id}`);
    return c;
  }

  balance(id = 'c1'): number {
    return this.customer(id).loyalty.balance;
  }

  rows(id = 'c1'): Row[] {
    return this.ledger.filter((r) => r.customer_id === id);
  }
}

/** balance = Σ unspent lots − debt, and a debt only while no lot is left. */
export function checkInvariants(c: CustomerState): void {
  const L = c.loyalty;
  const lots = L.lots.reduce((s, l) => s + l.rem, 0);
  if (L.balance !== lots - L.debt) throw new Error(`${c.id}: balance ${L.balance} ≠ lots ${lots} − debt ${L.debt}`);
  if (L.debt > 0 && lots > 0) throw new Error(`${c.id}: debt ${L.debt} while ${lots} points are unspent`);
  if (L.lots.some((l) => l.rem <= 0)) throw new Error(`${c.id}: empty lot kept`);
}
