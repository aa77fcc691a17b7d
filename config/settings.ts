/**
 * Process settings: one schema, read from the environment, validated at boot and frozen.
 * A bad value stops the process with a message that names the variable.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import os from 'node:os';
import path from 'node:path';
import { MAX_RETENTION_DAYS, parseRetention, RetentionSettingError, type RetentionDays } from './retention.js';

const Port = Type.Integer({ minimum: 0, maximum: 65535 });

export const SettingsSchema = Type.Object({
  /** HTTP API port. Env `PORT`, default 8080. */
  port: Port,
  /** HTTP bind address. Env `HOST`, default 127.0.0.1 (0.0.0.0 in containers). */
  host: Type.String({ minLength: 1 }),
  /** ISO 8583 TCP listener port. Env `ISO8583_PORT`, default 8583. */
  iso8583Port: Port,
  /**
   * A bank's ISO 8583 spec file (JSON, docs/iso8583.md): a built-in dialect to extend (`iso8583:1987`,
   * `iso8583:1987-binary`, `iso8583:1993`, `base24`), its field definitions, wire options and mapping
   * tables (processing codes with their direction, e-commerce indicators, MCC rules, currencies,
   * field 90 layout, response codes and echo list). Default none: the contract's ISO 8583:1987 ASCII
   * with the default tables. Read at start; a bad file stops the start naming its line. Env `VAFA_ISO8583_SPEC`.
   */
  iso8583Spec: Type.Optional(Type.String({ minLength: 1 })),
  /** External NATS server; unset → the all-in-one starts a local nats-server. Env `NATS_URL`. */
  natsUrl: Type.Optional(Type.String({ pattern: '^(nats|tls|ws|wss)://' })),
  /** Port of the local nats-server started when `NATS_URL` is unset. Env `VAFA_NATS_PORT`, default 4222. */
  localNatsPort: Port,
  /** External ClickHouse HTTP URL; unset → the embedded engine on `localClickhousePort`. Env `CLICKHOUSE_URL`. */
  clickhouseUrl: Type.Optional(Type.String({ pattern: '^https?://' })),
  /** Port of the embedded ClickHouse HTTP interface. Env `VAFA_CLICKHOUSE_PORT`, default 8123. */
  localClickhousePort: Port,
  /** ClickHouse user / password. Env `CLICKHOUSE_USER` (default `default`), `CLICKHOUSE_PASSWORD`. */
  clickhouseUser: Type.String(),
  clickhousePassword: Type.String(),
  /** ClickHouse database. Env `CLICKHOUSE_DATABASE`, default `vafa`. */
  clickhouseDatabase: Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }),
  /** Data directory (embedded NATS store, embedded ClickHouse, checkpoints). Env `VAFA_DATA_DIR`, default ./data. */
  dataDir: Type.String({ minLength: 1 }),
  /** Number of partitions of `tx.>`; fixed for the life of a stream. Env `VAFA_PARTITIONS`, default 8. */
  partitions: Type.Integer({ minimum: 1, maximum: 1024 }),
  /** Stream replicas (1 on one node, 3 on a production cluster). Env `VAFA_STREAM_REPLICAS`, default 1. */
  streamReplicas: Type.Integer({ minimum: 1, maximum: 5 }),
  /** JetStream duplicate window for `Nats-Msg-Id` de-duplication, seconds. Env `VAFA_DUPLICATE_WINDOW_S`, default 86400. */
  duplicateWindowS: Type.Integer({ minimum: 1 }),
  /** Bearer keys holding every scope (ingest, read, admin); with none here nor in a key file, the API is open. Env `VAFA_API_KEYS` (comma-separated). */
  apiKeys: Type.Array(Type.String({ minLength: 16 })),
  /** Scoped, hashed API keys (`<id> <scopes> sha256:<hex>` a line; `vafa keys new`), re-read on change. Env `VAFA_API_KEY_FILE`. */
  apiKeyFile: Type.Optional(Type.String({ minLength: 1 })),
  /** Dashboard session lifetime, seconds. Env `VAFA_SESSION_TTL_S`, default 28800 (8 h). */
  sessionTtlS: Type.Integer({ minimum: 60, maximum: 7 * 86_400 }),
  /** Trusted reverse-proxy header naming the signed-in user (read scope); off when unset. Env `VAFA_PROXY_USER_HEADER`. */
  proxyUserHeader: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9-]{1,64}$' })),
  /** Addresses the proxy header is believed from. Env `VAFA_TRUSTED_PROXIES` (comma-separated), default 127.0.0.1,::1. */
  trustedProxies: Type.Array(Type.String({ minLength: 1 })),
  /** NATS credentials (docs/security.md): user/password, token, a .creds file (JWT + nkey) or an nkey seed file. Env `NATS_USER`, `NATS_PASSWORD`, `NATS_TOKEN`, `NATS_CREDS`, `NATS_NKEY`. */
  natsUser: Type.Optional(Type.String({ minLength: 1 })),
  natsPassword: Type.Optional(Type.String({ minLength: 1 })),
  natsToken: Type.Optional(Type.String({ minLength: 1 })),
  natsCreds: Type.Optional(Type.String({ minLength: 1 })),
  natsNkey: Type.Optional(Type.String({ minLength: 1 })),
  /** Requests per minute allowed per API key (or per client address without keys); 0 = unlimited. Env `VAFA_RATE_LIMIT_PER_MIN`, default 0. */
  rateLimitPerMin: Type.Integer({ minimum: 0 }),
  /** Secret key of the card tokenizer (HMAC-SHA-256). Env `VAFA_TOKEN_KEY`. Required outside the demo. */
  tokenKey: Type.String({ minLength: 16 }),
  /** Log level. Env `LOG_LEVEL`, default info. */
  logLevel: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l))),
  /** Log format: `pretty` (human-readable lines), `json` (one object a line) or `auto` (pretty when stdout is a terminal). Env `LOG_FORMAT`, default auto. */
  logFormat: Type.Union([Type.Literal('pretty'), Type.Literal('json'), Type.Literal('auto')]),
  /** Scorer: most messages pulled per batch. Env `VAFA_SCORER_BATCH`, default 1000. */
  scorerBatch: Type.Integer({ minimum: 1, maximum: 10000 }),
  /** Scorer: longest a pull waits to fill a batch, ms. Env `VAFA_SCORER_WAIT_MS`, default 50. */
  scorerWaitMs: Type.Integer({ minimum: 1, maximum: 10000 }),
  /**
   * Scorer: most timers one batch fires. When event time crosses a moment many customers' timers share
   * (points of a whole bank expiring at the end of a bank day), they fire over several batches, each
   * committed, so memory stays bounded (with the LMDB cache, also at most the cache's share a partition
   * divided by the pipeline depth). Env `VAFA_SCORER_TIMER_SLICE`, default 2000.
   */
  scorerTimerSlice: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
  /**
   * Scorer: least time between two ClickHouse inserts (the starts of two flushes), ms. Rows written meanwhile
   * wait at most this long and share one insert per table: under load, it bounds the inserts (and the
   * MergeTree parts) a second. Env `VAFA_SINK_LINGER_MS`, default 100; a ClickHouse server taking several
   * scorers' inserts may want more (ClickHouse advises about one insert a second per table).
   */
  sinkLingerMs: Type.Integer({ minimum: 1, maximum: 60_000 }),
  /**
   * Scorer: a sink that has not flushed for `sinkLingerMs` flushes a write after this long, ms (the writes of
   * one moment still share an insert): at low and moderate load an event does not wait the whole linger.
   * Env `VAFA_SINK_IDLE_LINGER_MS`, default 2.
   */
  sinkIdleLingerMs: Type.Integer({ minimum: 1, maximum: 60_000 }),
  /** Scorer: take a whole state snapshot at most this often, ms (`file` and `nats` stores; the `lmdb` store commits after every batch). Env `VAFA_CHECKPOINT_MS`, default 5000. */
  checkpointMs: Type.Integer({ minimum: 100 }),
  /** Scorer: partitions this instance owns ("all" or a list like "0,1,5"). Env `VAFA_SCORER_PARTITIONS`, default all. */
  scorerPartitions: Type.Union([Type.Literal('all'), Type.Array(Type.Integer({ minimum: 0 }))]),
  /**
   * Scorer: where state lives. `lmdb`: the LMDB store in the data directory, committed after every batch;
   * `file`: NDJSON snapshots in the data directory; `nats`: snapshots in the NATS object store (scorers on
   * several machines). `auto` (default): `lmdb` with the embedded NATS, `nats` otherwise. Env `VAFA_CHECKPOINTS`.
   */
  checkpointStore: Type.Union([Type.Literal('auto'), Type.Literal('lmdb'), Type.Literal('file'), Type.Literal('nats')]),
  /**
   * Scorer, `lmdb` and `nats` stores: most customers kept decoded in memory by this process, split evenly
   * over the `VAFA_PARTITIONS` partitions (each partition caches at most ⌈this / partitions⌉); the others
   * stay on disk and are read when an event reaches them. 0: every customer of an owned partition is
   * loaded at start (the former behaviour). Env `VAFA_STATE_CACHE_CUSTOMERS`, default 10000: a cached
   * customer after a simulated year takes ~21 KB of heap and buffers today (December 2026, its loyalty history
   * sealed; 7.2 KB encoded), so ~0.2 GiB; raise it as the state shrinks (at 1 KiB a customer, a million fit).
   */
  stateCacheCustomers: Type.Integer({ minimum: 0, maximum: 100_000_000 }),
  /**
   * Scorer, with `VAFA_STATE_CACHE_CUSTOMERS` > 0: also most heap the decoded customers may take in this
   * process, MiB, split evenly over the partitions like the count; a customer is estimated at 4× its
   * record's length (`HEAP_BYTES_PER_RECORD_BYTE`). 0: no bound but the count. Env `VAFA_STATE_CACHE_MB`,
   * default 256. Part of the scorer's memory budget (docs/operations.md, "Memory of a scorer").
   */
  stateCacheMb: Type.Integer({ minimum: 0, maximum: 1_000_000 }),
  /**
   * Scorer, `lmdb` and `nats` stores: map the store's data file in chunks (lmdb's `remapChunks`) so that the
   * pages of it mapped into the process stay under ~0.5–1 GiB however large the store. `0` maps the file
   * whole: a customer read from the store while commits are written then costs 5–10× less CPU (measured
   * December 2026 on the million-customer store: ~115 against ~11 µs a read alone, 113 against 23 µs inside
   * its scorer), but every page read stays
   * mapped, so the process's file-backed RSS grows to the store's hot part (clean file pages, which the
   * kernel reclaims under memory pressure; the anonymous memory is unchanged). Env `VAFA_STATE_MAP_CHUNKS`,
   * `1` (default) or `0` (docs/operations.md, "Memory of a scorer").
   */
  stateMapChunks: Type.Boolean(),
  /** Scorer: partition lease lifetime, ms. Env `VAFA_LEASE_MS`, default 10000. */
  leaseMs: Type.Integer({ minimum: 500 }),
  /** Scorer instance name (unique per process). Env `VAFA_INSTANCE`, default `<hostname>-<pid>`. */
  instance: Type.String({ minLength: 1, pattern: '^[A-Za-z0-9_-]+$' }),
  /** Loyalty rules file. Env `VAFA_RULES`, default config/loyalty-rules.yaml. */
  rulesPath: Type.String(),
  /** How often the rules file is checked for a reload, ms. Env `VAFA_RULES_WATCH_MS`, default 2000. */
  rulesWatchMs: Type.Integer({ minimum: 100 }),
  /** Churn model manifest. Env `VAFA_MODEL`, default models/churn/manifest.json. */
  modelPath: Type.String(),
  /** Offer catalogue. Env `VAFA_OFFERS`, default config/offers.yaml. */
  offersPath: Type.String(),
  /** Lifecycle stage thresholds. Env `VAFA_LIFECYCLE`, default config/lifecycle.yaml. */
  lifecyclePath: Type.String(),
  /** How long a starting process waits for NATS and ClickHouse before giving up, ms. Env `VAFA_STARTUP_TIMEOUT_MS`, default 300000. */
  startupTimeoutMs: Type.Integer({ minimum: 1000 }),
  /** Downstream webhook for offer triggers (optional): POSTed, HMAC-signed, retried. Env `VAFA_WEBHOOK_URL`. */
  webhookUrl: Type.Optional(Type.String({ pattern: '^https?://' })),
  /** HMAC-SHA-256 key of the webhook signatures; required with a webhook URL. Env `VAFA_WEBHOOK_SECRET`. */
  webhookSecret: Type.Optional(Type.String({ minLength: 16 })),
  /** Graceful shutdown deadline, ms: drain until then, force after. Env `VAFA_SHUTDOWN_MS`, default 15000. */
  shutdownMs: Type.Integer({ minimum: 100 }),
  /**
   * Processes serving the HTTP API and the ISO 8583 listener behind their one port each (node:cluster;
   * docs/operations.md, "Ingest on every core"). 0 (default): the role's default, the number of CPUs for
   * `vafa ingest` and the bench, 1 for `vafa up` (the API then runs in the vafa process itself). Env `VAFA_INGEST_WORKERS`.
   */
  ingestWorkers: Type.Integer({ minimum: 0, maximum: 64 }),
  /**
   * Days each ClickHouse table keeps its rows, applied as table TTLs by `vafa migrate` and at start
   * (config/retention.ts has the defaults and why: scored transactions 400, ledger 3,650, access audit
   * 2,555, …; 0 keeps rows for ever). Env `VAFA_RETENTION_DAYS`: `table=days,…` over the defaults.
   */
  retentionDays: Type.Unsafe<RetentionDays>(Type.Record(Type.String(), Type.Integer({ minimum: 0, maximum: MAX_RETENTION_DAYS }))),
});
export type Settings = Readonly<Static<typeof SettingsSchema>>;

/** The env variable behind each setting, for error messages and docs. */
export const ENV_NAMES: Record<keyof Static<typeof SettingsSchema>, string> = {
  port: 'PORT', host: 'HOST', iso8583Port: 'ISO8583_PORT', iso8583Spec: 'VAFA_ISO8583_SPEC', natsUrl: 'NATS_URL', localNatsPort: 'VAFA_NATS_PORT',
  clickhouseUrl: 'CLICKHOUSE_URL', localClickhousePort: 'VAFA_CLICKHOUSE_PORT', clickhouseUser: 'CLICKHOUSE_USER',
  clickhousePassword: 'CLICKHOUSE_PASSWORD', clickhouseDatabase: 'CLICKHOUSE_DATABASE', dataDir: 'VAFA_DATA_DIR',
  partitions: 'VAFA_PARTITIONS', streamReplicas: 'VAFA_STREAM_REPLICAS', duplicateWindowS: 'VAFA_DUPLICATE_WINDOW_S',
  apiKeys: 'VAFA_API_KEYS', apiKeyFile: 'VAFA_API_KEY_FILE', sessionTtlS: 'VAFA_SESSION_TTL_S', proxyUserHeader: 'VAFA_PROXY_USER_HEADER', trustedProxies: 'VAFA_TRUSTED_PROXIES',
  natsUser: 'NATS_USER', natsPassword: 'NATS_PASSWORD', natsToken: 'NATS_TOKEN', natsCreds: 'NATS_CREDS', natsNkey: 'NATS_NKEY', rateLimitPerMin: 'VAFA_RATE_LIMIT_PER_MIN', tokenKey: 'VAFA_TOKEN_KEY', logLevel: 'LOG_LEVEL', logFormat: 'LOG_FORMAT', scorerBatch: 'VAFA_SCORER_BATCH',
  scorerWaitMs: 'VAFA_SCORER_WAIT_MS', scorerTimerSlice: 'VAFA_SCORER_TIMER_SLICE', sinkLingerMs: 'VAFA_SINK_LINGER_MS', sinkIdleLingerMs: 'VAFA_SINK_IDLE_LINGER_MS', checkpointMs: 'VAFA_CHECKPOINT_MS', checkpointStore: 'VAFA_CHECKPOINTS', stateCacheCustomers: 'VAFA_STATE_CACHE_CUSTOMERS', stateCacheMb: 'VAFA_STATE_CACHE_MB', stateMapChunks: 'VAFA_STATE_MAP_CHUNKS', leaseMs: 'VAFA_LEASE_MS', instance: 'VAFA_INSTANCE', scorerPartitions: 'VAFA_SCORER_PARTITIONS',
  rulesPath: 'VAFA_RULES', rulesWatchMs: 'VAFA_RULES_WATCH_MS', modelPath: 'VAFA_MODEL', offersPath: 'VAFA_OFFERS', lifecyclePath: 'VAFA_LIFECYCLE',
  shutdownMs: 'VAFA_SHUTDOWN_MS', webhookUrl: 'VAFA_WEBHOOK_URL', webhookSecret: 'VAFA_WEBHOOK_SECRET', startupTimeoutMs: 'VAFA_STARTUP_TIMEOUT_MS',
  ingestWorkers: 'VAFA_INGEST_WORKERS', retentionDays: 'VAFA_RETENTION_DAYS',
};

export class SettingsError extends Error {
  override readonly name = 'SettingsError';
  constructor(readonly variable: string, readonly value: string | undefined, reason: string) {
    super(`invalid setting ${variable}=${JSON.stringify(value ?? '')}: ${reason}`);
  }
}

/**
 * A command line a command cannot run with: a flag's value, a missing argument, a named file that is not
 * there. `vafa` prints the message on one line (no stack) and exits with code 2, before anything starts.
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A development-only tokenizer key; `vafa up` warns when it is in use. */
export const DEMO_TOKEN_KEY = 'vafa-demo-token-key-not-for-production';

function retention(raw: string | undefined): RetentionDays {
  try {
    return parseRetention(raw);
  } catch (err) {
    if (err instanceof RetentionSettingError) throw new SettingsError('VAFA_RETENTION_DAYS', raw, err.message);
    throw err;
  }
}

const PROJECT_ROOT = path.resolve(import.meta.dirname, '..');

function int(env: NodeJS.ProcessEnv, key: keyof typeof ENV_NAMES, fallback: number): number {
  const name = ENV_NAMES[key];
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^-?\d+$/.test(raw.trim())) throw new SettingsError(name, raw, 'expected an integer');
  return Number(raw);
}

/** A switch: `1`/`true`/`on` or `0`/`false`/`off` (any case); unset or empty: `fallback`. Throws `SettingsError` naming the variable. */
export function readFlag(env: NodeJS.ProcessEnv, key: keyof typeof ENV_NAMES, fallback: boolean): boolean {
  const name = ENV_NAMES[key];
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = raw.trim().toLowerCase();
  if (value === '1' || value === 'true' || value === 'on') return true;
  if (value === '0' || value === 'false' || value === 'off') return false;
  throw new SettingsError(name, raw, 'expected 1 or 0');
}

/** Reads settings from `env` (default `process.env`), applies defaults and overrides, validates, freezes. */
export function loadSettings(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Static<typeof SettingsSchema>> = {}): Settings {
  const str = (k: keyof typeof ENV_NAMES): string | undefined => {
    const v = env[ENV_NAMES[k]];
    return v === undefined || v === '' ? undefined : v;
  };
  const apiKeyFile = str('apiKeyFile');
  const partsRaw = str('scorerPartitions') ?? 'all';
  let scorerPartitions: 'all' | number[] = 'all';
  if (partsRaw !== 'all') {
    if (!/^\d+(,\d+)*$/.test(partsRaw)) throw new SettingsError('VAFA_SCORER_PARTITIONS', partsRaw, 'expected "all" or a comma-separated list of partition numbers');
    scorerPartitions = partsRaw.split(',').map(Number);
  }
  const candidate: Static<typeof SettingsSchema> = {
    port: int(env, 'port', 8080),
    host: str('host') ?? '127.0.0.1',
    iso8583Port: int(env, 'iso8583Port', 8583),
    iso8583Spec: str('iso8583Spec'),
    natsUrl: str('natsUrl'),
    localNatsPort: int(env, 'localNatsPort', 4222),
    clickhouseUrl: str('clickhouseUrl'),
    localClickhousePort: int(env, 'localClickhousePort', 8123),
    clickhouseUser: str('clickhouseUser') ?? 'default',
    clickhousePassword: str('clickhousePassword') ?? '',
    clickhouseDatabase: str('clickhouseDatabase') ?? 'vafa',
    dataDir: path.resolve(str('dataDir') ?? 'data'),
    partitions: int(env, 'partitions', 8),
    streamReplicas: int(env, 'streamReplicas', 1),
    duplicateWindowS: int(env, 'duplicateWindowS', 86_400),
    apiKeys: (str('apiKeys') ?? '').split(',').map((k) => k.trim()).filter(Boolean),
    apiKeyFile: apiKeyFile && path.resolve(apiKeyFile),
    sessionTtlS: int(env, 'sessionTtlS', 28_800),
    proxyUserHeader: str('proxyUserHeader'),
    trustedProxies: (str('trustedProxies') ?? '127.0.0.1,::1').split(',').map((k) => k.trim()).filter(Boolean),
    natsUser: str('natsUser'), natsPassword: str('natsPassword'), natsToken: str('natsToken'), natsCreds: str('natsCreds'), natsNkey: str('natsNkey'),
    rateLimitPerMin: int(env, 'rateLimitPerMin', 0),
    tokenKey: str('tokenKey') ?? DEMO_TOKEN_KEY,
    logLevel: (str('logLevel') ?? 'info') as Settings['logLevel'],
    logFormat: (str('logFormat') ?? 'auto') as Settings['logFormat'],
    scorerBatch: int(env, 'scorerBatch', 1000),
    scorerWaitMs: int(env, 'scorerWaitMs', 50),
    scorerTimerSlice: int(env, 'scorerTimerSlice', 2000),
    sinkLingerMs: int(env, 'sinkLingerMs', 100),
    sinkIdleLingerMs: int(env, 'sinkIdleLingerMs', 2),
    checkpointMs: int(env, 'checkpointMs', 5000),
    scorerPartitions,
    checkpointStore: (str('checkpointStore') ?? 'auto') as Settings['checkpointStore'],
    stateCacheCustomers: int(env, 'stateCacheCustomers', 10_000),
    stateCacheMb: int(env, 'stateCacheMb', 256),
    stateMapChunks: readFlag(env, 'stateMapChunks', true),
    leaseMs: int(env, 'leaseMs', 10_000),
    instance: str('instance') ?? `${os.hostname().replace(/[^A-Za-z0-9_-]/g, '-')}-${process.pid}`,
    rulesPath: path.resolve(str('rulesPath') ?? path.join(PROJECT_ROOT, 'config/loyalty-rules.yaml')),
    rulesWatchMs: int(env, 'rulesWatchMs', 2000),
    modelPath: path.resolve(str('modelPath') ?? path.join(PROJECT_ROOT, 'models/churn/manifest.json')),
    offersPath: path.resolve(str('offersPath') ?? path.join(PROJECT_ROOT, 'config/offers.yaml')),
    lifecyclePath: path.resolve(str('lifecyclePath') ?? path.join(PROJECT_ROOT, 'config/lifecycle.yaml')),
    shutdownMs: int(env, 'shutdownMs', 15_000),
    ingestWorkers: int(env, 'ingestWorkers', 0),
    startupTimeoutMs: int(env, 'startupTimeoutMs', 300_000),
    webhookUrl: str('webhookUrl'),
    webhookSecret: str('webhookSecret'),
    retentionDays: retention(str('retentionDays')),
    ...overrides,
  };
  const firstError = Value.Errors(SettingsSchema, candidate).First();
  if (firstError) {
    const key = firstError.path.split('/')[1] as keyof typeof ENV_NAMES | undefined;
    const name = key ? ENV_NAMES[key] : firstError.path;
    const raw = key ? env[ENV_NAMES[key]] : undefined;
    throw new SettingsError(name, raw ?? String(key ? (candidate as Record<string, unknown>)[key] : ''), firstError.message);
  }
  if (candidate.webhookUrl && !candidate.webhookSecret) {
    throw new SettingsError('VAFA_WEBHOOK_SECRET', undefined, 'a webhook URL is set: set the signing secret (at least 16 characters) too');
  }
  if ((candidate.apiKeys.length > 0 || candidate.apiKeyFile) && candidate.tokenKey === DEMO_TOKEN_KEY) {
    throw new SettingsError('VAFA_TOKEN_KEY', undefined, 'API keys are configured (a real deployment): set a secret tokenizer key of at least 16 characters');
  }
  return Object.freeze({ ...candidate, apiKeys: Object.freeze([...candidate.apiKeys]) as string[], trustedProxies: Object.freeze([...candidate.trustedProxies]) as string[] });
}
