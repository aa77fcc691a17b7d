/**
 * Loyalty-rules hot reload: a changed rules file applies from the position its control message takes in
 * each partition; a bad file is refused and the running rules stay; a replay applies the same rules at
 * the same positions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { makeTx, postJson, queryRows, startTestStack, waitFor, type TestStack } from '../support/stack.js';
import { waitForDrain } from '../../cli/up.js';
import { replay } from '../../scorer/runtime/replay.js';
import { buildEngineConfig } from '../../scorer/runtime/engine-config.js';

const SHIPPED = path.resolve(import.meta.dirname, '../../config/loyalty-rules.yaml');
let stack: TestStack;
let rulesPath: string;

beforeAll(async () => {
  const { mkdtempSync } = await import('node:fs');
  const os = await import('node:os');
  rulesPath = path.join(mkdtempSync(path.join(os.tmpdir(), 'vafa-rules-')), 'rules.yaml');
  copyFileSync(SHIPPED, rulesPath);
  stack = await startTestStack({ overrides: { rulesPath, rulesWatchMs: 200 } });
});
afterAll(async () => {
  await stack?.destroy();
});

const versions = async (customer: string): Promise<Record<string, string>> => Object.fromEntries(
  (await queryRows<{ tx_id: string; rules_version: string }>(stack, `SELECT tx_id, rules_version FROM vafa.scored_transactions FINAL WHERE customer_id = '${customer}'`)).map((r) => [r.tx_id, r.rules_version]));

describe('loyalty rules hot reload', () => {
  it('switches rules at a recorded stream position, refuses a bad file, and replays the same way', async () => {
    const shipped = readFileSync(SHIPPED, 'utf8');
    const before = makeTx(1, 'RL-1', { channel: 'pos', amount_minor: 5_000_000 });
    expect((await postJson(`${stack.apiUrl}/v1/transactions`, before)).status).toBe(202);
    await waitFor(async () => (await versions('RL-1'))[String(before.tx_id)] === '2026.07', 20_000, 'the first row under the shipped rules');

    writeFileSync(rulesPath, 'version: "broken"\nrules: [\n');
    await new Promise((r) => setTimeout(r, 800));
    writeFileSync(rulesPath, shipped.replace('version: "2026.07"', 'version: "2026.08"'));
    // the reload is recorded in TX as one control message per partition
    await waitFor(async () => {
      const { jetstreamManager } = await import('@nats-io/jetstream');
      const info = await (await jetstreamManager(stack.nc)).streams.info('TX', { subjects_filter: 'tx.*.control' });
      return Object.keys(info.state.subjects ?? {}).length === stack.settings.partitions;
    }, 20_000, 'the reload control messages');

    const after = makeTx(2, 'RL-1', { channel: 'pos', amount_minor: 5_000_000 });
    expect((await postJson(`${stack.apiUrl}/v1/transactions`, after)).status).toBe(202);
    await waitFor(async () => (await versions('RL-1'))[String(after.tx_id)] === '2026.08', 20_000, 'the second row under the reloaded rules');
    const ledger = await queryRows<{ source_id: string; rules_version: string }>(stack, `SELECT source_id, rules_version FROM vafa.points_ledger FINAL WHERE customer_id = 'RL-1'`);
    expect(ledger.find((r) => r.source_id === before.tx_id)?.rules_version).toBe('2026.07');
    expect(ledger.find((r) => r.source_id === after.tx_id)?.rules_version).toBe('2026.08');

    expect(await waitForDrain(stack, 30_000)).toBe(true);
    await stack.scorer!.stop();
    // a replay with the shipped file as its base reaches the same rules at the same positions
    await replay({ nc: stack.nc, warehouse: stack.warehouse, database: 'vafa', from: { seq: 1 }, truncate: true, logger: stack.logger, engineConfig: buildEngineConfig({ ...stack.settings, rulesPath: SHIPPED }) });
    expect(await versions('RL-1')).toEqual({ [String(before.tx_id)]: '2026.07', [String(after.tx_id)]: '2026.08' });
  }, 90_000);
});
