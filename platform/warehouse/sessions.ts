import type { EngineConnection, EnginePool } from './engine.js';
import { WarehouseError } from './engine.js';

const MAX_SESSIONS = 1000;
const MAX_SESSION_TIMEOUT_S = 3600;
const DEFAULT_SESSION_TIMEOUT_S = 60;

/** One HTTP session (`session_id`): a dedicated engine connection, used by one request at a time. */
export interface HttpSession {
  readonly conn: EngineConnection;
  busy: boolean;
  timeoutMs: number;
  timer?: NodeJS.Timeout;
}

/**
 * The warehouse's HTTP sessions: at most {@link MAX_SESSIONS}, each closed after its `session_timeout`
 * (at most {@link MAX_SESSION_TIMEOUT_S}) of idleness or by `close_session=1`.
 */
export class HttpSessions {
  readonly #byId = new Map<string, HttpSession>();

  constructor(private readonly pool: EnginePool) {}

  /** Takes session `id` for one request, opening it unless `session_check=1`; fails if it is busy. */
  acquire(id: string, url: URL): HttpSession {
    const rawTimeout = url.searchParams.get('session_timeout');
    let timeoutS = DEFAULT_SESSION_TIMEOUT_S;
    if (rawTimeout !== null) {
      timeoutS = Number(rawTimeout);
      if (!/^\d+$/.test(rawTimeout) || timeoutS > MAX_SESSION_TIMEOUT_S) {
        throw new WarehouseError(374, 'INVALID_SESSION_TIMEOUT', `Invalid session timeout: '${rawTimeout}'`);
      }
    }
    let s = this.#byId.get(id);
    if (!s) {
      if (url.searchParams.get('session_check') === '1') throw new WarehouseError(372, 'SESSION_NOT_FOUND', `Session ${id} not found`);
      if (this.#byId.size >= MAX_SESSIONS) throw new WarehouseError(202, 'TOO_MANY_SIMULTANEOUS_QUERIES', `Too many sessions (${MAX_SESSIONS})`);
      s = { conn: this.pool.openDedicated(), busy: false, timeoutMs: timeoutS * 1000 };
      this.#byId.set(id, s);
    }
    if (s.busy) throw new WarehouseError(373, 'SESSION_IS_LOCKED', `Session ${id} is locked by a concurrent client`);
    s.busy = true;
    if (rawTimeout !== null) s.timeoutMs = timeoutS * 1000;
    if (s.timer) clearTimeout(s.timer);
    return s;
  }

  /** Gives session `id` back after a request: closes it now if `close`, else after its timeout. */
  release(id: string, s: HttpSession, close: boolean): void {
    s.busy = false;
    if (s.conn.broken) s.conn.recycle();
    const drop = (): void => {
      if (this.#byId.get(id) !== s || s.busy) return;
      this.#byId.delete(id);
      this.pool.closeDedicated(s.conn);
    };
    if (close) drop();
    else {
      s.timer = setTimeout(drop, s.timeoutMs);
      s.timer.unref();
    }
  }

  /** Forgets every session and its timer (the pool closes their connections). */
  clear(): void {
    for (const s of this.#byId.values()) if (s.timer) clearTimeout(s.timer);
    this.#byId.clear();
  }
}
