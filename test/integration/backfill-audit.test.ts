/**
 * Consent and membership statements that enter through `vafa backfill` files are audited like the API's
 * (docs/security.md, Consent and membership): one `membership.change` / `consent.change` row each, by
 * `cli:<os user>`, from `<file>:<line>`; the backfill itself is an `admin.backfill` row. Writing the same
 * statements again (a resumed run) adds none. Real nats-server and the embedded ClickHouse, the real CLI.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditFileStatements } from '../../api/audit.js';
import type { Settings } from '../../config/settings.js';
import { createLogger } from '../../platform/log.js';
import { startStack, type Stack } from '../../app/stack.js';
import { queryRows, spawnVafa, testSettings } from '../support/stack.js';

let settings: Settings;
let stack: Stack | undefined;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'vafa-backfill-audit-'));
  settings = await testSettings();
  stack = await startStack({ settings, logger: createLogger({ level: 'warn', name: 'test' }), churn: null, scorer: false, api: false });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
  rmSync(settings.dataDir, { recursive: true, force: true });
});

const OPENED = '2025-02-01T09:00:00Z';
const PROFILES = [
  { customer_id: 'BA-1', opened_at: OPENED, membership: { status: 'left', at: '2025-03-01T10:00:00Z' } },
  { customer_id: 'BA-2', opened_at: OPENED, consent: { sms: { status: 'withdrawn', at: '2025-03-02T10:00:00Z' }, email: { status: 'granted', at: OPENED } } },
  { customer_id: 'BA-3', opened_at: OPENED, membership: { status: 'joined', at: OPENED }, consent: { app: { status: 'granted', at: OPENED } } },
  { customer_id: 'BA-4', opened_at: OPENED, segment: 'mass' },
];

interface AuditRow { customer_id: string; action: string; principal: string; via: string; remote_addr: string; status: number; detail: string; request_id: string }

describe('vafa backfill audits consent and membership', () => {
  it('writes one row per statement, from its file and line, and none twice', async () => {
    const history = path.join(dir, 'history');
    mkdirSync(history);
    const file = path.join(history, 'profiles.ndjson');
    writeFileSync(file, PROFILES.map((p) => JSON.stringify(p)).join('\n') + '\n');
    writeFileSync(path.join(history, 'transactions.ndjson'), `${JSON.stringify({ tx_id: 'BA-T1', customer_id: 'BA-3', channel: 'pos', amount_minor: 5_000_000, currency: 'IRR', occurred_at: '2025-03-05T10:00:00Z' })}\n`);

    const child = spawnVafa(['backfill', history], stack!, { VAFA_TOKEN_KEY: settings.tokenKey, VAFA_MODEL: path.join(dir, 'no-model.json') });
    const code = await new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? -1)));
    const out = child.output.join('\n');
    expect(code, out).toBe(0);
    expect(out).toContain('backfill: 4 consent and membership statements recorded in the access audit');

    const rows = await queryRows<AuditRow>(stack!, `SELECT customer_id, action, principal, via, remote_addr, status, detail, request_id FROM vafa.access_audit FINAL
      WHERE action IN ('membership.change', 'consent.change') ORDER BY customer_id, action`);
    const user = `cli:${os.userInfo().username}`;
    expect(rows.map((r) => [r.customer_id, r.action, r.principal, r.via, r.remote_addr, r.status, r.detail])).toEqual([
      ['BA-1', 'membership.change', user, 'cli', `${file}:1`, 202, 'membership=left@2025-03-01T10:00:00Z'],
      ['BA-2', 'consent.change', user, 'cli', `${file}:2`, 202, `sms=withdrawn@2025-03-02T10:00:00Z email=granted@${OPENED}`],
      ['BA-3', 'consent.change', user, 'cli', `${file}:3`, 202, `app=granted@${OPENED}`],
      ['BA-3', 'membership.change', user, 'cli', `${file}:3`, 202, `membership=joined@${OPENED}`],
    ]);
    const [run] = await queryRows<{ n: number; detail: string }>(stack!, "SELECT count() AS n, any(detail) AS detail FROM vafa.access_audit FINAL WHERE action = 'admin.backfill'");
    expect(run!.n).toBe(1);
    expect(JSON.parse(run!.detail)).toMatchObject({ files: [history], events: 5, statements: 4 });

    // A run resumed after a failure offers statements again: those already recorded are not written twice.
    const again = PROFILES.slice(0, 3).map((body, i) => ({ file, line: i + 1, seq: Number(rows.find((r) => r.customer_id === body.customer_id)!.request_id.slice(4)), body }));
    expect(await auditFileStatements(stack!.warehouse, 'vafa', user, again)).toBe(0);
    const [count] = await queryRows<{ n: number }>(stack!, "SELECT count() AS n FROM vafa.access_audit WHERE action IN ('membership.change', 'consent.change')");
    expect(count!.n).toBe(4);
  }, 120_000);
});
