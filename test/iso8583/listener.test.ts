/**
 * The listener under the dialects and tables of issue 17: a response to every readable MTI, the close
 * for an unreadable one (logged, counted), refunds as refund events, the echo list, a BASE24 feed whose
 * length header leaves out its ISO header, and the Prometheus counters.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import type { TransactionV1 } from '../../contracts/events.js';
import { decode, encode, type FieldValue } from '../../ingest/iso8583/codec.js';
import { frameMessage, framingOf } from '../../ingest/iso8583/framing.js';
import { startIso8583Listener, type Iso8583Listener, type Iso8583ListenerOptions } from '../../ingest/iso8583/server.js';
import { dialectConfig, parseSpecConfig, type Iso8583Config } from '../../ingest/iso8583/specfile.js';
import { loadSpecFile } from '../../ingest/iso8583/specfile.js';
import { captureLogger, connectClient, fakeIngest, fixture, type Client } from './helpers.js';

const PAN = '4111111111111111';
const started: Iso8583Listener[] = [];
const clients: Client[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.socket.destroy();
  await Promise.all(started.splice(0).map((l) => l.close()));
});

async function start(cfg: Iso8583Config, extra: Partial<Iso8583ListenerOptions> = {}) {
  const ingest = fakeIngest();
  const { logger, text } = captureLogger();
  const dlq: { reason: string; detail: Record<string, unknown>; raw: Buffer }[] = [];
  const registry = new Registry();
  const listener = await startIso8583Listener({
    port: 0, host: '127.0.0.1', ingest, tokenKey: 'listener-key', logger, registry,
    spec: cfg.spec, options: cfg.options, tables: cfg.tables,
    dlq: async (reason, detail, raw) => void dlq.push({ reason, detail, raw }),
    now: () => new Date('2026-04-20T05:09:00Z'),
    ...extra,
  });
  started.push(listener);
  const framing = framingOf(cfg.options);
  const connect = async (): Promise<Client> => {
    const c = await connectClient(listener.port, framing);
    clients.push(c);
    return c;
  };
  const frame = (m: { mti: string; fields: Record<number, FieldValue>; header?: Buffer }): Buffer => frameMessage(encode(m, cfg.spec, cfg.options), framing);
  const read = (b: Buffer) => decode(b, cfg.spec, cfg.options);
  return { listener, ingest, dlq, logs: text, registry, connect, frame, read };
}

const waitUntil = async (cond: () => boolean, ms = 5000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
};

const fields = (extra: Record<number, FieldValue> = {}): Record<number, FieldValue> => ({
  2: PAN, 3: '000000', 4: '000000012500', 7: '0420050805', 11: '000123', 32: '627412', 41: 'TERM0001', 49: '364', ...extra,
});

describe('answers', () => {
  it('closes a connection whose frame has no readable MTI, after dead-lettering it; logs and counts it', async () => {
    const h = await start(dialectConfig());
    const c = await h.connect();
    c.send(h.frame({ mti: '0800', fields: { 11: '000001', 70: '301' } }));
    await c.waitFor(1);
    c.send(frameMessage(Buffer.from('02X0'), { lengthHeader: 'binary2' }));
    await c.closed;
    expect(h.listener.stats().totals).toMatchObject({ unreadable: 1, dlq: 1, frames: 2 });
    expect(h.dlq[0]).toMatchObject({ reason: 'decode_error', detail: { field: 'mti' } });
    expect(h.logs()).toContain('frame without a readable MTI');
    expect(await h.registry.getSingleMetricAsString('vafa_iso8583_connections_closed_total')).toContain('reason="unreadable_mti"} 1');
    // another connection is served
    const d = await h.connect();
    d.send(h.frame({ mti: '0800', fields: { 11: '000002', 70: '301' } }));
    expect(h.read((await d.waitFor(1))[0]!).fields[39]).toBe('00');
  });

  it('books refunds as refund events naming the purchase field 90 names, a reversal of a refund as a reversal naming it; books no inquiry', async () => {
    const h = await start(dialectConfig());
    const c = await h.connect();
    // field 90: original MTI, STAN, transmission date-time, acquirer (11), forwarder (11)
    const original = `0200000300${'0420050805'}${'627412'.padStart(11, '0')}${'0'.repeat(11)}`;
    c.send(Buffer.concat([
      h.frame({ mti: '0200', fields: fields({ 11: '000300' }) }),
      h.frame({ mti: '0200', fields: fields({ 3: '200000', 4: '000000005000', 7: '0420050905', 11: '000301', 90: original }) }),
      h.frame({ mti: '0220', fields: fields({ 3: '220000', 11: '000302' }) }),
      h.frame({ mti: '0200', fields: fields({ 3: '310000', 11: '000303' }) }),
      h.frame({ mti: '0420', fields: fields({ 3: '200000', 11: '000304', 90: `0200000301${'0420050905'}${'627412'.padStart(11, '0')}${'0'.repeat(11)}` }) }),
    ]));
    const got = (await c.waitFor(5)).map(h.read).map((m) => [m.mti, m.fields[11], m.fields[39]]);
    expect(got.sort()).toEqual([['0210', '000300', '00'], ['0210', '000301', '00'], ['0210', '000303', '00'], ['0230', '000302', '00'], ['0430', '000304', '00']]);
    const booked = (h.ingest.items as TransactionV1[]).slice().sort((a, b) => (a.tx_id < b.tx_id ? -1 : 1));
    expect(booked.map((t) => [t.tx_id, t.kind, t.refund_of_tx_id, t.amount_minor])).toEqual([
      ['iso:627412:000300:20260420050805', undefined, undefined, 12500],
      ['iso:627412:000301:20260420050905', 'refund', 'iso:627412:000300:20260420050805', 5000],
      ['iso:627412:000301:20260420050905:rev', undefined, undefined, 12500],
      ['iso:627412:000302:20260420050805', 'refund', undefined, 12500],
    ]);
    expect(booked.find((t) => t.tx_id.endsWith(':rev'))?.reverses_tx_id).toBe('iso:627412:000301:20260420050905');
    expect(JSON.stringify(booked)).not.toContain(PAN);
    expect(h.dlq).toEqual([]);
    expect(h.listener.stats().totals).toMatchObject({ inquiries: 1, persisted: 4 });
  });

  it('echoes the bank\'s echo list, never card data', async () => {
    const cfg = parseSpecConfig({ extends: 'iso8583:1987', tables: { responseEchoFields: [2, 11, 37, 41, 48] } });
    const h = await start(cfg);
    const c = await h.connect();
    c.send(h.frame({ mti: '0200', fields: fields({ 37: '611005000123', 48: 'KEEP' }) }));
    const r = h.read((await c.waitFor(1))[0]!);
    expect(r.fields).toEqual({ 11: '000123', 37: '611005000123', 41: 'TERM0001', 48: 'KEEP', 39: '00' });
  });
});

describe('a BASE24 feed', () => {
  it('reads a length header that leaves out the ISO header, answers with the header echoed and the ETX, and keys reversals by field 37', async () => {
    const cfg = parseSpecConfig({ extends: 'base24', options: { lengthCountsMessageHeader: false }, tables: { defaultCurrency: '364' } });
    const h = await start(cfg);
    const c = await h.connect();
    const header = Buffer.from('ISO026000050');
    const purchase = { mti: '0200', header, fields: fields({ 37: '000000004711', 12: '083005', 13: '0420', 41: 'ATM-0001-TEHRAN1' }) };
    const f90 = `0200000000004711042008300500${'0420'}${'0'.repeat(10)}`;
    const reversal = { mti: '0420', header, fields: fields({ 37: '000000004799', 12: '090000', 13: '0420', 11: '000124', 90: f90 }) };
    const framed = h.frame(purchase);
    expect(framed.readUInt16BE(0)).toBe(framed.length - 2 - 12);
    c.send(Buffer.concat([framed, h.frame(reversal)]));
    const answers = (await c.waitFor(2)).map((b) => ({ raw: b, m: h.read(b) }));
    for (const a of answers) {
      expect(a.m.header!.toString()).toBe('ISO026000050');
      expect(a.raw[a.raw.length - 1]).toBe(0x03);
      expect(a.m.fields[39]).toBe('00');
    }
    await waitUntil(() => h.ingest.items.length === 2);
    const [tx, rev] = h.ingest.items as TransactionV1[];
    expect(tx).toMatchObject({ tx_id: 'iso:0:r000000004711:20260420083005', terminal_id: 'ATM-0001-TEHRAN1', currency: 'IRR' });
    expect(rev!.reverses_tx_id).toBe(tx!.tx_id);
  });
});

describe('the moov-io sample feed, on its real wire format', () => {
  it('answers every request with the MTI moov-io\'s own responses carry, and books the reversal its field 90 names', async () => {
    const cfg = await loadSpecFile(new URL('../fixtures/iso8583/moov-io/vafa-spec.json', import.meta.url).pathname);
    const h = await start(cfg, { now: () => new Date('2025-09-08T06:47:00Z') });
    const c = await h.connect();
    const requests = ['financial_transaction_message.dat', 'iso_reversal_message.dat', 'iso_reversal_repeat_message.dat', 'iso_reversal_message_advice.dat', 'network_management_message.dat'];
    for (const file of requests) c.send(frameMessage(fixture(`moov-io/${file}`), { lengthHeader: 'binary2' }));
    const answers = (await c.waitFor(5)).map(h.read);
    const got = new Map(answers.map((m) => [`${m.mti}:${String(m.fields[11])}`, m]));
    const expected = (file: string) => h.read(fixture(`moov-io/${file}`));
    // 0200 type 38: an inquiry, answered 00 like moov's 0210; the 0800 like moov's 0810
    for (const [req, resp] of [['financial_transaction_message.dat', 'financial_transaction_message_response.dat'], ['iso_reversal_message.dat', 'iso_reversal_message_response.dat'], ['network_management_message.dat', 'network_management_message_response.dat']] as const) {
      const r = expected(req);
      const mine = got.get(`${expected(resp).mti}:${String(r.fields[11])}`);
      expect(mine?.fields[39], req).toBe('00');
    }
    // the 0401 sample's field 90 is shifted by four digits (original MTI "3132"): a format error, answered 30
    const repeat = expected('iso_reversal_repeat_message.dat');
    expect(got.get(`0410:${String(repeat.fields[11])}`)?.fields[39]).toBe('30');
    // the 0420 advice carries no currency: a format error, answered 0430 30
    const advice = expected('iso_reversal_message_advice.dat');
    expect(answers.filter((m) => m.mti === '0430').map((m) => m.fields[39])).toEqual(['30']);
    expect(advice.fields[49]).toBeUndefined();
    await waitUntil(() => h.ingest.items.length === 1);
    expect(h.ingest.items[0]).toMatchObject({ tx_id: 'iso:200:003316:20250908064519:rev', reverses_tx_id: 'iso:200:003316:20250908064519', currency: 'IDR', amount_minor: 30000, mcc: '9601' });
    expect(h.listener.stats().totals).toMatchObject({ inquiries: 1, persisted: 1, network: 1, dlq: 2 });
  });
});
