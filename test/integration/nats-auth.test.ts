/** vafa's NATS connection with credentials from settings, against a real nats-server started with --user/--pass and --auth. */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { connectNats } from '../../platform/nats.js';
import { findNatsServer, freePort } from '../../platform/nats-server.js';
import { waitFor } from '../support/stack.js';

const servers: ChildProcess[] = [];

async function natsServer(args: string[]): Promise<string> {
  const port = await freePort();
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
