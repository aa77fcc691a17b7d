/**
 * `vafa erase --customer ID`: erases a customer from a running deployment: the scorer, the retained
 * messages of the streams, the card directory and the state snapshots (scorer/runtime/erasure.ts
 * `scorerEraser`), then the warehouse (sinks/clickhouse/erasure.ts, docs/security.md "Erasure"), recorded in the access audit as
 * `admin.erase` by `cli:<os user>`. On a terminal it asks for the id again; `--yes` skips that.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline/promises';
import { loadSettings } from '../config/mod.js';
import { createWarehouseClient, eraseCustomer, checkErasureInput, ErasureIncompleteError, ErasureInputError, ErasureUnsupportedError } from '../sinks/mod.js';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectNats, createLogger } from '../platform/mod.js';
import { notErased, placesOf, type ErasedOutsideWarehouse } from '../contracts/erasure.js';
import { scorerEraser, ScorerErasureTimeoutError, SnapshotNotCoveredError, SnapshotStillHoldsError, StreamScanTimeoutError } from '../scorer/runtime/mod.js';
import type { Command } from './main.js';

/** Longest the erasure may take before the command gives up (a retry resumes it), ms. */
const ERASE_TIMEOUT_MS = 600_000;
/** Longest wait for NATS before the erasure is refused (nothing erased): a running vafa answers at once. */
const ERASE_NATS_WAIT_MS = 10_000;

async function confirm(customerId: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`Erase customer ${customerId} from the streams, the snapshots and the warehouse? This cannot be undone. Type the customer id again to confirm: `);
    return answer.trim() === customerId;
  } finally {
    rl.close();
  }
}

export const eraseCommand: Command = {
  summary: 'Erase a customer (right to erasure): scorer state, retained stream messages, card directory, snapshots, warehouse.',
  usage: [
    'vafa erase --customer ID [--reference TICKET] [--yes] [--json]',
    '',
    '  --customer ID      the customer to erase',
    '  --reference TICKET the bank\'s reference for the request, recorded in the audit (never personal data)',
    '  --yes              do not ask (required when stdin is not a terminal)',
    '  --warehouse-only   do not reach NATS (unreachable): the scorer, the streams, the card directory and the',
    '                     snapshots keep the customer; said in the result',
    '  --json             print the result as JSON',
    '',
    'Reaches ClickHouse through CLICKHOUSE_URL (CLICKHOUSE_USER, CLICKHOUSE_PASSWORD, CLICKHOUSE_DATABASE);',
    'without it, the all-in-one\'s embedded engine on 127.0.0.1:VAFA_CLICKHOUSE_PORT (8123). First makes the',
    'scorer forget the customer through NATS_URL (else the all-in-one\'s 127.0.0.1:VAFA_NATS_PORT) and waits',
    'until it has (at most a minute), securely deletes the customer\'s retained messages of TX (their',
    'partition), OFFERS and DLQ and their card-directory entries, rewrites the snapshot objects that still',
    'hold them (waiting at most a minute for a snapshot covering the erasure); then erases the warehouse.',
  ].join('\n'),
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: { customer: { type: 'string' }, reference: { type: 'string' }, yes: { type: 'boolean', default: false }, json: { type: 'boolean', default: false }, 'warehouse-only': { type: 'boolean', default: false } },
    });
    const customerId = await confirmedCustomer(values, this.usage);
    if (typeof customerId === 'number') return customerId;
    const settings = loadSettings();
    const url = settings.clickhouseUrl ?? `http://127.0.0.1:${settings.localClickhousePort}`;
    const warehouseOnly = values['warehouse-only'];
    let nc: NatsConnection | undefined;
    if (!warehouseOnly) {
      const natsUrl = settings.natsUrl ?? `nats://127.0.0.1:${settings.localNatsPort}`;
      try {
        nc = await connectNats(natsUrl, 'vafa-erase', createLogger({ level: 'error', name: 'erase' }), settings, { firstConnectMs: ERASE_NATS_WAIT_MS });
      } catch (err) {
        console.error(`vafa erase: cannot reach NATS at ${natsUrl} to make the scorer forget the customer (${(err as Error).message}); nothing erased. Start vafa, or pass --warehouse-only.`);
        return 1;
      }
    }
    const ch = createWarehouseClient({ url, user: settings.clickhouseUser, password: settings.clickhousePassword, database: settings.clickhouseDatabase }, { requestTimeoutMs: ERASE_TIMEOUT_MS });
    let outside: ErasedOutsideWarehouse | undefined;
    try {
      const eraser = nc ? scorerEraser(nc, settings.partitions, { logger: createLogger({ level: values.json ? 'warn' : 'info', name: 'erase', destination: process.stderr }) }) : undefined;
      const forget = eraser
        ? async (erasureId: string): Promise<void> => {
          outside = await eraser(customerId, erasureId);
        }
        : undefined;
      const r = await eraseCustomer(ch, settings.clickhouseDatabase, {
        customerId, principal: `cli:${os.userInfo().username}`, via: 'cli', method: 'CLI', route: 'vafa erase',
        remoteAddr: os.hostname(), ...(values.reference ? { reference: values.reference } : {}), ...(forget ? { forget } : {}),
      });
      const unreached = notErased(forget !== undefined, outside);
      if (values.json) {
        console.log(JSON.stringify({ ...r, ...(outside ? placesOf(outside) : {}), not_erased: unreached }));
        return 0;
      }
      printErasure(customerId, r, outside, unreached);
      return 0;
    } catch (err) {
      if (err instanceof ErasureIncompleteError || err instanceof ErasureUnsupportedError || err instanceof ScorerErasureTimeoutError
        || err instanceof StreamScanTimeoutError || err instanceof SnapshotNotCoveredError || err instanceof SnapshotStillHoldsError) {
        console.error(`vafa erase: ${err.message}; nothing more was erased, retry (it resumes with the same erasure id)`);
        return 1;
      }
      throw err;
    } finally {
      await ch.close();
      await nc?.close();
    }
  },
};

/**
 * Checks the request and asks for confirmation on a terminal (unless --yes): the customer to erase, or the
 * exit code when the erasure must not run (2: a wrong request, 1: not confirmed).
 */
async function confirmedCustomer(values: { customer?: string; reference?: string; yes?: boolean }, usage: string): Promise<string | number> {
  if (!values.customer) {
    console.error(`vafa erase: --customer is required\n\n${usage}`);
    return 2;
  }
  try {
    checkErasureInput(values.customer, values.reference);
  } catch (err) {
    if (err instanceof ErasureInputError) {
      console.error(`vafa erase: ${err.message}`);
      return 2;
    }
    throw err;
  }
  if (!values.yes) {
    if (!process.stdin.isTTY) {
      console.error('vafa erase: stdin is not a terminal: pass --yes to erase without asking');
      return 2;
    }
    if (!(await confirm(values.customer))) {
      console.error('vafa erase: not confirmed; nothing erased');
      return 1;
    }
  }
  return values.customer;
}

/** The erasure's result for a person: what was erased where, and what this command could not reach. */
function printErasure(customerId: string, r: Awaited<ReturnType<typeof eraseCustomer>>, outside: ErasedOutsideWarehouse | undefined, unreached: readonly string[]): void {
  console.log(`${r.found ? 'erased' : 'nothing found for'} customer ${customerId}: erasure id ${r.erasure_id} (audit ${r.audit_id}, ${r.ms} ms)`);
  if (outside) {
    const { scorer, streams, snapshots } = outside;
    console.log(`  scorer                   ${scorer.applied ? 'forgot the customer' : 'will forget the customer when it starts'} (partition ${scorer.partition}, stream position ${scorer.seq})`);
    for (const [stream, s] of Object.entries(streams)) console.log(`  stream ${stream.padEnd(17)} ${s.deleted} message(s) securely deleted (${s.scanned} read)`);
    console.log(`  card directory           ${outside.card_directory} entr${outside.card_directory === 1 ? 'y' : 'ies'} securely deleted`);
    console.log(`  snapshots                ${snapshots.chain ? `${snapshots.rewritten} of ${snapshots.objects} object(s) rewritten without the customer (${snapshots.chunks} chunk(s) of the old ones securely deleted)` : 'none in the NATS object store'}`);
    const m = outside.mention_snapshots;
    console.log(`  other customers          erasure id written where they name the customer in ${scorer.mentions.applied} of ${scorer.mentions.partitions} partition(s)${m.rewritten ? `; ${m.rewritten} snapshot object(s) rewritten` : ''}`);
  }
  for (const t of r.tables.filter((x) => x.rows > 0)) console.log(`  ${t.table.padEnd(24)} ${t.action} ${t.rows} row(s)`);
  for (const [table, n] of Object.entries(r.referrals)) console.log(`  ${table.padEnd(24)} ${n} row(s) of other customers (referral credits) re-derived from the erasure id`);
  const old = r.old_parts;
  if (old.removed + old.left > 0) console.log(`  old parts                ${old.removed} removed from disk${old.left ? `, ${old.left} left for ClickHouse to drop within ${old.lifetime_s} s (old_parts_lifetime)` : ''}`);
  if (unreached.length) {
    console.log('not erased by this command (docs/security.md):');
    for (const n of unreached) console.log(`  - ${n}`);
  }
}
