/**
 * One backfill worker thread (threads.ts): opens the state store, the sink and the churn model its setup
 * names, runs a `PartitionRunner` over the partitions it owns, and answers each message of the calling
 * thread in order (a failure is answered as one, naming its class, and the worker goes on to close).
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ClickHouseClient } from '@clickhouse/client';
import { createLogger } from '../../../platform/mod.js';

import { LmdbStateStore } from '../store/lmdb-store.js';
import { ClickHouseSink, createWarehouseClient } from '../../../sinks/mod.js';
import type { ChurnScorerHandle } from '../model/mod.js';
import { PartitionRunner, type BatchEvent, type CheckItem, type CheckRefusal } from './partitions.js';
import { RecordPreparer } from './prepare.js';
import type { FromBackfillWorker, ToBackfillWorker, WorkerSetup } from './threads.js';
import { defaultEngineConfig, buildEngineConfig } from '../../../config/mod.js';

const setup = workerData as WorkerSetup;
if (!parentPort) throw new Error('scorer/runtime/backfill/worker-main.ts runs only as a worker thread (threads.ts starts it)');
const port = parentPort;
const { spec } = setup;
const logger = createLogger({ level: spec.logLevel ?? 'info', name: `backfill-${setup.index}` });

const engineConfig = spec.engine === 'default' ? defaultEngineConfig() : buildEngineConfig({ ...spec.engine, partitions: setup.partitions });
const store = LmdbStateStore.open({ path: spec.store.path, logger, ...(spec.store.cacheCustomers !== undefined ? { cacheCustomers: spec.store.cacheCustomers } : {}) });
let warehouse: ClickHouseClient | undefined;
let sink: ClickHouseSink | undefined;
if (spec.warehouse) {
  const w = spec.warehouse;
  warehouse = createWarehouseClient({ url: w.url, user: w.user, password: w.password, database: w.database });
  sink = new ClickHouseSink(warehouse, { database: w.database, logger, maxRows: w.maxRows ?? 50_000, lingerMs: w.lingerMs ?? 50 });
}
let scorer: ChurnScorerHandle | undefined;
if (spec.modelPath) {
  try {
    const { loadChurnScorer } = await import('../model/mod.js');
    scorer = await loadChurnScorer(spec.modelPath, logger, { watchIntervalMs: 0 });
  } catch (err) {
    logger.warn({ err: (err as Error).message }, 'backfilling without a churn model');
  }
}
const runner = new PartitionRunner({
  engineConfig, owned: setup.owned, store, base: setup.base, logger,
  ...(sink ? { sink } : {}), ...(scorer ? { scorer } : {}), ...(setup.cutover !== undefined ? { cutover: setup.cutover } : {}), ...(setup.strict ? { strict: true } : {}),
});

// Events of this worker's partitions, validated here (`check`) ahead of their batch, by record number, until it runs.
const preparer = new RecordPreparer(setup.partitions, '');
const checked = new Map<number, Record<string, unknown>>();

function check(items: CheckItem[]): CheckRefusal[] {
  const refused: CheckRefusal[] = [];
  for (const item of items) {
    const prepared = preparer.prepare(item.kind, item.body, item.file, item.line);
    if ('reason' in prepared) refused.push({ record: item.record, reason: prepared.reason });
    else checked.set(item.record, prepared.value);
  }
  return refused;
}

function run(events: BatchEvent[], through: number | undefined): ReturnType<PartitionRunner['run']> {
  for (const e of events) {
    if (e.body) continue;
    const body = e.record === undefined ? undefined : checked.get(e.record);
    if (!body) throw new Error(`record ${e.record}: not checked by this worker`);
    e.body = body;
  }
  // Checked in record order: what the batch held, applied or not (refused, after the cut-over, resumed), goes.
  if (through !== undefined) {
    for (const n of checked.keys()) {
      if (n > through) break;
      checked.delete(n);
    }
  }
  return runner.run(events);
}

async function closeAll(): Promise<{ refusedRows: number }> {
  const closed = await runner.close();
  await sink?.close();
  await warehouse?.close();
  await scorer?.close();
  await store.close();
  return closed;
}

function handle(m: ToBackfillWorker): Promise<unknown> {
  switch (m.t) {
    case 'open': return runner.open();
    case 'check': return Promise.resolve(check(m.items));
    case 'run': return run(m.events, m.through);
    case 'flush': return runner.flush();
    case 'commit': return runner.commit(m.position, m.mark, m.cutover);
    case 'cutover': return runner.latestCutover();
    case 'close': return closeAll();
  }
}

let turn: Promise<void> = Promise.resolve();
port.on('message', (m: ToBackfillWorker) => {
  turn = turn.then(async () => {
    let answer: FromBackfillWorker;
    try {
      answer = { ok: true, value: await handle(m) };
    } catch (err) {
      answer = { ok: false, name: (err as Error).name, error: (err as Error).message };
    }
    port.postMessage(answer);
  });
});
