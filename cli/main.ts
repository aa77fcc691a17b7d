/**
 * The `vafa` command line (../shared/CONTRACT.md, "CLI"): up, ingest, scorer, warehouse, simulate, train, bench,
 * migrate, replay. Each command parses its flags, loads settings (env + flags), and runs until done or
 * until SIGINT/SIGTERM, then shuts down gracefully within `VAFA_SHUTDOWN_MS`; another signal while it
 * stops forces the exit (engines killed, exit code 130 / 143).
 */
import { parseArgs } from 'node:util';
import { createLogger, enginePids, killEngines, PortInUseError, sleep } from '../platform/mod.js';
import type { Command } from '../app/mod.js';

/** After a command returns, a handle left open (a socket, a timer) must not keep the process alive. */
const LINGER_MS = 3000;

/** The shape of a subcommand lives below cli/ so that bench/ (a subcommand) does not import cli/. */
export type { Command };

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
  backfill: async () => (await import('./backfill.js')).backfillCommand,
  keys: async () => (await import('./keys.js')).keysCommand,
  erase: async () => (await import('./erase.js')).eraseCommand,
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
    '  backfill   load a bank\'s history from files into the state store and ClickHouse before going live',
    '  keys       make scoped API keys for VAFA_API_KEY_FILE (new | hash --id ID --scopes read,ingest,admin)',
    '  erase      erase a customer from the warehouse (--customer ID [--reference TICKET] [--yes])',
    '',
    'Settings come from the environment (see README.md, "Configuration").',
  ].join('\n');
}

/** `vafa up | tee log` + Ctrl-C: tee dies first; writes to the closed pipe must not crash the stop. */
function ignoreBrokenPipes(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
    });
  }
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
  const code = await runCommand(name, load, rest);
  setTimeout(() => process.exit(code), LINGER_MS).unref();
  return code;
}

async function runCommand(name: string, load: () => Promise<Command>, rest: string[]): Promise<number> {
  try {
    const cmd = await load();
    if (rest.includes('--help') || rest.includes('-h')) {
      console.log(`${cmd.summary}\n\n${cmd.usage}`);
      return 0;
    }
    ignoreBrokenPipes();
    return await cmd.run(rest);
  } catch (err) {
    if (await isUsageError(err)) {
      console.error(`vafa ${name}: ${(err as Error).message}`);
      return 2;
    }
    createLogger({ name }).fatal({ err }, `vafa ${name} failed`);
    return 1;
  }
}

/**
 * A bad setting or flag, or a port to listen on that another process holds: the command exits with code 2 and one line. config/ is imported here rather than at
 * the top, so that `vafa --help` loads no settings or policy code.
 */
async function isUsageError(err: unknown): Promise<boolean> {
  const { SettingsError, UsageError } = await import('../config/mod.js');
  return err instanceof SettingsError || err instanceof UsageError || err instanceof PortInUseError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true;
}

type SignalPhase = 'none' | 'starting' | 'waiting' | 'stopping';

let phase: SignalPhase = 'none';
let onFirstSignal: ((why: string) => void) | undefined;

const EXIT_CODE: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

function onSignal(signal: NodeJS.Signals): void {
  if (phase === 'waiting') {
    phase = 'stopping';
    onFirstSignal?.(signal);
    return;
  }
  if (phase === 'starting') {
    void stopWhileStarting(signal);
    return;
  }
  forceExit(`${signal} while stopping`, EXIT_CODE[signal] ?? 1);
}

/** Nothing to drain yet: ask the engines to stop (bounded), then exit. A second signal still forces. */
async function stopWhileStarting(signal: NodeJS.Signals): Promise<void> {
  phase = 'stopping';
  process.stderr.write(`\nvafa: ${signal} while starting: stopping\n`);
  killEngines('SIGTERM');
  const deadline = Date.now() + 5000;
  while (enginePids().length > 0 && Date.now() < deadline) await sleep(50);
  killEngines('SIGKILL');
  process.exit(EXIT_CODE[signal] ?? 1);
}

/** Kills every engine this process started and exits at once with `code`, saying why on one line. */
export function forceExit(reason: string, code: number): never {
  const pids = killEngines('SIGKILL');
  process.stderr.write(`\nvafa: ${reason}: forced exit${pids.length ? ` (killed engines, pids ${pids.join(' ')})` : ''}\n`);
  process.exit(code);
}

/**
 * Takes over SIGINT/SIGTERM for a long-running command that is starting: a signal now stops the engines
 * started so far and exits (130 for SIGINT, 143 for SIGTERM). Called by `untilSignal` too.
 */
export function guardSignals(): void {
  if (phase !== 'none') return;
  phase = 'starting';
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

/**
 * Resolves on the first SIGINT/SIGTERM (or after `deadlineS`, with 'duration'), whichever comes first:
 * the command then stops gracefully. From then on, another signal forces the exit (`forceExit`).
 */
export function untilSignal(deadlineS?: number): Promise<string> {
  guardSignals();
  phase = 'waiting';
  return new Promise((resolve) => {
    const timer = deadlineS ? setTimeout(() => done('duration'), deadlineS * 1000) : undefined;
    const done = (why: string): void => {
      phase = 'stopping';
      onFirstSignal = undefined;
      clearTimeout(timer);
      resolve(why);
    };
    onFirstSignal = done;
  });
}

/**
 * A hard limit on a graceful stop: after `ms` the process exits as on a second signal. The timer does
 * not keep the process alive; call the returned function when the stop finished.
 */
export function forceAfter(ms: number, what = 'graceful stop'): () => void {
  const timer = setTimeout(() => forceExit(`${what} took longer than ${(ms / 1000).toFixed(1)} s`, 1), ms);
  timer.unref();
  return () => clearTimeout(timer);
}

export { parseArgs, createLogger };
