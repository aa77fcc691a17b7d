import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { makeTx, postJson, queryRows, startTestStack, waitFor, type TestStack } from '../support/stack.js';
import { startLocalNats } from '../../platform/nats-server.js';
import { partitionOf } from '../../contracts/subjects.js';

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.destroy();
});

describe('poison messages', () => {
  it('sends an undecodable or invalid event to DLQ with the reason and keeps the partition moving', async () => {
    const js = jetstream(stack.nc);
    const p = partitionOf('POISON', stack.settings.partitions);
    await js.publish(`tx.${p}.transaction`, new TextEncoder().encode('x4111111111111111 {not json'), { msgID: 'poison-1' });
    await js.publish(`tx.${p}.transaction`, new TextEncoder().encode(JSON.stringify({ ...makeTx(1, 'POISON'), amount_minor: 'lots' })), { msgID: 'poison-2' });
    const after = makeTx(2, 'POISON');
    expect((await postJson(`${stack.apiUrl}/v1/transactions`, after)).status).toBe(202);
    await waitFor(async () => (await queryRows(stack, `SELECT tx_id FROM vafa.scored_transactions FINAL WHERE tx_id = '${String(after.tx_id)}'`)).length === 1, 20_000, 'the event after the poison');
    const jsm = await jetstreamManager(stack.nc);
    const dlq = await jsm.streams.info('DLQ');
    expect(dlq.state.messages).toBe(2);
    const first = await jsm.streams.getMessage('DLQ', { seq: dlq.state.first_seq });
    expect(first!.subject).toBe('dlq.scorer.bad_json');
    expect(first!.header.get('Vafa-Source-Subject')).toBe(`tx.${p}.transaction`);
    // The parser's message quotes the input; neither it nor the copy of the message keeps the card number.
    expect(first!.header.get('Vafa-Detail')).toMatch(/not valid JSON/);
    expect(first!.header.get('Vafa-Detail')).not.toContain('4111111111111111');
    expect(new TextDecoder().decode(first!.data)).toBe('x**************** {not json');
    const second = await jsm.streams.getMessage('DLQ', { seq: dlq.state.first_seq + 1 });
    expect(second!.subject).toBe('dlq.scorer.invalid_event');
    expect(second!.header.get('Vafa-Detail')).toMatch(/amount_minor/);
  });
});

describe('NATS unavailable', () => {
  it('answers 503 with Retry-After, stores nothing reported as failed, and recovers when NATS is back', async () => {
    const nats = stack.localNats!;
    await nats.stop();
    await waitFor(async () => {
      const r = await fetch(`${stack.apiUrl}/readyz`);
      return r.status === 503;
    }, 10_000, 'readiness to report NATS down');
    const tx = makeTx(50, 'OUTAGE');
    const r = await postJson(`${stack.apiUrl}/v1/transactions`, [tx]);
    expect(r.status).toBe(503);
    expect(r.headers.get('retry-after')).toBe('2');
    expect(r.body).toMatchObject({ error: 'VAFA_JETSTREAM_UNAVAILABLE', accepted: 0, failed: 1 });
    const restarted = await startLocalNats({ port: nats.port, storeDir: path.join(stack.dataDir, 'nats') });
    stack.localNats = restarted;
    const again = await waitFor(async () => {
      const res = await postJson(`${stack.apiUrl}/v1/transactions`, [tx]);
      return res.status === 202 ? res : undefined;
    }, 30_000, 'ingest to recover');
    expect(again.body).toMatchObject({ accepted: 1 });
    await waitFor(async () => (await queryRows(stack, `SELECT tx_id FROM vafa.scored_transactions FINAL WHERE customer_id = 'OUTAGE'`)).length === 1, 30_000, 'the scorer to resume');
  });
});
