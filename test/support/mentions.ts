/** Where the warehouse still names something (an erased customer's id, a card token): the erasure tests' search. */
import { queryRows, type TestStack } from './stack.js';

/** Every `table.column` of the `vafa` database's MergeTree tables whose String value contains `needle`. */
export async function mentions(stack: TestStack, needle: string): Promise<string[]> {
  const cols = await queryRows<{ table: string; name: string }>(stack,
    `SELECT c.table AS table, c.name AS name FROM system.columns AS c INNER JOIN system.tables AS t ON t.database = c.database AND t.name = c.table
     WHERE c.database = 'vafa' AND t.engine LIKE '%MergeTree' AND c.type IN ('String', 'LowCardinality(String)', 'Nullable(String)')`);
  const found: string[] = [];
  for (const c of cols) {
    const [row] = await queryRows<{ n: number }>(stack, `SELECT count() AS n FROM vafa.\`${c.table}\` WHERE position(\`${c.name}\`, '${needle}') > 0`);
    if (Number(row?.n ?? 0) > 0) found.push(`${c.table}.${c.name}`);
  }
  return found;
}
