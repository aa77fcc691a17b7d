/**
 * Cut-over from backfilled history to the live stream, on a real nats-server and chDB: `vafa backfill`
 * (the CLI, as an operator runs it) loads a simulated history plus a CSV of transactions with a bad line,
 * then the stack starts with its scorer and the live feed re-sends part of the history (transactions, a
 * redemption, a feedback at or before the cut-over) and new events after it. Nothing is counted twice,
 * nothing is lost, the first live event follows the history's position, and no offer is dated at or
 * before the cut-over.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postJson, queryRows, spawnVafa, testSettings, waitFor } from '../support/stack.js';
import { startStack, type Stack } from '../../app/stack.js';
import { createLogger } from '../../platform/log.js';
import { waitForDrain } from '../../app/drain.js';
import { createBank, writeHistory } from '../../simulator/mod.js';
import type { Settings } from '../../config/settings.js';
import { natsJsm } from '../../platform/nats.js';
import { STREAM_TX } from '../../contracts/subjects.js';
import { NatsCardDirectory } from '../../ingest/cards.js';
import { tokenizePan } from '../../ingest/tokenize.js';

let settings: Settings;
let stack: Stack | undefined;
let dir: string;
const logger = createLogger({ level: 'warn', name: 'test' });

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'vafa-backfill-cutover-'));
  settings = await testSettings();
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
  rmSync(settings.dataDir, { recursive: true, force: true });
});

type Ev = { kind: string; body: Record<string, unknown> };

async function total(sql: string): Promise<number> {
  const rows = await queryRows<{ n: number }>(stack!, sql);
  return Number(rows[0]!.n);
}

describe('backfill, then live', () => {
  it('takes over at the cut-over without a gap or a double count', async () => {
    const bank = createBank({ seed: 5, customers: 40, start: new Date('2025-03-01T00:00:00Z'), days: 60, feedback: 4 });
    const history = path.join(dir, 'history');
    await writeHistory(bank, history);
    const events = readFileSync(path.join(history, 'events.ndjson'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Ev);
    const txs = events.filter((e) => e.kind === 'transaction').map((e) => e.body);
    // A CSV of extra transactions in the bank's export format, with one bad line (an amount that is no number).
    const csv = path.join(dir, 'transactions-extra.csv');
    const extra: Record<string, unknown>[] = txs.slice(0, 3).map((t, i) => ({ ...t, tx_id: `CSV-${i}` }));
    writeFileSync(csv, ['tx_id,customer_id,channel,amount_minor,currency,occurred_at',
      ...extra.map((t) => [t.tx_id, t.customer_id, t.channel, t.amount_minor, t.currency, t.occurred_at].map(String).join(',')),
      `CSV-bad,${String(extra[0]!.customer_id)},pos,lots,IRR,${String(extra[0]!.occurred_at)}`].join('\n') + '\n');

    // Engines only (no scorer, no API) while the backfill runs.
    stack = await startStack({ settings, logger, churn: null, scorer: false, api: false });
    const child = spawnVafa(['backfill', history, csv], stack, { VAFA_TOKEN_KEY: settings.tokenKey, VAFA_MODEL: path.join(dir, 'no-model.json') });
    const code = await new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? -1)));
    const out = child.output.join('\n');
    expect(code, out).toBe(2); // bad lines → exit 2
    expect(out).toContain(`${csv}:5: amount_minor`);
    expect(out).toMatch(/1 bad lines/);
    const historyEvents = events.length + bank.profiles().length + extra.length;
    expect(out).toContain(`state covers TX up to seq ${historyEvents}; the first live event will be seq ${historyEvents + 1}`);
    const tx = await (await natsJsm(stack.nc)).streams.info(STREAM_TX);
    expect(tx.state.messages).toBe(0);
    expect(tx.state.first_seq).toBe(historyEvents + 1);
    // Profiles registered their cards as ingest does: the ISO 8583 adapter finds the customer of a live card.
    const carded = bank.profiles().find((p) => p.cards?.length);
    expect(carded).toBeDefined();
    const directory = await NatsCardDirectory.open(stack.nc);
    expect(await directory.lookup(tokenizePan(carded!.cards![0]!, settings.tokenKey))).toBe(carded!.customer_id);
    await stack.stop();

    // Live: the stack with its scorer, on the same data directory.
    stack = await startStack({ settings, logger, churn: null });
    const api = stack.apiUrl!;
    const scored = txs.length + extra.length;
    expect(await total('SELECT count() n FROM vafa.scored_transactions FINAL')).toBe(scored);
    const points = await total('SELECT sum(points) n FROM vafa.points_ledger FINAL');
    const balances = await total('SELECT sum(points_balance) n FROM vafa.customer_state FINAL');
    expect(balances).toBe(points);
    expect(await total('SELECT count() n FROM vafa.offers FINAL')).toBe(0);
    const feedbackRows = await total('SELECT count() n FROM vafa.feedback FINAL');

    // The switch re-sends the last 50 transactions of the history, a redemption and a feedback of it…
    const resent = txs.slice(-50);
    expect((await postJson(`${api}/v1/transactions`, resent)).status).toBe(202);
    const redemption = events.filter((e) => e.kind === 'redemption').at(-1);
    if (redemption) expect((await postJson(`${api}/v1/redemptions`, redemption.body)).status).toBe(202);
    const feedback = events.filter((e) => e.kind === 'feedback').at(-1)!;
    expect((await postJson(`${api}/v1/feedback`, feedback.body)).status).toBe(202);
    // … and new transactions after the cut-over.
    const end = Date.parse(bank.options.end.toISOString());
    const fresh = txs.slice(-40).map((t, i) => ({ ...t, tx_id: `LIVE-${i}`, occurred_at: new Date(end + 3_600_000 + i * 60_000).toISOString() }));
    expect((await postJson(`${api}/v1/transactions`, fresh)).status).toBe(202);

    expect(await waitForDrain(stack, 60_000)).toBe(true);
    await waitFor(async () => (await total('SELECT count() n FROM vafa.scored_transactions FINAL')) === scored + fresh.length, 30_000, 'live rows');
    expect(await total('SELECT count() n FROM vafa.scored_transactions FINAL')).toBe(scored + fresh.length);
    expect(await total(`SELECT min(stream_seq) n FROM vafa.scored_transactions FINAL WHERE tx_id LIKE 'LIVE-%'`)).toBeGreaterThan(historyEvents);
    expect(await total('SELECT count() n FROM vafa.feedback FINAL')).toBe(feedbackRows);
    const livePoints = await total(`SELECT sum(points) n FROM vafa.points_ledger FINAL WHERE stream_seq > ${historyEvents}`);
    const ledgerNow = await total('SELECT sum(points) n FROM vafa.points_ledger FINAL');
    expect(ledgerNow).toBe(await total('SELECT sum(points_balance) n FROM vafa.customer_state FINAL'));
    // Only the new transactions (and expiry as the clock moved on) changed the points: the re-sent ones earned nothing.
    const resentEarned = await total(`SELECT count() n FROM vafa.points_ledger FINAL WHERE stream_seq > ${historyEvents} AND source_id IN (${resent.map((t) => `'${String(t.tx_id)}'`).join(',')})`);
    expect(resentEarned).toBe(0);
    if (redemption) {
      expect(await total(`SELECT count() n FROM vafa.points_ledger FINAL WHERE stream_seq > ${historyEvents} AND source_id = '${String(redemption.body.redemption_id)}'`)).toBe(0);
    }
    expect(ledgerNow).toBe(points + livePoints);
    const stats = stack.scorer!.stats();
    // The 50 transactions by their remembered ids, the feedback by the cut-over (a redemption is refused by its id, not counted here).
    expect(stats.duplicates).toBe(resent.length + 1);
    // No offer for the past: every decision is after the cut-over.
    expect(await total(`SELECT count() n FROM vafa.offers FINAL WHERE created_at <= '${new Date(end).toISOString()}'`)).toBe(0);
  }, 180_000);
});
