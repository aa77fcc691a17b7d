/**
 * Loyalty-rules hot reload: a changed rules file applies from the position its control message takes in
 * each partition; a bad file is refused and the running rules stay; a replay applies the same rules at
 * the same positions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { jetstreamManager } from '@nats-io/jetstream';
import { makeTx, postJson, queryRows, startTestStack, waitFor, type TestStack } from '../support/stack.js';
import { createLogger } from '../../platform/log.js';
import { waitForDrain } from '../../app/drain.js';
import { replay } from '../../scorer/runtime/replay.js';
import { buildEngineConfig } from '../../config/policy.js';

const SHIPPED = path.resolve(import.meta.dirname, '../../config/loyalty-rules.yaml');
let stack: TestStack;
let rulesPath: string;
/** What the stack logged (warn and above), parsed. */
const logged: Record<string, unknown>[] = [];

beforeAll(async () => {
  const { mkdtempSync } = await import('node:fs');
  const os = await import('node:os');
  rulesPath = path.join(mkdtempSync(path.join(os.tmpdir(), 'vafa-rules-')), 'rules.yaml');
  copyFileSync(SHIPPED, rulesPath);
  const lines = new Writable({
    write(chunk: Buffer, _enc, cb): void {
      for (const l of String(chunk).split('\n')) if (l) logged.push(JSON.parse(l) as Record<string, unknown>);
      if (process.env.TEST_LOG_LEVEL) process.stdout.write(chunk);
      cb();
    },
  });
  const logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'warn', name: 'test', destination: lines, format: 'json' });
  stack = await startTestStack({ overrides: { rulesPath, rulesWatchMs: 200 }, logger });
});
afterAll(async () => {
  await stack?.destroy();
});

/** `vafa_rules_reload_refused_total{reason}` as an operator scrapes it. */
async function refusedTotal(reason: string): Promise<number> {
  const text = await (await fetch(`${stack.apiUrl}/metrics`)).text();
  const m = new RegExp(`^vafa_rules_reload_refused_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

async function controlSubjects(): Promise<number> {
  const info = await (await jetstreamManager(stack.nc)).streams.info('TX', { subjects_filter: 'tx.*.control' });
  return Object.keys(info.state.subjects ?? {}).length;
}

const versions = async (customer: string): Promise<Record<string, string>> => Object.fromEntries(
  (await queryRows<{ tx_id: string; rules_version: string }>(stack, `SELECT tx_id, rules_version FROM vafa.scored_transactions FINAL WHERE customer_id = '${customer}'`)).map((r) => [r.tx_id, r.rules_version]));

describe('loyalty rules hot reload', () => {
  it('switches rules at a recorded stream position, refuses a bad file, and replays the same way', async () => {
    const shipped = readFileSync(SHIPPED, 'utf8');
    const before = makeTx(1, 'RL-1', { channel: 'pos', amount_minor: 5_000_000 });
    expect((await postJson(`${stack.apiUrl}/v1/transactions`, before)).status).toBe(202);
    await waitFor(async () => (await versions('RL-1'))[String(before.tx_id)] === '2026.07', 20_000, 'the first row under the shipped rules');

    expect(await refusedTotal('invalid')).toBe(0);
    writeFileSync(rulesPath, 'version: "broken"\nrules: [\n');
    // refused: counted, and logged with the file, line and column of the error
    await waitFor(async () => (await refusedTotal('invalid')) >= 1, 20_000, 'the refusal counter');
    const refusal = await waitFor(async () => logged.find((l) => l.msg === 'loyalty rules file refused; the rules in force stay' && String(l.err).startsWith(`${rulesPath}:3:`)), 5000, 'the refusal line naming the line');
    expect(refusal).toMatchObject({ level: 'error', reason: 'invalid', file: rulesPath });
    // …and audited: a failed admin.rules.reload whose detail is the refusal naming file and line
    const refusedRows = await waitFor(async () => {
      const rows = await queryRows<{ action: string; via: string; route: string; status: number; detail: string }>(stack, "SELECT action, via, route, status, detail FROM vafa.access_audit FINAL WHERE action = 'admin.rules.reload'");
      return rows.some((r) => r.detail.startsWith(`${rulesPath}:3:`)) && rows;
    }, 20_000, 'the refusal\'s audit row naming the line');
    // (a poll that caught the file half-written refuses it too, with its own line: every such row is a 422)
    for (const row of refusedRows) expect(row).toMatchObject({ action: 'admin.rules.reload', via: 'file', route: rulesPath, status: 422 });
    expect(refusedRows.map((r) => r.detail)).toContain(refusal.err);
    // kept: nothing recorded in TX, and an event scored now still gets the rules in force
    expect(await controlSubjects()).toBe(0);
    const during = makeTx(2, 'RL-1', { channel: 'pos', amount_minor: 5_000_000 });
    expect((await postJson(`${stack.apiUrl}/v1/transactions`, during)).status).toBe(202);
    await waitFor(async () => (await versions('RL-1'))[String(during.tx_id)], 20_000, 'the row scored while the bad file is in place');
    expect((await versions('RL-1'))[String(during.tx_id)]).toBe('2026.07');

    writeFileSync(rulesPath, shipped.replace('version: "2026.07"', 'version: "2026.08"'));
    // the reload is recorded in TX as one control message per partition
    await waitFor(async () => (await controlSubjects()) === stack.settings.partitions, 20_000, 'the reload control messages');
    // an admin action: in the access audit once published
    const audited = await waitFor(async () => {
      const rows = await queryRows<{ action: string; via: string; route: string; status: number; detail: string }>(stack, "SELECT action, via, route, status, detail FROM vafa.access_audit FINAL WHERE action = 'admin.rules.reload' AND status = 200");
      return rows.length > 0 && rows;
    }, 20_000, 'the reload\'s audit row');
    expect(audited).toEqual([{ action: 'admin.rules.reload', via: 'file', route: rulesPath, status: 200, detail: `version=2026.08 partitions=${stack.settings.partitions}` }]);

    const after = makeTx(3, 'RL-1', { channel: 'pos', amount_minor: 5_000_000 });
    expect((await postJson(`${stack.apiUrl}/v1/transactions`, after)).status).toBe(202);
    await waitFor(async () => (await versions('RL-1'))[String(after.tx_id)] === '2026.08', 20_000, 'the second row under the reloaded rules');
    const ledger = await queryRows<{ source_id: string; rules_version: string }>(stack, `SELECT source_id, rules_version FROM vafa.points_ledger FINAL WHERE customer_id = 'RL-1'`);
    expect(ledger.find((r) => r.source_id === before.tx_id)?.rules_version).toBe('2026.07');
    expect(ledger.find((r) => r.source_id === during.tx_id)?.rules_version).toBe('2026.07');
    expect(ledger.find((r) => r.source_id === after.tx_id)?.rules_version).toBe('2026.08');

    expect(await waitForDrain(stack, 30_000)).toBe(true);
    await stack.scorer!.stop();
    // a replay with the shipped file as its base reaches the same rules at the same positions
    await replay({ nc: stack.nc, warehouse: stack.warehouse, database: 'vafa', from: { seq: 1 }, truncate: true, logger: stack.logger, engineConfig: buildEngineConfig({ ...stack.settings, rulesPath: SHIPPED }) });
    expect(await versions('RL-1')).toEqual({ [String(before.tx_id)]: '2026.07', [String(during.tx_id)]: '2026.07', [String(after.tx_id)]: '2026.08' });
  }, 90_000);
});
