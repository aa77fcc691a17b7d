import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createBank, FeederError, runFeeder } from '../../simulator/mod.js';

/** A stand-in for the vafa ingest API: same response shapes, idempotent on ids, with scripted failures. */
interface Mock {
  url: string;
  server: Server;
  requests: { path: string; items: number }[];
  stored: Map<string, unknown[]>;
  order: Map<string, string[]>;
  maxInFlight: number;
  /** Return a status (and optionally store only a prefix first) for request number n (1-based, per path). */
  script?: (path: string, n: number) => { status: 503 | 401; storeFirst?: number } | undefined;
  invalid?: (item: Record<string, unknown>) => boolean;
}

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

async function startMock(setup: Partial<Pick<Mock, 'script' | 'invalid'>> = {}): Promise<Mock> {
  const seen = new Set<string>();
  const counts = new Map<string, number>();
  let inFlight = 0;
  const mock: Mock = { url: '', server: undefined as unknown as Server, requests: [], stored: new Map(), order: new Map(), maxInFlight: 0, ...setup };
  const idOf = (path: string, it: Record<string, unknown>): string =>
    path === '/v1/transactions' ? String(it.tx_id) : path === '/v1/redemptions' ? `r:${String(it.redemption_id)}`
      : path === '/v1/feedback' ? `f:${String(it.feedback_id)}` : `p:${JSON.stringify(it)}`;
  const store = (path: string, it: Record<string, unknown>): 'accepted' | 'duplicate' => {
    const id = idOf(path, it);
    if (seen.has(id)) return 'duplicate';
    seen.add(id);
    let list = mock.stored.get(path);
    if (!list) mock.stored.set(path, (list = []));
    list.push(it);
    if (path !== '/v1/customers') {
      const c = String(it.customer_id);
      let times = mock.order.get(c);
      if (!times) mock.order.set(c, (times = []));
      times.push(String(it.occurred_at));
    }
    return 'accepted';
  };
  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    inFlight++;
    mock.maxInFlight = Math.max(mock.maxInFlight, inFlight);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    await new Promise((r) => setTimeout(r, 3));
    const path = req.url ?? '';
    const items = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>[];
    mock.requests.push({ path, items: items.length });
    const n = (counts.get(path) ?? 0) + 1;
    counts.set(path, n);
    const send = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      inFlight--;
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    const scripted = mock.script?.(path, n);
    if (scripted?.status === 401) return send(401, { error: 'VAFA_UNAUTHORIZED', message: 'A valid bearer API key is required for write endpoints.' });
    if (scripted?.status === 503) {
      // As the API does, an invalid item is refused before anything is stored, even in a request that then fails.
      const results = items.map((it, index) => (index >= (scripted.storeFirst ?? 0) ? { index, status: 'failed', error: 'unavailable' }
        : mock.invalid?.(it) ? { index, status: 'invalid', errors: [{ field: 'amount_minor', message: 'is odd' }] } : { index, status: store(path, it), id: 'x' }));
      return send(503, { error: 'VAFA_JETSTREAM_UNAVAILABLE', message: 'JetStream is unavailable', results }, { 'retry-after': '0' });
    }
    const results = items.map((it, index) => (mock.invalid?.(it) ? { index, status: 'invalid', errors: [{ field: 'amount_minor', message: 'is odd' }] } : { index, status: store(path, it), id: 'x' }));
    const accepted = results.filter((r) => r.status === 'accepted').length;
    const duplicates = results.filter((r) => r.status === 'duplicate').length;
    const invalid = results.filter((r) => r.status === 'invalid').length;
    if (invalid) return send(400, { error: 'VAFA_INVALID_ITEMS', message: `${invalid} items are invalid`, accepted, duplicates, invalid, failed: 0, results });
    send(202, { accepted, duplicates, results });
  };
  mock.server = createServer((req, res) => void handler(req, res));
  servers.push(mock.server);
  await new Promise<void>((r) => mock.server.listen(0, '127.0.0.1', r));
  mock.url = `http://127.0.0.1:${(mock.server.address() as AddressInfo).port}`;
  return mock;
}

const start = new Date('2025-03-21T00:00:00Z');

describe('simulator: feeder', () => {
  it('posts profiles in chunks, then every event exactly once, keeping each customer’s order', async () => {
    const bank = createBank({ seed: 4, customers: 1500, start, days: 3 });
    const events = [...bank.events()];
    const oddOne = (events.find((e) => e.kind === 'transaction')!.body as { tx_id: string }).tx_id;
    const mock = await startMock({
      // The third transaction request fails with 503 after storing half of its items: the retry must not double-count them.
      script: (path, n) => (path === '/v1/transactions' && n === 3 ? { status: 503, storeFirst: 50 } : undefined),
      invalid: (it) => it.tx_id === oddOne,
    });
    const summary = await runFeeder({ target: `${mock.url}/`, bank, rate: 0, batchSize: 100, apiKey: 'k1' });

    const profileRequests = mock.requests.filter((r) => r.path === '/v1/customers');
    expect(profileRequests.map((r) => r.items).sort((a, b) => a - b)).toEqual([500, 1000]);
    expect(summary.profiles).toMatchObject({ sent: 1500, accepted: 1500, failed: 0 });

    const txCount = events.filter((e) => e.kind === 'transaction').length;
    const redCount = events.filter((e) => e.kind === 'redemption').length;
    const fbCount = events.filter((e) => e.kind === 'feedback').length;
    expect(redCount).toBeGreaterThan(0);
    expect(fbCount).toBeGreaterThan(0);
    expect(summary).toMatchObject({ sent: events.length, accepted: events.length - 1, duplicates: 0, invalid: 1, failed: 0, stoppedBy: 'exhausted' });
    expect(summary.problems.join('\n')).toMatch(/amount_minor is odd/);
    expect(mock.stored.get('/v1/transactions')).toHaveLength(txCount - 1);
    expect(mock.stored.get('/v1/redemptions')).toHaveLength(redCount);
    expect(mock.stored.get('/v1/feedback')).toHaveLength(fbCount);
    expect(summary.feedback).toBe(fbCount);
    expect(mock.requests.filter((r) => r.path !== '/v1/customers').every((r) => r.items <= 100)).toBe(true);
    expect(mock.maxInFlight).toBeGreaterThan(1);
    expect(mock.maxInFlight).toBeLessThanOrEqual(4);
    for (const times of mock.order.values()) expect([...times].sort()).toEqual(times);
    expect(summary.lastEventTime).toBe(events.at(-1)!.body.occurred_at);
  });

  it('holds the target rate and stops at maxEvents', async () => {
    const mock = await startMock();
    const bank = createBank({ seed: 5, customers: 300, start, days: 10 });
    const seen: number[] = [];
    const summary = await runFeeder({ target: mock.url, bank, rate: 2000, maxEvents: 1000, sendProfiles: false, onProgress: (p) => seen.push(p.sent) });
    expect(summary.sent).toBe(1000);
    expect(summary.accepted).toBe(1000);
    expect(summary.stoppedBy).toBe('maxEvents');
    expect(summary.seconds).toBeGreaterThan(0.4);
    expect(summary.seconds).toBeLessThan(3);
    expect(summary.eventsPerSecond).toBeLessThan(2500);
    expect(seen.at(-1)).toBe(1000);
    expect(mock.requests.some((r) => r.path === '/v1/customers')).toBe(false);
  });

  it('stops on abort and counts what never got through as failed', async () => {
    const mock = await startMock({ script: (path) => (path === '/v1/transactions' ? { status: 503 } : undefined) });
    const bank = createBank({ seed: 6, customers: 100, start, days: 5 });
    const summary = await runFeeder({ target: mock.url, bank, rate: 0, sendProfiles: false, maxAttempts: 3, maxEvents: 500, concurrency: 2 });
    expect(summary.failed).toBe(summary.sent - summary.accepted);
    expect(summary.failed).toBeGreaterThan(0);
    expect(summary.problems.join('\n')).toMatch(/not stored \(503/);

    const ac = new AbortController();
    setTimeout(() => ac.abort(), 150);
    const total = [...bank.events()].length;
    const ok = await startMock();
    const aborted = await runFeeder({ target: ok.url, bank, rate: 200, sendProfiles: false, signal: ac.signal });
    expect(aborted.stoppedBy).toBe('aborted');
    expect(aborted.sent).toBeLessThan(total);
    expect(aborted.accepted + aborted.failed).toBe(aborted.sent);
  });

  it('fails fast on a refused API key', async () => {
    const mock = await startMock({ script: () => ({ status: 401 }) });
    const bank = createBank({ seed: 1, customers: 10, start, days: 2 });
    await expect(runFeeder({ target: mock.url, bank, rate: 0, apiKey: 'wrong' })).rejects.toThrow(FeederError);
  });
});

