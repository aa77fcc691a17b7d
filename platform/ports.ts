/**
 * The ports a process is about to listen on, checked before anything starts: a second `vafa up` beside a
 * running one, or another program on 8080, is refused at once, naming the setting to change, instead of
 * after the engines started (or, for an engine's port, never noticed: the other program answers for it).
 */
import net from 'node:net';

/** A port to listen on, and the setting that chooses it. */
export interface WantedPort {
  /** Environment variable that sets the port, named in the error. */
  setting: string;
  host: string;
  /** 0: any free port (never in use, not checked). */
  port: number;
}

/** A port this process is to listen on is held by another process. */
export class PortInUseError extends Error {
  override readonly name = 'PortInUseError';
  constructor(readonly setting: string, readonly host: string, readonly port: number) {
    super(`${host}:${port} (${setting}) is already in use: another vafa, or another program, listens there; stop it or set ${setting} to a free port`);
  }
}

/** Listens on `host:port` and closes at once; resolves whether the port was in use. */
function inUse(host: string, port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') resolve(true);
      else reject(err);
    });
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(false)));
  });
}

/** Throws {@link PortInUseError} for the first port of `wanted` another process listens on. */
export async function checkPortsFree(wanted: readonly WantedPort[]): Promise<void> {
  for (const w of wanted) {
    if (w.port === 0) continue;
    if (await inUse(w.host, w.port)) throw new PortInUseError(w.setting, w.host, w.port);
  }
}
