/** What the backfill tests compare: a table's rows, and every partition's state in a state store. */
import { queryRows, type TestStack } from './stack.js';
import { TABLES } from '../../sinks/clickhouse/schema.js';
import { LmdbStateStore } from '../../scorer/runtime/store/lmdb-store.js';
import type { PartitionState } from '../../scorer/core/state.js';

/** Rows of a table of `database` in key order, without the wall-clock column. */
export async function tableRows(stack: TestStack, database: string, table: string): Promise<unknown[]> {
  const def = TABLES.find((t) => t.name === table)!;
  const cols = def.columns.map((c) => c.name).filter((c) => c !== 'scored_at');
  return await queryRows(stack, `SELECT ${cols.map((c) => `\`${c}\``).join(', ')} FROM ${database}.${table} FINAL ORDER BY ${def.orderBy.join(', ')}`);
}

/** Every partition's state as the store at `where` holds it. */
export async function loadAll(where: string, partitions: number): Promise<PartitionState[]> {
  const store = LmdbStateStore.open({ path: where });
  const out: PartitionState[] = [];
  for (let p = 0; p < partitions; p++) out.push((await store.load(p))!);
  await store.close();
  return out;
}
