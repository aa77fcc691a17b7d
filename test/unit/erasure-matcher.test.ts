/** Which retained messages an erasure deletes (`CustomerMatcher`, scorer/runtime/retained-erasure.ts). */
import { headers } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { CustomerMatcher } from '../../scorer/runtime/retained-erasure.js';

const msg = (body: string, h: Record<string, string> = {}): { data: Uint8Array; headers: ReturnType<typeof headers> } => {
  const hs = headers();
  for (const [k, v] of Object.entries(h)) hs.set(k, v);
  return { data: Buffer.from(body), headers: hs };
};

describe('CustomerMatcher', () => {
  const m = new CustomerMatcher('C1');
  m.addTokens(['tok_a1']);

  it('matches a JSON string equal to the id, prefixed by `<id>:`, or a card token, anywhere in the body', () => {
    expect(m.matches(msg(JSON.stringify({ customer_id: 'C1' })))).toBe(true);
    expect(m.matches(msg(JSON.stringify({ row: { transition_id: 'C1:2026-01-01:active' } })))).toBe(true);
    expect(m.matches(msg(JSON.stringify({ customer_id: 'X', card_token: 'tok_a1' })))).toBe(true);
    expect(m.matches(msg(JSON.stringify({ list: [{ deep: ['C1'] }] })))).toBe(true);
  });

  it('does not match another customer whose id contains the id', () => {
    expect(m.matches(msg(JSON.stringify({ customer_id: 'C10', card_token: 'tok_a10' })))).toBe(false);
    expect(m.matches(msg('raw C10 tok_a10'))).toBe(false);
  });

  it('searches bodies that are not JSON and the headers by whole word', () => {
    expect(m.matches(msg('raw message of C1, undecodable'))).toBe(true);
    expect(m.matches(msg('', { 'Vafa-Detail': 'customer C1: bad amount' }))).toBe(true);
    expect(m.matches(msg('{}', { 'Vafa-Detail': 'customer C12: bad amount' }))).toBe(false);
  });
});
