import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTx, postJson, startTestStack, type TestStack } from '../support/stack.js';

const KEY_A = 'a-very-secret-key-0001';
const KEY_B = 'b-very-secret-key-0002';
let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack({ scorer: false, overrides: { apiKeys: [KEY_A, KEY_B], tokenKey: 'test-token-key-0123456789', rateLimitPerMin: 5 } });
});
afterAll(async () => {
  await stack?.destroy();
});

describe('API keys and rate limits', () => {
  it('refuses writes without a valid bearer key and accepts them with one', async () => {
    const none = await postJson(`${stack.apiUrl}/v1/transactions`, makeTx(1));
    expect(none.status).toBe(401);
    expect(none.body.error).toBe('VAFA_UNAUTHORIZED');
    expect(none.headers.get('www-authenticate')).toMatch(/Bearer/);
    const wrong = await postJson(`${stack.apiUrl}/v1/transactions`, makeTx(1), { authorization: 'Bearer nope-nope-nope-nope' });
    expect(wrong.status).toBe(401);
    const ok = await postJson(`${stack.apiUrl}/v1/transactions`, makeTx(1), { authorization: `Bearer ${KEY_A}` });
    expect(ok.status).toBe(202);
    expect((await fetch(`${stack.apiUrl}/healthz`)).status).toBe(200);
  });

  it('limits each key separately and says when to retry', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await postJson(`${stack.apiUrl}/v1/transactions`, makeTx(100 + i), { authorization: `Bearer ${KEY_B}` })).status);
    expect(statuses.slice(0, 5).every((s) => s === 202)).toBe(true);
    expect(statuses[5]).toBe(429);
    const limited = await postJson(`${stack.apiUrl}/v1/transactions`, makeTx(200), { authorization: `Bearer ${KEY_B}` });
    expect(limited.body.error).toBe('VAFA_RATE_LIMITED');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    // KEY_A used one request in the first test: it still has room
    expect((await postJson(`${stack.apiUrl}/v1/transactions`, makeTx(300), { authorization: `Bearer ${KEY_A}` })).status).toBe(202);
  });
});
