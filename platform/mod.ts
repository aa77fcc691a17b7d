/**
 * platform/: the library below the domain (docs/ARCHITECTURE.md, "Who imports whom"). It imports only
 * contracts/; code outside platform/ imports it through this file (lint: `layers/imports`). The embedded
 * ClickHouse server is its own surface, platform/warehouse/mod.ts, loaded only by the warehouse role (it
 * loads chDB's native library).
 */
export { createLogger, maskPans, resolveLogFormat, LOG_FORMATS, REDACT_PATHS, type Logger, type LoggerSettings, type LogFormat } from './log.js';
export { DeadlineError, sleep, withDeadline } from './deadline.js';
export { errorSummary, FailureEpisode, type EpisodeOptions } from './episode.js';
export { connectNats, ensureStreams, logNatsStatus, natsAuthOptions, natsJsm, NatsUnreachableError, streamConfigs, type ConnectNatsOptions, type NatsAuth, type StreamSettings } from './nats.js';
export { JetStreamUnavailableError, Publisher, type OutboundMessage, type PublisherOptions, type PublishResult } from './publisher.js';
export { findNatsServer, freePort, NatsServerNotFoundError, startLocalNats, type LocalNats, type LocalNatsOptions } from './nats-server.js';
export { enginePids, killEngines, spawnEngine, spawnWarehouse, stopChild, untilParentGone, waitForHttp, type ChildHandle, type EngineSpawnOptions, type ParentDeathGuard } from './children.js';
export { NODE_FLAGS } from './node-flags.js';
export { checkPortsFree, PortInUseError, type WantedPort } from './ports.js';
