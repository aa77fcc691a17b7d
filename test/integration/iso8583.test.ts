/**
 * The ISO 8583 adapter end to end on real parts: framed 1987 messages (hex-ASCII bitmaps, LLVAR PAN,
 * a secondary bitmap, a reversal) over TCP → JetStream → scorer → ClickHouse, asserted field by field;
 * and no raw card number anywhere: ClickHouse, the TX and DLQ streams, the logs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { jetstreamManager } from '@nats-io/jetstream';
import { startStack } from '../../app/stack.js';
import { createLogger } from '../../platform/log.js';
import { postJson, queryRows, testSettings, waitFor } from '../support/stack.js';
import { encode, decode, frameMessage } from '../../ingest/iso8583/mod.js';
import { tokenizePan } from '../../ingest/tokenize.js';
import { connectClient } from '../iso8583/helpers.js';
import type { Stack } from '../../app/stack.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PAN = '6037997412345678';
const PAN_PROFILE = '5022291234567890';
let stack: Stack;
let dataDir: string;
let specDir: string;
const logs: string[] = [];

/** The bank's spec file: the 1987 layout with its own tables (what app/stack.ts must pass through). */
const BANK_SPEC = {
  extends: 'iso8583:1987',
  tables: {
    processingCodes: { '17': { direction: 'purchase', channel: 'installment' }, '20': { direction: 'refund' }, '31': { direction: 'inquiry' } },
    ecommerce: { posEntryModes: ['81'], posConditionCodes: ['59'], rules: [{ field: 48, offset: 0, length: 2, values: ['EC'] }] },
  },
};

beforeAll(async () => {
  specDir = mkdtempSync(join(tmpdir(), 'vafa-iso-spec-'));
  const specPath = join(specDir, 'bank.json');
  writeFileSync(specPath, JSON.stringify(BANK_SPEC, null, 2));
  const settings = await testSettings({ logLevel: 'debug', iso8583Spec: specPath });
  dataDir = settings.dataDir;
  const destination = new Writable({ write(chunk: Buffer, _e, cb) { logs.push(chunk.toString()); cb(); } });
  stack = await startStack({ settings, logger: createLogger({ level: 'debug', destination }), churn: null, iso8583: true });
});
afterAll(async () => {
  await stack?.stop();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(specDir, { recursive: true, force: true });
});

const frame = (mti: string, fields: Record<number, string>): Buffer => frameMessage(encode({ mti, fields }), { lengthHeader: 'binary2' });

describe('ISO 8583 → JetStream → ClickHouse', () => {
  it('stores a 0200 field by field, keys it by the profile that lists the card, and applies the 0420 reversal', async () => {
    expect((await postJson(`${stack.apiUrl}/v1/customers`, { customer_id: 'ISO-CUST-1', opened_at: '2024-05-01T08:00:00Z', cards: [PAN_PROFILE] })).status).toBe(202);
    const c = await connectClient(stack.iso8583Port!);
    // a secondary bitmap (field 90 lives there) on the reversal; a primary-only purchase at a fuel MCC
    const purchase = { 2: PAN_PROFILE, 3: '000000', 4: '000001250000', 7: '0420050805', 11: '000123', 12: '083005', 13: '0420', 18: '5541', 32: '627412', 37: '611005000123', 41: 'TERM0007', 42: 'MERCHANT-0042  ', 49: '364' };
    const plain = { ...purchase, 2: PAN, 11: '000124', 18: '5411', 4: '000000300000' };
    const reversal = { 2: PAN, 3: '000000', 4: '000000300000', 7: '0420060000', 11: '000200', 32: '627412', 41: 'TERM0007', 49: '364', 90: `0200000124042005080500000627412${'0'.repeat(11)}` };
    c.send(Buffer.concat([frame('0200', purchase), frame('0200', plain)]));
    const first = (await c.waitFor(2)).map((f) => decode(f));
    expect(first.map((m) => [m.mti, m.fields[39]])).toEqual([['0210', '00'], ['0210', '00']]);
    c.send(frame('0420', reversal));
    const third = decode((await c.waitFor(3))[2]!);
    expect([third.mti, third.fields[39]]).toEqual(['0430', '00']);
    const undecodable = Buffer.from(`0200${'F'.repeat(16)}16${PAN}garbage`);
    c.send(frameMessage(undecodable, { lengthHeader: 'binary2' }));
    await c.waitFor(4);

    const rows = await waitFor(async () => {
      const r = await queryRows(stack as never, `SELECT * FROM vafa.scored_transactions FINAL WHERE tx_id LIKE 'iso:%' ORDER BY tx_id`);
      return r.length === 3 ? r : undefined;
    }, 30_000, 'three ISO transactions scored');
    const byStan = new Map(rows.map((r) => [String(r.tx_id).split(':')[2], r]));
    expect(byStan.get('000123')).toMatchObject({
      tx_id: 'iso:627412:000123:20260420050805', customer_id: 'ISO-CUST-1', channel: 'fuel', amount_minor: 1_250_000, currency: 'IRR',
      occurred_at: '2026-04-20 05:08:05.000', mcc: '5541', terminal_id: 'TERM0007', status: 'approved',
      card_token: tokenizePan(PAN_PROFILE, stack.settings.tokenKey),
    });
    expect(String(byStan.get('000123')!.merchant_id).trim()).toBe('MERCHANT-0042');
    expect(byStan.get('000124')).toMatchObject({ channel: 'pos', amount_minor: 300_000, customer_id: tokenizePan(PAN, stack.settings.tokenKey) });
    const rev = byStan.get('000124:20260420050805:rev') ?? rows.find((r) => String(r.reverses_tx_id) !== '');
    expect(rev).toMatchObject({ reverses_tx_id: 'iso:627412:000124:20260420050805' });
    const [net] = await queryRows<{ pts: number }>(stack as never, `SELECT sum(points) pts FROM vafa.points_ledger FINAL WHERE customer_id = '${tokenizePan(PAN, stack.settings.tokenKey)}'`);
    expect(net!.pts).toBe(0);

    // no raw card number anywhere
    const jsm = await jetstreamManager(stack.nc);
    const streamText: string[] = [];
    for (const name of ['TX', 'DLQ']) {
      const info = await jsm.streams.info(name);
      for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
        const m = await jsm.streams.getMessage(name, { seq }).catch(() => undefined);
        if (m) streamText.push(m.subject, Buffer.from(m.data).toString('latin1'), JSON.stringify(m.header ? [...m.header.keys()].map((k) => m.header!.get(k)) : []));
      }
    }
    const dlq = await jsm.streams.info('DLQ');
    expect(dlq.state.messages).toBeGreaterThanOrEqual(1);
    const warehouseDump = JSON.stringify(await queryRows(stack as never, `SELECT * FROM vafa.scored_transactions FINAL`))
      + JSON.stringify(await queryRows(stack as never, `SELECT * FROM vafa.customer_state FINAL`))
      + JSON.stringify(await queryRows(stack as never, `SELECT * FROM vafa.points_ledger FINAL`));
    for (const pan of [PAN, PAN_PROFILE]) {
      expect(streamText.join('\n')).not.toContain(pan);
      expect(warehouseDump).not.toContain(pan);
      expect(logs.join('')).not.toContain(pan);
    }
    expect(logs.length).toBeGreaterThan(10);
    c.socket.destroy();
  }, 60_000);

  it('applies the bank\'s tables from its spec file: installment and e-commerce channels, a refund booked as a refund (its reversal booked as a reversal naming it), an inquiry and a completion booked once', async () => {
    const c = await connectClient(stack.iso8583Port!);
    const base = { 2: PAN, 3: '000000', 4: '000000050000', 7: '0421101010', 12: '101010', 13: '0421', 32: '627412', 41: 'TERM0009', 49: '364' };
    const online = { ...base, 11: '000501', 48: 'EC-3DS' };
    const installment = { ...base, 11: '000502', 3: '170000' };
    const refund = { ...base, 11: '000503', 3: '200000' };
    const inquiry = { ...base, 11: '000504', 3: '310000' };
    const auth = { ...base, 11: '000505', 4: '000000070000' };
    const completion = { ...base, 11: '000506', 7: '0421111111', 4: '000000065000', 90: `0100000505042110101000000627412${'0'.repeat(11)}` };
    const refundReversal = { ...base, 11: '000507', 3: '200000', 90: `0200000503042110101000000627412${'0'.repeat(11)}` };
    c.send(Buffer.concat([frame('0200', online), frame('0200', installment), frame('0200', refund), frame('0200', inquiry), frame('0100', auth), frame('0220', completion), frame('0420', refundReversal)]));
    const answers = (await c.waitFor(7, 15_000)).map((f) => decode(f)).map((m) => `${m.mti}:${String(m.fields[11])}:${String(m.fields[39])}`).sort();
    expect(answers).toEqual(['0110:000505:00', '0210:000501:00', '0210:000502:00', '0210:000503:00', '0210:000504:00', '0230:000506:00', '0430:000507:00']);
    const rows = await waitFor(async () => {
      const r = await queryRows(stack as never, `SELECT tx_id, channel, amount_minor, points FROM vafa.scored_transactions FINAL WHERE tx_id LIKE 'iso:627412:00050%' ORDER BY tx_id`);
      return r.length >= 5 ? r : undefined;
    }, 30_000, 'the bank-table transactions scored');
    expect(rows.map((r) => [String(r.tx_id).split(':')[2], r.channel, Number(r.amount_minor), Number(r.points)])).toEqual([
      ['000501', 'online', 50_000, 0], ['000502', 'installment', 50_000, 20], ['000503', 'pos', 50_000, 0], ['000503', 'pos', 50_000, 0], ['000505', 'pos', 70_000, 0],
    ]);
    const refundRows = await queryRows(stack as never, `SELECT tx_id, kind, reverses_tx_id FROM vafa.scored_transactions FINAL WHERE tx_id LIKE 'iso:627412:000503%' ORDER BY tx_id`);
    expect(refundRows.map((r) => [r.kind, r.reverses_tx_id === '' ? '' : 'refund'])).toEqual([['refund', ''], ['standard', 'refund']]);
    expect(refundRows[1]!.reverses_tx_id).toBe(refundRows[0]!.tx_id);
    const jsm = await jetstreamManager(stack.nc);
    const dlq = await jsm.streams.info('DLQ', { subjects_filter: 'dlq.iso8583.>' });
    expect(dlq.state.subjects?.['dlq.iso8583.refund_not_supported']).toBeUndefined();
    c.socket.destroy();
  }, 60_000);
});
