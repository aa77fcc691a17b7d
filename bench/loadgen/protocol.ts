/** Messages between the bench and its load-generator worker thread. */

export interface HttpLoad {
  kind: 'http';
  /** e.g. http://127.0.0.1:PORT/v1/transactions */
  url: string;
  /** tx_id prefix, unique per phase and repeat. */
  prefix: string;
  /** First event index (event time and customers follow the index). */
  first: number;
  events: number;
  /** Events per request; 0 sends one bare JSON object per request. */
  perRequest: number;
  /** Closed loop: this many clients, each sending its next request when the last is answered. */
  concurrency: number;
  customers: number;
  /** Open loop instead: requests paced to offer this many events/s (concurrency then caps what is in flight). */
  rate?: number;
}

export interface IsoLoad {
  kind: 'iso';
  host: string;
  port: number;
  connections: number;
  /** Requests in flight per connection. */
  window: number;
  events: number;
  /** Distinct cards used (registered to customers by the bench beforehand). */
  cards: number;
  /** Offset of this run's connection numbers (acquirer ids), so repeats never reuse a tx id. */
  connectionBase: number;
  /** Module to load the codec from (ingest/iso8583/mod.ts). */
  codecModule: string;
}

export type LoadSpec = HttpLoad | IsoLoad;

export interface LoadResult {
  /** Events acknowledged as persisted (HTTP `accepted`, ISO response `00`). */
  events: number;
  requests: number;
  /** From the first request sent to the last answer received. */
  seconds: number;
  /** Per request (HTTP) or per message (ISO), ms. */
  latenciesMs: Float64Array;
  /** Requests or messages not acknowledged as persisted. */
  failures: number;
  /** HTTP status or ISO field 39 → count. */
  codes: Record<string, number>;
  /** The first few failure descriptions. */
  errors: string[];
  /** The load generator thread's busy time while it ran (event-loop utilisation), ms. */
  busyMs: number;
  /** The load generator thread's CPU while it ran (/proc/thread-self), ms; absent off Linux. */
  cpuMs?: number;
}

export type ToWorker = { type: 'go' };
export type FromWorker =
  | { type: 'ready'; requests: number }
  | { type: 'progress'; done: number; total: number }
  | { type: 'result'; result: LoadResult }
  | { type: 'error'; message: string };
