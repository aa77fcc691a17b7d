/**
 * NATS connection and the JetStream streams of the contract: `TX`, `OFFERS`, `DLQ`.
 * Single-node defaults here; production settings (R3, placement) come from config — see docs/operations.md.
 */
import { readFileSync } from 'node:fs';
import { AuthorizationError, connect, credsAuthenticator, nanos, nkeyAuthenticator, UserAuthenticationExpiredError, type ConnectionOptions, type NatsConnection, type Status } from '@nats-io/transport-node';
import { jetstreamManager, RetentionPolicy, StorageType, DiscardPolicy, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import { STREAM_DLQ, STREAM_OFFERS, STREAM_TX } from '../contracts/subjects.js';
import type { Logger } from './log.js';
import { errorSummary, FailureEpisode } from './episode.js';
import { sleep } from './deadline.js';

/** NATS credentials from settings (`NATS_USER`/`NATS_PASSWORD`, `NATS_TOKEN`, `NATS_CREDS`, `NATS_NKEY`); docs/security.md. */
export interface NatsAuth {
  natsUser?: string | undefined;
  natsPassword?: string | undefined;
  natsToken?: string | undefined;
  /** Path of a `.creds` file (user JWT and nkey seed, from `nsc`). */
  natsCreds?: string | undefined;
  /** Path of a file holding an nkey seed (`SU…`). */
  natsNkey?: string | undefined;
}

/** Connection options for the credentials given (files are read now: a missing one fails the start, naming it). */
export function natsAuthOptions(a: NatsAuth = {}): Partial<ConnectionOptions> {
  const read = (file: string, what: string): Uint8Array => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`${what}: cannot read ${file}: ${(err as Error).message}`, { cause: err });
    }
  };
  if (a.natsCreds) return { authenticator: credsAuthenticator(read(a.natsCreds, 'NATS_CREDS')) };
  if (a.natsNkey) return { authenticator: nkeyAuthenticator(new TextEncoder().encode(new TextDecoder().decode(read(a.natsNkey, 'NATS_NKEY')).trim())) };
  if (a.natsToken) return { token: a.natsToken };
  if (a.natsUser) return { user: a.natsUser, ...(a.natsPassword ? { pass: a.natsPassword } : {}) };
  return {};
}

/** Options of {@link connectNats}. */
export interface ConnectNatsOptions {
  /**
   * Longest wait for the first connection, ms: a process may start while NATS is (re)starting, so the first
   * connect is retried (said in the log every few seconds) until then, and then fails with
   * {@link NatsUnreachableError}. Once connected, the connection reconnects for ever. Default 300,000
   * (`VAFA_STARTUP_TIMEOUT_MS`'s default).
   */
  firstConnectMs?: number;
}

/** No NATS server of the URL answered within the first connection's deadline, or the server refused the credentials. */
export class NatsUnreachableError extends Error {
  override readonly name = 'NatsUnreachableError';
}

/** Pause between two first-connection attempts, ms. */
const FIRST_CONNECT_RETRY_MS = 500;
/** Longest a single connection attempt may take, ms (a host that drops packets answers nothing). */
const CONNECT_ATTEMPT_MS = 5000;

/**
 * A connection to `url` (comma-separated servers). The first connection is tried until
 * `firstConnectMs` (refused credentials are not retried); then the client reconnects for ever, its status
 * logged as one failure episode.
 */
export async function connectNats(url: string, name: string, logger?: Logger, auth?: NatsAuth, options: ConnectNatsOptions = {}): Promise<NatsConnection> {
  const waitMs = options.firstConnectMs ?? 300_000;
  const deadline = Date.now() + waitMs;
  const episode = logger ? new FailureEpisode(logger, 'nats connection', { repeatMs: 5000 }) : undefined;
  const authOptions = natsAuthOptions(auth);
  for (;;) {
    const left = deadline - Date.now();
    try {
      const nc = await connect({
        ...authOptions,
        servers: url.split(','),
        name,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 500,
        waitOnFirstConnect: false,
        timeout: Math.max(1000, Math.min(CONNECT_ATTEMPT_MS, left)),
        pingInterval: 10_000,
        // Stack traces captured for every request cost more CPU than the publish itself on the hot path.
        noAsyncTraces: true,
      });
      episode?.ok({ url });
      if (logger && episode) void logNatsStatus(nc.status(), episode, logger).catch(() => undefined);
      return nc;
    } catch (err) {
      if (err instanceof AuthorizationError || err instanceof UserAuthenticationExpiredError) {
        throw new NatsUnreachableError(`NATS at ${url} refused the credentials: ${errorSummary(err)}`, { cause: err });
      }
      if (Date.now() >= deadline) {
        throw new NatsUnreachableError(`NATS at ${url} not reachable within ${Math.round(waitMs / 1000)} s: ${errorSummary(err)}`, { cause: err });
      }
      episode?.fail(err, { url, gives_up_in_s: Math.round(left / 1000) });
      await sleep(Math.min(FIRST_CONNECT_RETRY_MS, Math.max(0, deadline - Date.now())));
    }
  }
}

/**
 * Connection status as a failure episode: a disconnect, the reconnect attempts and server errors are
 * one episode (a line when it starts, a count every few seconds), a reconnect ends it.
 */
export async function logNatsStatus(statuses: AsyncIterable<Status>, episode: FailureEpisode, logger: Logger): Promise<void> {
  for await (const s of statuses) {
    switch (s.type) {
      case 'disconnect': episode.fail(new Error(`disconnected from ${s.server}`), { server: s.server }); break;
      case 'reconnecting': episode.fail(new Error('reconnecting')); break;
      case 'staleConnection': episode.fail(new Error('stale connection')); break;
      case 'error': episode.fail(s.error); break;
      case 'reconnect': episode.ok({ server: s.server }); break;
      case 'ldm': logger.info({ server: s.server }, 'nats server entering lame duck mode'); break;
      default: break;
    }
  }
}

export interface StreamSettings {
  replicas: number;
  duplicateWindowS: number;
}

export function streamConfigs(s: StreamSettings): (Partial<StreamConfig> & { name: string })[] {
  const common = { storage: StorageType.File, num_replicas: s.replicas, retention: RetentionPolicy.Limits, discard: DiscardPolicy.Old };
  return [
    // TX is the source of truth: replay rebuilds everything from it, so it keeps history (no age limit by default).
    { ...common, name: STREAM_TX, subjects: ['tx.>'], duplicate_window: nanos(s.duplicateWindowS * 1000), description: 'transactions, profiles, feedback and redemptions, partitioned by customer' },
    { ...common, name: STREAM_OFFERS, subjects: ['offers.>'], duplicate_window: nanos(s.duplicateWindowS * 1000), max_age: nanos(30 * 86_400_000), description: 'next-best-offer triggers' },
    { ...common, name: STREAM_DLQ, subjects: ['dlq.>'], max_age: nanos(30 * 86_400_000), description: 'undecodable or unprocessable messages, with the reason' },
  ];
}

/** Creates the streams when missing and reconciles the settings that may change in place. */
export async function ensureStreams(jsm: JetStreamManager, s: StreamSettings): Promise<void> {
  for (const cfg of streamConfigs(s)) {
    const name = cfg.name as string;
    try {
      const info = await jsm.streams.info(name);
      const want = { duplicate_window: cfg.duplicate_window, num_replicas: cfg.num_replicas, max_age: cfg.max_age ?? info.config.max_age };
      if (info.config.duplicate_window !== want.duplicate_window || info.config.num_replicas !== want.num_replicas || info.config.max_age !== want.max_age) {
        await jsm.streams.update(name, { ...info.config, ...want });
      }
    } catch (err) {
      if (!/stream not found/i.test((err as Error).message)) throw err;
      await jsm.streams.add(cfg);
    }
  }
}

export async function natsJsm(nc: NatsConnection): Promise<JetStreamManager> {
  return await jetstreamManager(nc, { timeout: 10_000 });
}
