/**
 * vafa's NATS connection with credentials from settings, against a real nats-server started with --user/--pass
 * and --auth; and its first connection: retried (and said) while no server answers, up to its deadline.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { connectNats, NatsUnreachableError } from '../../platform/nats.js';
import { findNatsServer, freePort } from '../../platform/nats-server.js';
import { recordingLogger as recording } from '../support/log.js';
import { waitFor } from '../support/stack.js';

const servers: ChildProcess[] = [];

async function natsServer(args: string[], port?: number): Promise<string> {
  port ??= await freePort();
  const child = spawn(findNatsServer(), ['-a', '127.0.0.1', '-p', String(port), ...args], { stdio: 'ignore' });
  servers.push(child);
  const url = `nats://127.0.0.1:${port}`;
  // up when a connection is answered at all (an auth error counts)
  await waitFor(async () => connect({ servers: url, timeout: 1000, user: 'probe', pass: 'probe' }).then(async (nc) => { await nc.close(); return true; }, (err: Error) => !/ECONNREFUSED/.test(err.message)), 10_000, 'nats-server');
  return url;
}

let userPass: string;
let token: string;
beforeAll(async () => {
  userPass = await natsServer(['--user', 'vafa', '--pass', 'nats-secret-1']);
  token = await natsServer(['--auth', 'nats-token-2']);
});
afterAll(() => {
  for (const s of servers) s.kill('SIGKILL');
});

describe('NATS credentials', () => {
  it('connects with NATS_USER / NATS_PASSWORD and with NATS_TOKEN', async () => {
    for (const [url, auth] of [[userPass, { natsUser: 'vafa', natsPassword: 'nats-secret-1' }], [token, { natsToken: 'nats-token-2' }]] as const) {
      const nc = await connectNats(url, 'vafa-test', undefined, auth);
      const sub = nc.subscribe('t.x', { max: 1 });
      nc.publish('t.x', 'hello');
      for await (const m of sub) expect(m.string()).toBe('hello');
      await nc.close();
    }
  });

  it('is refused without them or with wrong ones', async () => {
    await expect(connect({ servers: userPass, timeout: 2000 })).rejects.toThrow(/Authorization/i);
    await expect(connect({ servers: userPass, timeout: 2000, user: 'vafa', pass: 'wrong' })).rejects.toThrow(/Authorization/i);
    await expect(connect({ servers: token, timeout: 2000 })).rejects.toThrow(/Authorization/i);
  });
});

describe('the first connection', () => {
  it('fails by its deadline, naming the URL, when no server answers; the wait is said in the log', async () => {
    const url = `nats://127.0.0.1:${await freePort()}`;
    const { logger, lines } = recording();
    const started = Date.now();
    const err = await connectNats(url, 'vafa-test', logger, undefined, { firstConnectMs: 1500 }).then(() => undefined, (e: unknown) => e);
    const took = Date.now() - started;
    expect(err).toBeInstanceOf(NatsUnreachableError);
    expect((err as Error).message).toContain(`NATS at ${url} not reachable within 2 s`);
    expect(took).toBeGreaterThanOrEqual(1500);
    expect(took).toBeLessThan(10_000);
    expect(lines.some((l) => l.msg === 'nats connection failing; retrying' && l.url === url)).toBe(true);
  });

  it('waits for a server that starts after it began, and says when it is connected', async () => {
    const port = await freePort();
    const { logger, lines } = recording();
    const connecting = connectNats(`nats://127.0.0.1:${port}`, 'vafa-test', logger, undefined, { firstConnectMs: 30_000 });
    await waitFor(async () => lines.some((l) => l.msg === 'nats connection failing; retrying'), 10_000, 'a failed attempt');
    await natsServer([], port);
    const nc = await connecting;
    expect(nc.isClosed()).toBe(false);
    expect(lines.some((l) => l.msg === 'nats connection recovered')).toBe(true);
    await nc.close();
  });

  it('does not retry credentials the server refuses', async () => {
    const started = Date.now();
    const err = await connectNats(userPass, 'vafa-test', undefined, { natsUser: 'vafa', natsPassword: 'wrong' }, { firstConnectMs: 30_000 }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(NatsUnreachableError);
    expect((err as Error).message).toMatch(/refused the credentials/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
