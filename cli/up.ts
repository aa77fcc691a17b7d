/**
 * `vafa up`: the all-in-one. Without NATS_URL / CLICKHOUSE_URL it starts a local nats-server with
 * JetStream and the embedded ClickHouse engine, then the API, the ISO 8583 listener and the scorer;
 * with `--simulate` the synthetic bank feeds it over the HTTP API: first its history up to now is
 * backfilled (`--history-days`, cli/up-history.ts), then its customers go on live at the wall clock.
 * `--duration S` stops it by itself and prints a summary.
 */
import { parseArgs } from 'node:util';
import { loadSettings, DEMO_TOKEN_KEY, RETENTION_OFF, type Settings } from '../config/mod.js';
import { checkPortsFree, createLogger, withDeadline, type Logger } from '../platform/mod.js';
import { portsToListenOn, startStack, type Stack, countRows, waitForDrain } from '../app/mod.js';
import { integerFlag, numberFlag } from './flags.js';
import { forceAfter, guardSignals, untilSignal, type Command } from './main.js';
import type { FeederProgress, FeederSummary } from '../simulator/mod.js';
import type { DemoWithHistory } from './up-history.js';
import type { ScorerStats } from '../scorer/runtime/mod.js';

/**
 * Budget of a stop after Ctrl-C / SIGTERM, ms: each step gets at most its share, and `forceAfter` ends
 * the process `marginMs` before `VAFA_SHUTDOWN_MS` (default 15 s) after the signal, whatever still runs.
 */
const STOP = {
  /** The simulator feed (its requests in flight). */
  feedMs: 1500,
  /** HTTP API, ISO 8583 listener, rules watcher. */
  inputMs: 1500,
  /** The scorer catching up with what was accepted, at most. */
  drainMs: 3000,
  /** The scorer's final flush, ack and checkpoint, at least (it gets what the other steps leave). */
  scorerMinMs: 1500,
  /** The summary's row counts, all together. */
  summaryMs: 1500,
  /** NATS and ClickHouse clients. */
  clientsMs: 1000,
  /** The local engines, stopped together. */
  enginesMs: 2500,
  /** Left between the last step and the hard limit. */
  marginMs: 1000,
  /** A `--duration` run is not in a hurry: it waits this long for the scorer to catch up. */
  durationDrainMs: 60_000,
} as const;

const tty = process.stdout.isTTY === true && !process.env.NO_COLOR;
const bold = (s: string): string => (tty ? `\x1b[1m${s}\x1b[22m` : s);
const green = (s: string): string => (tty ? `\x1b[1;32m${s}\x1b[0m` : s);

/** The "vafa is up" lines: where to look and how to stop, set apart from the log lines around them. */
export function upBanner(stack: Stack, simulate: boolean): string {
  const rule = '─'.repeat(72);
  const row = (k: string, v: string): string => `  ${k.padEnd(11)} ${bold(v)}`;
  return [
    '', rule, green('  vafa is up'),
    row('dashboard', `${stack.apiUrl}/`),
    row('API docs', `${stack.apiUrl}/docs`),
    ...(stack.iso8583Port ? [row('ISO 8583', `port ${stack.iso8583Port}`)] : []),
    row('NATS', stack.natsUrl),
    row('ClickHouse', stack.clickhouseUrl),
    row('data', stack.settings.dataDir),
    `  ${simulate ? 'The synthetic bank is feeding it. ' : ''}Stop with ${bold('Ctrl-C')} (drains, then prints a summary); twice to force.`,
    rule, '',
  ].join('\n');
}

/** Times consecutive steps: `took('x')` ends step x; `report()` lists them in seconds. */
function stepTimer(): ((step: string) => void) & { report(): string } {
  const steps: string[] = [];
  let last = Date.now();
  return Object.assign((step: string) => {
    const now = Date.now();
    steps.push(`${step} ${((now - last) / 1000).toFixed(1)}`);
    last = now;
  }, { report: () => steps.join(', ') });
}

/** Defaults of the simulated bank (`vafa up --simulate`). */
export const DEMO = {
  /** Days of simulated history backfilled before going live (0: none, the bank starts on 2025-01-01 and plays in the past). */
  historyDays: 365,
  /** Customers of the bank with a history: its backfill takes tens of seconds on 2 cores (docs/backfill.md). */
  customersWithHistory: 500,
  /** Customers of the bank without a history. */
  customers: 2000,
  /** Feedback volume with a history: the realistic rates (a year of it holds plenty). */
  feedbackWithHistory: 1,
  /** Feedback volume without: a demo covers a few simulated days, so complaints, resolutions and survey answers show within a minute. */
  feedback: 10,
} as const;

interface RunFacts {
  why: string;
  started: number;
  history: DemoWithHistory | undefined;
  fed: FeederSummary | undefined;
  stats: ScorerStats | undefined;
  drained: boolean;
}

/** The summary lines (row counts read while the warehouse still runs; `null` where it did not answer in time). */
async function summarize(stack: Stack, f: RunFacts): Promise<string> {
  const tables = ['scored_transactions', 'points_ledger', 'customer_state', 'offers', 'feedback'];
  const counts = await withDeadline(Promise.all(tables.map((t) => countRows(stack, t))), STOP.summaryMs, 'row counts').catch(() => tables.map(() => null));
  const rows = Object.fromEntries(tables.map((t, i) => [t, counts[i]]));
  const { fed } = f;
  const seconds = (Date.now() - f.started) / 1000;
  const b = f.history?.backfill;
  const summary = {
    stopped_by: f.why,
    seconds: Number(seconds.toFixed(1)),
    ...(f.history ? {
      history: b ? { events: b.events, seconds: Number(b.seconds.toFixed(1)), events_per_second: Math.round(b.eventsPerSecond), cutover: b.cutover } : { cutover: f.history.marker.cutover, backfilled: 'before' },
    } : {}),
    events_in: fed?.accepted ?? null,
    duplicates: fed?.duplicates ?? null,
    invalid: fed?.invalid ?? null,
    // requests still in flight when the run stopped: the API may have stored them (they count as rows)
    unconfirmed_at_stop: fed?.failed ?? null,
    events_scored: f.stats?.events ?? null,
    feedback_in: fed?.feedback ?? null,
    surveys: fed?.surveys ? { triggers_seen: fed.surveys.surveys, answered: fed.surveys.answered } : null,
    rows_stored: rows,
    // With a history the run began with the backfill: the live rate is over the feed's own time.
    events_per_second: fed ? Number((fed.accepted / (f.history ? Math.max(1e-3, fed.seconds) : seconds)).toFixed(1)) : null,
    drained: f.drained,
  };
  const lines = Object.entries(summary).map(([k, v]) => `  ${k.padEnd(20)} ${typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}`);
  return ['', bold('summary'), ...lines].join('\n');
}

/** The stack started without its HTTP API, which the simulated bank posts to. */
function noApiUrl(): never {
  throw new Error('vafa up --simulate: the stack started without its HTTP API');
}

export const upCommand: Command = {
  summary: 'Run vafa all-in-one on embedded defaults (local NATS, embedded ClickHouse), optionally fed by the simulator.',
  usage: [
    'vafa up [--simulate] [--history-days 365] [--rate 300] [--customers 500] [--seed 42] [--feedback 1] [--duration SECONDS]',
    '  --simulate     feed it with the synthetic bank over the HTTP API',
    `  --history-days N  first backfill the bank's last N days up to now (default ${DEMO.historyDays}; 0: no history, the bank plays from 2025-01-01)`,
    '  --rate N       simulated events per second (default 300); with a history the bank\'s future is played at this rate, stamped with the wall clock',
    `  --customers N  simulated customers (default ${DEMO.customersWithHistory} with a history, ${DEMO.customers} without)`,
    '  --days N       without a history: simulated days (default 365)',
    `  --feedback X   complaints, compliments and bank surveys × X the realistic rates (default ${DEMO.feedbackWithHistory} with a history, ${DEMO.feedback} without: then a demo covers a few simulated days)`,
    '  --duration S   stop by itself after S seconds and print a summary',
  ].join('\n'),
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: {
        simulate: { type: 'boolean', default: false },
        rate: { type: 'string', default: '300' },
        customers: { type: 'string' },
        'history-days': { type: 'string', default: String(DEMO.historyDays) },
        days: { type: 'string', default: '365' },
        seed: { type: 'string', default: '42' },
        feedback: { type: 'string' },
        duration: { type: 'string' },
      },
    });
    const o = upOptions(values);
    const loaded = loadSettings();
    // Before anything starts (the history's backfill starts engines of its own): a second `vafa up` is refused at once.
    await checkPortsFree(portsToListenOn(loaded, { iso8583: true }));
    const logger = createLogger({ level: loaded.logLevel, name: 'up' });
    // The synthetic bank's history starts on 2025-01-01: under the default TTLs it would expire as it arrives.
    const keepSynthetic = values.simulate === true && process.env.VAFA_RETENTION_DAYS === undefined;
    const settings = keepSynthetic ? { ...loaded, retentionDays: RETENTION_OFF } : loaded;
    if (keepSynthetic) logger.info('retention off for the synthetic bank (its rows keep their simulated dates); set VAFA_RETENTION_DAYS to apply TTLs');
    if (settings.tokenKey === DEMO_TOKEN_KEY) logger.warn('VAFA_TOKEN_KEY is not set: card tokens use the demo key (fine for a demo, never for real card data)');
    guardSignals();
    const started = Date.now();
    let history: DemoWithHistory | undefined;
    if (o.withHistory) {
      const { prepareHistory } = await import('./up-history.js');
      history = await prepareHistory({ settings, logger, seed: o.seed, customers: o.customers, feedback: o.feedback, historyDays: o.historyDays });
    }
    const stack = await startStack({ settings, logger, iso8583: true });
    console.log(upBanner(stack, o.simulate));

    const abort = new AbortController();
    const feeder = o.simulate ? await startFeed(stack, settings, o, history, abort.signal) : undefined;
    const why = await untilSignal(o.durationS);
    await stopUp({ stack, settings, logger, why, started, history, feeder, abort, durationS: o.durationS });
    return 0;
  },
};

/** `vafa up`'s arguments, checked. */
interface UpOptions {
  simulate: boolean;
  rate: number;
  seed: number;
  days: number;
  customers: number;
  feedback: number;
  historyDays: number;
  /** Simulated, with days of history to backfill first. */
  withHistory: boolean;
  durationS: number | undefined;
}

/** Checks `vafa up`'s arguments; throws a UsageError naming the first one that is wrong. */
function upOptions(values: { simulate?: boolean; rate?: string; customers?: string; 'history-days'?: string; days?: string; seed?: string; feedback?: string; duration?: string }): UpOptions {
  const durationS = values.duration === undefined ? undefined : numberFlag('duration', values.duration, 0, Number.POSITIVE_INFINITY, true);
  const historyDays = integerFlag('history-days', values['history-days'] ?? String(DEMO.historyDays), 0, 3650);
  const withHistory = values.simulate === true && historyDays > 0;
  const customers = values.customers === undefined ? (withHistory ? DEMO.customersWithHistory : DEMO.customers) : integerFlag('customers', values.customers);
  const feedback = values.feedback === undefined ? (withHistory ? DEMO.feedbackWithHistory : DEMO.feedback) : numberFlag('feedback', values.feedback, 0, 100);
  return {
    simulate: values.simulate === true, rate: numberFlag('rate', values.rate ?? '300', 0), seed: integerFlag('seed', values.seed ?? '42', 0),
    days: integerFlag('days', values.days ?? '365'), customers, feedback, historyDays, withHistory, durationS,
  };
}

/** The simulator feeding the stack over its HTTP API, and its progress line. */
interface Feeder {
  feed: Promise<FeederSummary>;
  /** Ends the progress line with the last progress reported. */
  finishProgress(): void;
}

/**
 * Starts the synthetic bank feeding the stack: with a history, its live part (the profiles are in the
 * state store already: events only); without, a bank that starts on 2025-01-01.
 */
async function startFeed(stack: Stack, settings: Settings, o: UpOptions, history: DemoWithHistory | undefined, signal: AbortSignal): Promise<Feeder> {
  const { createBank, runFeeder, createProgress } = await import('../simulator/mod.js');
  const line = createProgress();
  let lastProgress: FeederProgress | undefined;
  const start = new Date(Date.UTC(2025, 0, 1));
  const live = history;
  const bank = live
    ? { profiles: () => [], events: () => live.live, options: live.bank.options }
    : createBank({ seed: o.seed, customers: o.customers, start, days: o.days, feedback: o.feedback });
  const feed = runFeeder({
    target: stack.apiUrl ?? noApiUrl(), bank, ...(live ? { sendProfiles: false, timeline: live.timeline } : {}), rate: o.rate, signal, onProgress: (p) => { lastProgress = p; line.update(p); },
    ...(o.durationS ? { durationS: o.durationS } : {}), ...(settings.apiKeys[0] ? { apiKey: settings.apiKeys[0] } : {}),
    // Closed loop: the simulated customers answer the surveys the scorer sends.
    respond: { natsUrl: stack.natsUrl },
  });
  return { feed, finishProgress: () => { if (lastProgress) line.done(lastProgress); } };
}

/**
 * Stops a running `vafa up` in order: the feed, the inputs, the scorer's drain, the scorer, the summary,
 * the engines. After a signal the whole stop has a hard limit; a --duration run may take its time to drain.
 */
async function stopUp(r: {
  stack: Stack; settings: Settings; logger: Logger; why: string; started: number; history: DemoWithHistory | undefined;
  feeder: Feeder | undefined; abort: AbortController; durationS: number | undefined;
}): Promise<void> {
  const { stack, settings, logger, why, history, feeder } = r;
  const stopping = Date.now();
  const interrupted = why !== 'duration';
  const hardMs = Math.max(STOP.scorerMinMs, settings.shutdownMs - STOP.marginMs);
  const cancelForce = interrupted ? forceAfter(hardMs, `stop after ${why}`) : () => undefined;
  if (interrupted) console.log(`\n${bold(`vafa: ${why}: stopping`)} (input, then the scorer drains, then the engines; ${why} again to force)`);
  const took = stepTimer();
  r.abort.abort();
  const fed = feeder ? await withDeadline(feeder.feed, STOP.feedMs, 'simulator stop').catch((err: Error) => { logger.error({ err: err.message }, 'simulator failed'); return undefined; }) : undefined;
  feeder?.finishProgress();
  try {
    history?.save();
  } catch (err) {
    logger.warn({ err: (err as Error).message }, 'could not note how far the simulated bank got (the next start replays from the last note)');
  }
  took('feed');
  await stack.stopInputs(STOP.inputMs);
  took('input');
  const drained = await waitForDrain(stack, interrupted ? STOP.drainMs : STOP.durationDrainMs);
  took('drain');
  const stats = stack.scorer?.stats();
  const afterScorer = STOP.summaryMs + STOP.clientsMs + STOP.enginesMs + STOP.marginMs;
  await stack.stopScorer(interrupted ? Math.max(STOP.scorerMinMs, hardMs - (Date.now() - stopping) - afterScorer) : settings.shutdownMs);
  took('scorer');
  const report = r.durationS !== undefined || fed ? await summarize(stack, { why, started: r.started, history, fed, stats, drained }) : undefined;
  took('summary');
  await stack.stop({ clients: STOP.clientsMs, engines: STOP.enginesMs });
  took('engines');
  cancelForce();
  if (report) console.log(report);
  console.log(`vafa stopped (${why}) in ${((Date.now() - stopping) / 1000).toFixed(1)} s: ${took.report()}`);
}
