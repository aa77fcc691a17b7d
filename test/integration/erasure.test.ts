/**
 * Right to erasure on the real stack (NATS, the scorer, the embedded ClickHouse, the API with scoped keys):
 * a non-admin key is refused; an admin erasure leaves no trace of the customer id or card token in any
 * column of any table, reads of the customer answer nothing, another customer is untouched, the totals
 * (ledger liability, transaction counts, their dashboard copies) are unchanged, and the audit holds the
 * erasure and the customer's earlier reads under the erasure id. `vafa erase` does the same from the CLI.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyFileLine } from '../../api/auth.js';
import { ERASURE_ID_PATTERN } from '../../sinks/clickhouse/erasure.js';
import { makeTx, postJson, queryRows, spawnVafa, startTestStack, waitFor, type TestStack } from '../support/stack.js';
import { mentions as mentionsIn } from '../support/mentions.js';

const ADMIN = 'operator-secret-key-0000000005';
const READER = 'analyst-secret-key-0000000003';
const SWITCH = 'switch-secret-key-00000000004';
const GONE = 'ERASE-ME-7f3a';
const GONE_CARD = 'tok_erase_me_9c1d';
const KEEP = 'KEEP-ME-22b0';
const CLI_GONE = 'ERASE-BY-CLI-5e0c';

let stack: TestStack;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'vafa-erasure-'));
  const keyFile = path.join(dir, 'api-keys');
  writeFileSync(keyFile, [keyFileLine('analyst', ['read'], READER), keyFileLine('switch-a', ['ingest'], SWITCH), keyFileLine('operator', ['admin'], ADMIN), ''].join('\n'));
  stack = await startTestStack({ overrides: { apiKeyFile: keyFile, tokenKey: 'test-token-key-0123456789' } });
}, 120_000);
afterAll(async () => {
  await stack?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

const auth = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });
const get = async (url: string, key: string): Promise<{ status: number; body: Record<string, unknown> }> => {
  const r = await fetch(`${stack.apiUrl}${url}`, { headers: auth(key) });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
};

const mentions = (needle: string): Promise<string[]> => mentionsIn(stack, needle);

interface Totals { ledger: number; ledgerCopy: number; txs: number; txCopy: number; keepRows: number }
async function totals(): Promise<Totals> {
  const [r] = await queryRows<Totals>(stack, `SELECT
      (SELECT sum(points) FROM vafa.points_ledger FINAL) AS ledger, (SELECT sum(points) FROM vafa.dash_ledger_v1 FINAL) AS ledgerCopy,
      (SELECT count() FROM vafa.scored_transactions FINAL) AS txs, (SELECT count() FROM vafa.dash_tx_v1 FINAL) AS txCopy,
      (SELECT count() FROM vafa.points_ledger FINAL WHERE customer_id = '${KEEP}') + (SELECT count() FROM vafa.scored_transactions FINAL WHERE customer_id = '${KEEP}') AS keepRows`);
  return r!;
}

describe('right to erasure', () => {
  const N = 24;
  it('scores three customers through the pipeline', async () => {
    const txs = Array.from({ length: N }, (_, i) => {
      const customer = [GONE, KEEP, CLI_GONE][i % 3]!;
      return makeTx(i, customer, customer === GONE ? { card_token: GONE_CARD } : {});
    });
    expect((await postJson(`${stack.apiUrl}/v1/transactions`, txs, auth(SWITCH))).status).toBe(202);
    await waitFor(async () => {
      const [r] = await queryRows<{ n: number; c: number }>(stack, 'SELECT (SELECT count() FROM vafa.scored_transactions FINAL) AS n, (SELECT count() FROM vafa.customer_state FINAL) AS c');
      return r!.n === N && r!.c === 3;
    }, 60_000, 'the transactions to be scored');
    expect((await get(`/v1/customers/${GONE}`, READER)).status).toBe(200);
    expect((await get(`/v1/customers/${GONE}/ledger`, READER)).status).toBe(200);
    await waitFor(async () => {
      const [r] = await queryRows<{ n: number }>(stack, `SELECT count() AS n FROM vafa.access_audit WHERE customer_id = '${GONE}'`);
      return r!.n >= 2;
    }, 20_000, 'the reads in the audit');
    expect(await mentions(GONE_CARD)).toContain('scored_transactions.card_token');
  });

  it('refuses a key without the admin scope, and erases nothing then', async () => {
    for (const key of [READER, SWITCH]) {
      const r = await postJson(`${stack.apiUrl}/v1/admin/erasures`, { customer_id: GONE }, auth(key));
      expect(r.status).toBe(403);
      expect(r.body).toMatchObject({ error: 'VAFA_FORBIDDEN', required_scope: 'admin' });
    }
    expect((await postJson(`${stack.apiUrl}/v1/admin/erasures`, { customer_id: GONE })).status).toBe(401);
    expect((await postJson(`${stack.apiUrl}/v1/admin/erasures`, { customer_id: '' }, auth(ADMIN))).status).toBe(400);
    expect((await get(`/v1/customers/${GONE}`, READER)).status).toBe(200);
  });

  it('an admin erasure leaves no trace of the id or the card token; the other customer and every total stay', async () => {
    const before = await totals();
    const keepView = (await get(`/v1/customers/${KEEP}`, READER)).body;
    const r = await postJson(`${stack.apiUrl}/v1/admin/erasures`, { customer_id: GONE, reference: 'DPO-2026-0042' }, auth(ADMIN));
    expect(r.status).toBe(200);
    const erasureId = r.body.erasure_id as string;
    expect(erasureId).toMatch(ERASURE_ID_PATTERN);
    expect(r.body.found).toBe(true);
    expect((r.body.not_erased as string[]).some((n) => n.startsWith('scorer state')), 'the scorer forgot the customer first').toBe(false);
    const tables = Object.fromEntries((r.body.tables as { table: string; action: string; rows: number }[]).map((t) => [t.table, t]));
    expect(tables.customer_state).toMatchObject({ action: 'deleted' });
    expect(tables.points_ledger).toMatchObject({ action: 'pseudonymised' });
    expect(tables.dash_tx_v1).toMatchObject({ action: 'deleted' });
    expect(tables.scored_transactions!.rows).toBeGreaterThanOrEqual(N / 3);

    expect(await mentions(GONE)).toEqual([]);
    expect(await mentions(GONE_CARD)).toEqual([]);
    expect((await get(`/v1/customers/${GONE}`, READER)).status).toBe(404);
    expect((await get(`/v1/customers/${GONE}/ledger`, READER)).body.entries).toEqual([]);

    expect(await totals()).toEqual(before);
    expect((await get(`/v1/customers/${KEEP}`, READER)).body).toEqual(keepView);
    const [kept] = await queryRows<{ n: number; cards: number }>(stack, `SELECT count() AS n, countIf(card_token != '') AS cards FROM vafa.scored_transactions FINAL WHERE customer_id = '${erasureId}'`);
    expect(kept).toEqual({ n: N / 3, cards: 0 });

    const audit = await queryRows<{ principal: string; action: string; detail: string }>(stack,
      `SELECT principal, action, detail FROM vafa.access_audit FINAL WHERE customer_id = '${erasureId}' ORDER BY at`);
    const erasure = audit.find((a) => a.action === 'admin.erase');
    expect(erasure?.principal).toBe('operator');
    expect(JSON.parse(erasure!.detail)).toMatchObject({ found: true, reference: 'DPO-2026-0042' });
    expect(audit.filter((a) => a.action === 'customer.view' || a.action === 'customer.ledger').length).toBeGreaterThanOrEqual(2);
    const [pending] = await queryRows<{ n: number }>(stack, 'SELECT count() AS n FROM vafa.erasure_pending');
    expect(pending!.n).toBe(0);

    const again = await postJson(`${stack.apiUrl}/v1/admin/erasures`, { customer_id: GONE }, auth(ADMIN));
    expect(again.status).toBe(200);
    expect(again.body.found).toBe(false);
    expect(again.body.erasure_id).not.toBe(erasureId);
  }, 120_000);

  it('vafa erase asks on a terminal (refuses without --yes off one) and erases with --yes', async () => {
    const run = async (args: string[]): Promise<{ code: number | null; output: string }> => {
      const child = spawnVafa(args, stack, { CLICKHOUSE_DATABASE: 'vafa' });
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      return { code, output: child.output.join('\n') };
    };
    const refused = await run(['erase', '--customer', CLI_GONE]);
    expect(refused.code).toBe(2);
    expect(refused.output).toMatch(/pass --yes/);
    expect((await get(`/v1/customers/${CLI_GONE}`, READER)).status).toBe(200);

    const done = await run(['erase', '--customer', CLI_GONE, '--yes', '--json']);
    expect(done.code, done.output).toBe(0);
    const result = JSON.parse(done.output.split('\n').find((l) => l.startsWith('{'))!) as { erasure_id: string; found: boolean; scorer?: { applied: boolean }; not_erased: string[] };
    expect(result.found).toBe(true);
    expect(result.scorer?.applied, 'the scorer forgot the customer before the warehouse was erased').toBe(true);
    expect(result.not_erased.some((n) => n.startsWith('scorer state'))).toBe(false);
    expect(await mentions(CLI_GONE)).toEqual([]);
    const [row] = await queryRows<{ principal: string; via: string }>(stack, `SELECT principal, via FROM vafa.access_audit FINAL WHERE action = 'admin.erase' AND customer_id = '${result.erasure_id}'`);
    expect(row?.principal).toMatch(/^cli:/);
    expect(row?.via).toBe('cli');
  }, 120_000);
});
