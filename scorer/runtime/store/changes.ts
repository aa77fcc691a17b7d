/**
 * Which customers changed since the last commit. The core reaches a customer only through
 * `state.customers` (created, read for an event, for phase 2, for a timer that fires), and not every path
 * sets `lastSeq` (timers do not), so the worker wraps that record in a proxy that notes every customer
 * read, created or removed. A customer read but left unchanged is written again: harmless, and bounded
 * by the customers a batch reaches.
 */
import type { CustomerState, PartitionState } from '../../core/state.js';

export interface CustomerChanges {
  /** Customers created or reached since the last `take` (written with the commit). */
  readonly changed: ReadonlySet<string>;
  /** Customers removed since the last `take` and not created again (deleted with the commit). */
  readonly removed: ReadonlySet<string>;
  /** Customers that did not exist at the last `take` (for the store's customer count). */
  readonly added: number;
}

const rawByProxy = new WeakMap<object, Record<string, CustomerState>>();

/** The customers record itself, without the tracking proxy (reading it marks nothing). */
export function rawCustomers(state: PartitionState): Record<string, CustomerState> {
  return rawByProxy.get(state.customers) ?? state.customers;
}

export class ChangeTracker {
  private changed = new Set<string>();
  private removed = new Set<string>();
  private added = 0;

  /** Replaces `state.customers` with a tracking view of the same record. */
  constructor(state: PartitionState) {
    const raw = rawCustomers(state);
    const proxy = new Proxy(raw, {
      get: (target, key, receiver) => {
        if (typeof key === 'string' && Object.hasOwn(target, key)) this.changed.add(key);
        return Reflect.get(target, key, receiver) as unknown;
      },
      set: (target, key, value) => {
        if (typeof key === 'string') this.noteWrite(target, key);
        // Set on the record itself: with the proxy as receiver, the defineProperty trap would note it twice.
        return Reflect.set(target, key, value);
      },
      defineProperty: (target, key, descriptor) => {
        if (typeof key === 'string') this.noteWrite(target, key);
        return Reflect.defineProperty(target, key, descriptor);
      },
      deleteProperty: (target, key) => {
        if (typeof key === 'string' && Object.hasOwn(target, key)) {
          this.changed.delete(key);
          this.removed.add(key);
          this.added--;
        }
        return Reflect.deleteProperty(target, key);
      },
    });
    rawByProxy.set(proxy, raw);
    state.customers = proxy;
  }

  private noteWrite(target: Record<string, CustomerState>, key: string): void {
    if (!Object.hasOwn(target, key)) {
      this.added++;
      this.removed.delete(key);
    }
    this.changed.add(key);
  }

  /** Number of customers noted since the last `take`. */
  get pending(): number {
    return this.changed.size + this.removed.size;
  }

  /** The changes since the last call, and a fresh start. */
  take(): CustomerChanges {
    const taken = { changed: this.changed, removed: this.removed, added: this.added };
    this.changed = new Set();
    this.removed = new Set();
    this.added = 0;
    return taken;
  }
}
