/**
 * The `vafa` command line (CONTRACT.md, "CLI"): up, ingest, scorer, warehouse, simulate, train, bench,
 * migrate, replay. Each command parses its flags, loads settings (env + flags), and runs until done or
 * until SIGINT/SIGTERM, then shuts down gracefully.
 */
import { parseArgs } from 'node:util';
import { loadSettings, SettingsError } from '../config/settings.js';
import { createLogger } from '../runtime/log.js';

export interface Command {
  summary: string;
  usage: string;
  run(argv: string[]): Promise<number>;
}

const COMMANDS: Record<string, () => Promise<Command>> = {
  up: async () => (await import('./up.js')).upCommand,
  ingest: async () => (await import('./roles.js')).ingestCommand,
  scorer: async () => (await import('./roles.js')).scorerCommand,
  warehouse: async () => (await import('./roles.js')).warehouseCommand,
  migrate: async () => (await import('./roles.js')).migrateCommand,
  simulate: async () => (await import('./simulate.js')).simulateCommand,
  train: async () => (await import('./train.js')).trainCommand,
  bench: async () => (await import('../bench/main.js')).benchCommand,
  replay: async () => (await import('./replay.js')).replayCommand,
};

function help(): string {
  return [
    'vafa — real-time transaction scoring for retail banks',
    '',
    'usage: vafa <command> [options]',
    '',
    '  up         all-in-one: local NATS + embedded ClickHouse (unless NATS_URL / CLICKHOUSE_URL), API, ISO 8583, scorer',
    '             --simulate [--rate N --customers N --duration S]   feed it with the synthetic bank',
    '  ingest     the HTTP API and ISO 8583 listener only',
    '  scorer     the scorer only (VAFA_SCORER_PARTITIONS picks partitions)',
    '  warehouse  the embedded ClickHouse (chDB) behind the ClickHouse HTTP interface',
    '  simulate   synthetic bank traffic into a running vafa, or labelled history to a folder',
    '  train      train the churn model from history and export it to ONNX',
    '  bench      throughput and latency against the raw NATS ceilings',
    '  migrate    create the ClickHouse schema',
    '  replay     rebuild the ClickHouse tables from stream TX (--from <seq|time>)',
    '',
    'Settings come from the environment (see README.md, "Configuration").',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(help());
    return name ? 0 : 2;
  }
  const load = COMMANDS[name];
  if (!load) {
    console.error(`vafa: unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  try {
    const cmd = await load();
    if (rest.includes('--help') || rest.includes('-h')) {
      console.log(`${cmd.summary}\n\n${cmd.usage}`);
      return 0;
    }
    return await cmd.run(rest);
  } catch (err) {
    if (err instanceof SettingsError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`vafa ${name}: ${(err as Error).message}`);
      return 2;
    }
    createLogger({ name }).fatal({ err }, `vafa ${name} failed`);
    return 1;
  }
}

/** Resolves on SIGINT/SIGTERM (or the optional deadline), whichever comes first. */
export function untilSignal(deadlineS?: number): Promise<string> {
  return new Promise((resolve) => {
    const done = (why: string): void => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      if (timer) clearTimeout(timer);
      resolve(why);
    };
    const onInt = (): void => done('SIGINT');
    const onTerm = (): void => done('SIGTERM');
    process.once('SIGINT', onInt);
    process.once('SIGTERM', onTerm);
    const timer = deadlineS ? setTimeout(() => done('duration'), deadlineS * 1000) : undefined;
  });
}

export { parseArgs, loadSettings, createLogger };
