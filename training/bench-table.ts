/**
 * Writes a synthetic bank-card churn CSV (`training/synthetic.ts` `syntheticBankCsv`) for timing
 * tabular training at scale:
 *
 *   npx tsx training/bench-table.ts --rows 1000000 --out /tmp/bank-1m.csv
 *   node bin/vafa.js train --csv /tmp/bank-1m.csv --label Attrition_Flag --positive "Attrited Customer" --id CLIENTNUM --out /tmp/bank-1m-model
 */
import { createWriteStream } from 'node:fs';
import { parseArgs } from 'node:util';
import { syntheticBankCsv } from './synthetic.js';

const { values } = parseArgs({ options: { rows: { type: 'string', default: '1000000' }, out: { type: 'string', default: '/tmp/bank.csv' }, seed: { type: 'string', default: '1' } } });
const rows = Number(values.rows);
const out = createWriteStream(values.out);
const chunk = 100_000;
for (let done = 0; done < rows; done += chunk) {
  const text = syntheticBankCsv({ rows: Math.min(chunk, rows - done), seed: Number(values.seed) + done });
  out.write(done === 0 ? text : text.slice(text.indexOf('\n') + 1));
}
out.end(() => console.log(`wrote ${rows} rows to ${values.out}`));
