import { afterEach, describe, expect, it } from 'vitest';
import type { TransactionV1 } from '../../contracts/events.js';
import { tokenizePan } from '../../ingest/tokenize.js';
import { decode, encode, type FieldValue } from '../../ingest/iso8583/codec.js';
import { frameMessage } from '../../ingest/iso8583/framing.js';
import { startIso8583Listener, type Iso8583Listener, type Iso8583ListenerOptions } from '../../ingest/iso8583/server.js';
import type { Iso8583Options } from '../../ingest/iso8583/spec.js';
import { captureLogger, connectClient, fakeIngest, type Client } from './helpers.js';

const KEY = 'server-test-key';
const PAN = '4111111111111111';
const TRACK_PAN = '5500000000000004';
const started: Iso8583Listener[] = [];
const clients: Client[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.socket.destroy();
  await Promise.all(started.splice(0).map((l) => l.close()));
});

interface Harness {
  listener: Iso8583Listener;
  ingest: ReturnType<typeof fakeIngest>;
  dlq: { reason: string; detail: Record<string, unknown>; raw: Buffer }[];
  logs: () => string;
  connect: () => Promise<Client>;
  options: Partial<Iso8583Options>;
}

async function start(extra: Partial<Iso8583ListenerOptions> = {}): Promise<Harness> {
  const ingest = fakeIngest();
  const { logger, text } = captureLogger();
  const dlq: Harness['dlq'] = [];
  const options = extra.options ?? {};
  const listener = await startIso8583Listener({
    port: 0,
    host: '127.0.0.1',
    ingest,
    tokenKey: KEY,
    logger,
    dlq: async (reason, detail, raw) => void dlq.push({ reason, detail, raw }),
    now: () => new Date('2026-04-20T05:09:00Z'),
    ...extra,
  });
  started.push(listener);
  return {
    listener, ingest, dlq, logs: text, options,
    connect: async () => {
      const c = await connectClient(listener.port, { lengthHeader: options.lengthHeader === 'ascii4' ? 'ascii4' : 'binary2' });
      clients.push(c);
      return c;
    },
  };
}

let stanSeq = 1;
function request(fields: Record<number, FieldValue> = {}, mti = '0200'): { fields: Record<number, FieldValue>; mti: string; stan: string } {
  const stan = String(stanSeq++ % 1_000_000).padStart(6, '0');
  return { mti, stan, fields: { 2: PAN, 3: '000000', 4: '000000012500', 7: '0420050805', 11: stan, 32: '627412', 41: 'TERM0001', 42: 'MERCHANT-42', 49: '364', ...fields } };
}
const frame = (msg: { mti: string; fields: Record<number, FieldValue>; header?: Buffer }, options: Partial<Iso8583Options> = {}): Buffer =>
  frameMessage(encode(msg, undefined, options), { lengthHeader: options.lengthHeader === 'ascii4' ? 'ascii4' : 'binary2' });
const responses = (frames: Buffer[], options: Partial<Iso8583Options> = {}): Map<string, { mti: string; code: string; fields: Record<number, FieldValue>; header?: Buffer }> =>
  new Map(frames.map((f) => {
    const m = decode(f, undefined, options);
    return [String(m.fields[11]), { mti: m.mti, code: String(m.fields[39]), fields: m.fields, ...(m.header ? { header: m.header } : {}) }];
  }));
const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));

function expectNoCardData(h: Harness): void {
  const everything = [h.logs(), JSON.stringify(h.ingest.items), ...h.dlq.map((d) => JSON.stringify(d.detail) + d.raw.toString('latin1'))].join('\n');
  for (const pan of [PAN, TRACK_PAN]) expect(everything).not.toContain(pan);
}

describe('ISO 8583 listener', () => {
  it('persists a 0200 and answers 0210/00 with the echoed fields, never the PAN', async () => {
    const h = await start();
    const c = await h.connect();
    const req = request({ 12: '120805', 13: '0420', 37: '000000115604' });
    c.send(frame(req));
    const [resp] = await c.waitFor(1);
    const m = decode(resp!);
    expect(m.mti).toBe('0210');
    expect(m.fields).toEqual({ 3: '000000', 4: '000000012500', 7: '0420050805', 11: req.stan, 12: '120805', 13: '0420', 32: '627412', 37: '000000115604', 39: '00', 41: 'TERM0001', 42: 'MERCHANT-42    ', 49: '364' });
    const tx = h.ingest.items[0] as TransactionV1;
    expect(tx).toMatchObject({ tx_id: `iso:627412:${req.stan}:20260420050805`, channel: 'pos', amount_minor: 12500, currency: 'IRR', card_token: tokenizePan(PAN, KEY), customer_id: tokenizePan(PAN, KEY) });
    expect(h.listener.stats().totals).toMatchObject({ frames: 1, persisted: 1, responses: { '00': 1 } });
    expectNoCardData(h);
  });

  it('answers network management, reversals, duplicates, unsupported and unsolicited messages', async () => {
    const h = await start();
    const c = await h.connect();
    const echo = { mti: '0800', fields: { 7: '0420090613', 11: '900001', 70: '301' } };
    const orig = request();
    const rev = request({ 90: `0200${orig.stan}0420050805${'627412'.padStart(11, '0')}${'0'.repeat(11)}` }, '0420');
    const balance = request({ 3: '310000' });
    const unsolicited = request({ 39: '00' }, '0210');
    c.send(Buffer.concat([frame(echo), frame(orig), frame(orig), frame(rev), frame(balance), frame(unsolicited)]));
    const got = responses(await c.waitFor(5));
    expect(got.get('900001')).toMatchObject({ mti: '0810', code: '00', fields: { 70: '301' } });
    expect(got.get(rev.stan)).toMatchObject({ mti: '0430', code: '00' });
    expect(got.get(balance.stan)).toMatchObject({ mti: '0210', code: '00' }); // an inquiry: answered, nothing booked
    expect(got.get(orig.stan)).toMatchObject({ mti: '0210', code: '00' });
    const items = h.ingest.items as TransactionV1[];
    const reversal = items.find((t) => t.reverses_tx_id)!;
    expect(reversal.reverses_tx_id).toBe(items[0]!.tx_id);
    await tick(20);
    expect(c.frames).toHaveLength(5);
    expect(h.listener.stats().totals).toMatchObject({ frames: 6, persisted: 2, duplicates: 1, network: 1, unsolicited: 1, inquiries: 1, dlq: 0, responses: { '00': 5 } });
    expect(h.dlq).toHaveLength(0);
    expectNoCardData(h);
  });

  it('answers an undecodable request 30, dead-letters it with the reason and without the PAN', async () => {
    const h = await start();
    const c = await h.connect();
    const good = encode(request({ 35: `${TRACK_PAN}=25121010000000000` }));
    const bad = Buffer.from(good.toString('latin1').replace(/364$/, '3X4'), 'latin1');
    c.send(frameMessage(bad, { lengthHeader: 'binary2' }));
    const [resp] = await c.waitFor(1);
    const m = decode(resp!);
    expect(m.mti).toBe('0210');
    expect(m.fields[39]).toBe('30');
    expect(m.fields[11]).toBe(decode(good).fields[11]);
    expect(h.dlq).toHaveLength(1);
    expect(h.dlq[0]!.reason).toBe('decode_error');
    expect(h.dlq[0]!.detail).toMatchObject({ source: 'iso8583', field: 49, reason: 'expected digits only', mti: '0200' });
    expect(h.dlq[0]!.raw.length).toBe(bad.length);
    expect(h.ingest.items).toHaveLength(0);
    const unmappable = request({ 49: '000' });
    c.send(frame(unmappable));
    await c.waitFor(2);
    expect(h.dlq[1]).toMatchObject({ reason: 'format_error', detail: { field: 49, stan: unmappable.stan } });
    expectNoCardData(h);
  });

  it('answers 96 and stores nothing while JetStream is unavailable, then 00 again', async () => {
    const h = await start();
    const c = await h.connect();
    h.ingest.down = true;
    const r1 = request();
    c.send(frame(r1));
    await c.waitFor(1);
    expect(responses(c.frames).get(r1.stan)?.code).toBe('96');
    expect(h.ingest.items).toHaveLength(0);
    expect(h.dlq).toHaveLength(0);
    h.ingest.down = false;
    c.send(frame(r1));
    await c.waitFor(2);
    expect(decode(c.frames[1]!).fields[39]).toBe('00');
    expect(h.ingest.items).toHaveLength(1);
  });

  it('answers 96 when the DLQ cannot take a message it refuses, or the card directory fails', async () => {
    const failing = await start({ dlq: async () => { throw new Error('DLQ stream unavailable'); } });
    const c = await failing.connect();
    const r = request({ 2: '41111' });
    c.send(frame(r));
    await c.waitFor(1);
    expect(responses(c.frames).get(r.stan)?.code).toBe('96');
    expect(failing.logs()).toContain('DLQ publish failed');

    const token = tokenizePan(PAN, KEY);
    const h = await start({ cards: { register: async () => undefined, lookup: async (t) => { if (t !== token) throw new Error('KV down'); return 'cust-7'; } } });
    const d = await h.connect();
    const listed = request();
    const other = request({ 2: '5500000000000004' });
    d.send(Buffer.concat([frame(listed), frame(other)]));
    const got = responses(await d.waitFor(2));
    expect(got.get(listed.stan)?.code).toBe('00');
    expect(got.get(other.stan)?.code).toBe('96');
    expect(h.ingest.items).toEqual([expect.objectContaining({ customer_id: 'cust-7', card_token: token })]);
    expectNoCardData(h);
  });

  it('reads 4-byte ASCII length headers, a frame sent byte by byte, and echoes a TPDU with its addresses swapped', async () => {
    const options: Partial<Iso8583Options> = { lengthHeader: 'ascii4', messageHeader: { length: 5, response: 'swap-tpdu' } };
    const h = await start({ options });
    const c = await h.connect();
    c.socket.setNoDelay(true);
    const req = { ...request(), header: Buffer.from('6000120034', 'hex') };
    const bytes = frame(req, options);
    expect(bytes.subarray(0, 4).toString('latin1')).toBe(String(bytes.length - 4).padStart(4, '0'));
    for (const b of bytes) {
      c.send(Buffer.from([b]));
      await tick();
    }
    const [resp] = await c.waitFor(1);
    const m = decode(resp!, undefined, options);
    expect(m.header?.toString('hex')).toBe('6000340012');
    expect(m).toMatchObject({ mti: '0210', fields: { 11: req.stan, 39: '00' } });
  });

  it('closes only the connection whose length header is malformed', async () => {
    for (const options of [{ lengthHeader: 'ascii4' }, { lengthHeader: 'binary2' }] as Partial<Iso8583Options>[]) {
      const h = await start({ options, maxFrameBytes: 2048 });
      const bad = await h.connect();
      const good = await h.connect();
      const r1 = request();
      const garbage = options.lengthHeader === 'ascii4' ? Buffer.from('12a4this is not a frame') : Buffer.from([0xff, 0xff, 1, 2, 3]);
      bad.send(Buffer.concat([frame(r1, options), garbage]));
      await bad.closed;
      expect(responses(bad.frames, options).get(r1.stan)?.code).toBe('00');
      const r2 = request();
      good.send(frame(r2, options));
      const [resp] = await good.waitFor(1);
      expect(decode(resp!).fields[11]).toBe(r2.stan);
      expect(h.listener.stats()).toMatchObject({ framingErrors: 1, connectionsOpen: 1 });
      const third = await h.connect();
      third.send(frame(request(), options));
      await third.waitFor(1);
      expect(h.logs()).toContain('bad length header');
    }
  });

  it('closes an idle connection holding half a frame and keeps listening', async () => {
    const h = await start({ idleTimeoutMs: 150 });
    const c = await h.connect();
    c.send(frame(request()).subarray(0, 30));
    await c.closed;
    const d = await h.connect();
    d.send(frame(request()));
    await d.waitFor(1);
    expect(h.listener.stats().connectionsTotal).toBe(2);
  });

  it('serves 50 concurrent connections with pipelined requests', async () => {
    const h = await start();
    const conns = await Promise.all(Array.from({ length: 50 }, () => h.connect()));
    const sent = conns.map((c) => {
      const reqs = Array.from({ length: 20 }, () => request());
      c.send(Buffer.concat(reqs.map((r) => frame(r))));
      return reqs;
    });
    await Promise.all(conns.map(async (c, i) => {
      const got = responses(await c.waitFor(20, 10_000));
      for (const r of sent[i]!) expect(got.get(r.stan)).toMatchObject({ mti: '0210', code: '00' });
    }));
    const stats = h.listener.stats();
    expect(stats.totals.persisted).toBe(1000);
    expect(stats.connectionsOpen).toBe(50);
    expect(stats.connections.every((c) => c.counters.frames === 20)).toBe(true);
    expect(h.ingest.calls).toBeLessThan(1000);
    expectNoCardData(h);
  });

  it('pauses reading past its in-flight limit and still answers everything', async () => {
    const h = await start({ maxInFlightPerConnection: 2, maxBatch: 3 });
    const slow = h.ingest.ingest.bind(h.ingest);
    h.ingest.ingest = async (kind, items) => {
      await tick(5);
      return slow(kind, items);
    };
    const c = await h.connect();
    const reqs = Array.from({ length: 30 }, () => request());
    c.send(Buffer.concat(reqs.map((r) => frame(r))));
    const got = responses(await c.waitFor(30));
    expect(reqs.every((r) => got.get(r.stan)?.code === '00')).toBe(true);
  });

  it('refuses to start without a length header or with bad options', async () => {
    const { logger } = captureLogger();
    const base = { port: 0, ingest: fakeIngest(), tokenKey: KEY, logger, dlq: async () => undefined };
    await expect(startIso8583Listener({ ...base, options: { lengthHeader: 'none' } })).rejects.toThrow(/needs a length header/);
    await expect(startIso8583Listener({ ...base, options: { bitmapEncoding: 'hex' as never } })).rejects.toThrow(/options.bitmapEncoding/);
  });

  it('on close, stops accepting, answers what is in flight, then closes the connections', async () => {
    const h = await start();
    const slow = h.ingest.ingest.bind(h.ingest);
    h.ingest.ingest = async (kind, items) => {
      await tick(100);
      return slow(kind, items);
    };
    const c = await h.connect();
    const r = request();
    c.send(frame(r));
    await tick(20);
    const closing = h.listener.close();
    await closing;
    await c.closed;
    expect(responses(c.frames).get(r.stan)?.code).toBe('00');
    await expect(connectClient(h.listener.port)).rejects.toThrow();
  });

  it('never logs a PAN, even at debug level across every path', async () => {
    const h = await start({ dlq: async () => undefined });
    const c = await h.connect();
    const msgs = [
      request(), request({ 3: '310000' }), request({ 49: '999' }), request({ 2: '', 35: `${TRACK_PAN}=2512101123` }),
      request({}, '0400'), request({ 2: `${PAN}999` }),
    ];
    c.send(Buffer.concat(msgs.map((m) => frame(m))));
    c.send(frameMessage(Buffer.from(`0200${'7'.repeat(16)}16${PAN}`), { lengthHeader: 'binary2' }));
    await c.waitFor(msgs.length + 1);
    expect(h.logs()).toContain('"level":"debug"');
    expectNoCardData(h);
  });
});
