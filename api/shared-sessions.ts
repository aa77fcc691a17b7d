/**
 * Dashboard sign-in sessions shared by several ingest processes (`VAFA_INGEST_WORKERS`): each process
 * keeps the sessions it created, as `Sessions` does, and tells the others through `publish` (the
 * primary relays it to every other worker over IPC), so a browser signed in on one worker is signed in
 * on all of them. Only the token's hash travels, never the token. Sign-out travels the same way.
 */
import { hashKey, liveEntry, Sessions, type Credential } from './auth.js';

type Session = NonNullable<ReturnType<Sessions['get']>>;

export type SessionEvent =
  | { kind: 'created'; hash: string; session: Session }
  | { kind: 'deleted'; hash: string };

export class SharedSessions extends Sessions {
  /** Sessions other processes created, by token hash; at most `maxCopies` (oldest dropped). */
  private readonly copies = new Map<string, Session>();

  constructor(ttlMs: number, private readonly publish: (e: SessionEvent) => void, private readonly maxCopies = 10_000, private readonly clock: () => number = Date.now) {
    super(ttlMs, maxCopies, clock);
  }

  override create(cred: Credential): { token: string; expiresAt: number } {
    const created = super.create(cred);
    this.publish({ kind: 'created', hash: hashKey(created.token), session: { credHash: cred.hash, expiresAt: created.expiresAt } });
    return created;
  }

  override get(token: string): Session | undefined {
    const own = super.get(token);
    if (own) return own;
    return liveEntry(this.copies, hashKey(token), this.clock());
  }

  override delete(token: string): void {
    super.delete(token);
    const hash = hashKey(token);
    this.copies.delete(hash);
    this.publish({ kind: 'deleted', hash });
  }

  /** Applies what another process published. */
  apply(e: SessionEvent): void {
    if (e.kind === 'deleted') {
      this.copies.delete(e.hash);
      return;
    }
    if (e.session.expiresAt <= this.clock()) return;
    for (const oldest of this.copies.keys()) {
      if (this.copies.size < this.maxCopies) break;
      this.copies.delete(oldest);
    }
    this.copies.set(e.hash, e.session);
  }
}
