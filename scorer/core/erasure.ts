/**
 * Right to erasure in the core (docs/security.md "The scorer forgets the customer"): what an
 * `erase_customer` control message does to a partition's state.
 */
import type { EraseCustomerControlV1 } from '../../contracts/events.js';
import type { Static } from '@sinclair/typebox';
import { dropTimersOf, type PartitionState } from './state.js';

/**
 * Forgets a customer (right to erasure): the state, with it the remembered transaction ids, and the
 * timers. Stats and campaign budgets are not the customer's data and stay. Nothing is emitted.
 */
export function eraseCustomer(state: PartitionState, body: Static<typeof EraseCustomerControlV1>): void {
  const customerId = body.customer_id;
  if (Object.hasOwn(state.customers, customerId)) delete state.customers[customerId];
  dropTimersOf(state, customerId);
}
