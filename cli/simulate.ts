/** `vafa simulate`: synthetic bank traffic into a running vafa, or labelled history into a folder. */
import { parseArgs } from 'node:util';
import { dayFlag, integerFlag, numberFlag } from './flags.js';
import type { Command } from './main.js';

export const simulateCommand: Command = {
  summary: 'Generate synthetic bank traffic (seeded, reproducible): feed a running vafa, or write labelled history for training.',
  usage: [
    'vafa simulate [--target http://127.0.0.1:8080] [--rate 500] [--customers 2000] [--days 365] [--seed 42] [--duration S] [--max-events N]',
    '              [--feedback 1] [--nats URL | --no-answers]',
    'vafa simulate --out DIR [--customers 5000] [--days 540] [--seed 42] [--feedback 1]     write profiles.ndjson, events.ndjson, labels.ndjson',
    '  --feedback X   multiply the volume of customer feedback (complaints, compliments, the bank\'s own surveys); 0: none',
    '  --nats URL     answer the surveys vafa publishes on stream OFFERS of this NATS (default: $NATS_URL when set)',
    '  --no-answers   do not answer surveys even when NATS_URL is set',
    '  VAFA_SIMULATE_KEY, else the first of VAFA_API_KEYS: sent as the bearer key (it needs the ingest scope)',
  ].join('\n'),
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: {
        target: { type: 'string', default: `http://127.0.0.1:${process.env.PORT ?? 8080}` },
        rate: { type: 'string', default: '500' },
        customers: { type: 'string', default: '2000' },
        days: { type: 'string', default: '365' },
        seed: { type: 'string', default: '42' },
        start: { type: 'string', default: '2025-01-01' },
        duration: { type: 'string' },
        'max-events': { type: 'string' },
        out: { type: 'string' },
        feedback: { type: 'string', default: '1' },
        nats: { type: 'string' },
        'no-answers': { type: 'boolean', default: false },
      },
    });
    const bankOptions = {
      seed: integerFlag('seed', values.seed, 0), customers: integerFlag('customers', values.customers), start: dayFlag('start', values.start),
      days: integerFlag('days', values.days), feedback: numberFlag('feedback', values.feedback, 0, 100),
    };
    const rate = numberFlag('rate', values.rate, 0);
    const durationS = values.duration === undefined ? undefined : numberFlag('duration', values.duration, 0, Number.POSITIVE_INFINITY, true);
    const maxEvents = values['max-events'] === undefined ? undefined : integerFlag('max-events', values['max-events']);
    const { createBank, runFeeder, writeHistory, createProgress } = await import('../simulator/mod.js');
    const bank = createBank(bankOptions);
    if (values.out) {
      const r = await writeHistory(bank, values.out);
      console.log(`wrote labelled history to ${values.out}: ${JSON.stringify(r)}`);
      return 0;
    }
    const abort = new AbortController();
    const onSig = (): void => abort.abort();
    process.once('SIGINT', onSig);
    process.once('SIGTERM', onSig);
    const apiKey = process.env.VAFA_SIMULATE_KEY?.trim() || (process.env.VAFA_API_KEYS ?? '').split(',')[0]?.trim();
    const natsUrl = values['no-answers'] ? undefined : (values.nats ?? process.env.NATS_URL);
    const progress = createProgress();
    const summary = await runFeeder({
      target: values.target, bank, rate, signal: abort.signal, onProgress: (p) => progress.update(p),
      ...(durationS !== undefined ? { durationS } : {}),
      ...(maxEvents !== undefined ? { maxEvents } : {}),
      ...(apiKey ? { apiKey } : {}),
      ...(natsUrl ? { respond: { natsUrl } } : {}),
    });
    console.log(JSON.stringify(summary));
    return summary.failed > 0 ? 1 : 0;
  },
};
