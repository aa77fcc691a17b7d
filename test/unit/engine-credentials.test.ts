/** `vafa ingest` / `vafa scorer` refuse engines off this machine without credentials unless --insecure. */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { insecureEngines, isLoopbackHost } from '../../app/engine-credentials.js';

const base = { natsUrl: undefined, natsUser: undefined, natsToken: undefined, natsCreds: undefined, natsNkey: undefined, clickhouseUrl: undefined, clickhousePassword: '' };

describe('engine credentials', () => {
  it('knows loopback', () => {
    for (const h of ['localhost', '127.0.0.1', '127.1.2.3', '[::1]', '::1', 'api.localhost']) expect(isLoopbackHost(h), h).toBe(true);
    for (const h of ['10.0.0.5', 'nats', 'nats.bank.internal', '0.0.0.0', '128.0.0.1', 'localhost.evil.com']) expect(isLoopbackHost(h), h).toBe(false);
  });

  it('lets the all-in-one and loopback engines through without credentials', () => {
    expect(insecureEngines(base)).toEqual([]);
    expect(insecureEngines({ ...base, natsUrl: 'nats://127.0.0.1:4222,nats://localhost:4223', clickhouseUrl: 'http://127.0.0.1:8123' })).toEqual([]);
  });

  it('refuses a remote NATS or ClickHouse without credentials, naming the settings', () => {
    const p = insecureEngines({ ...base, natsUrl: 'nats://10.0.0.5:4222', clickhouseUrl: 'https://ch.bank.internal:8443' });
    expect(p).toHaveLength(2);
    expect(p[0]).toMatch(/^NATS_URL reaches 10\.0\.0\.5:4222 \(not loopback\).*NATS_USER and NATS_PASSWORD, NATS_TOKEN, NATS_CREDS or NATS_NKEY/);
    expect(p[1]).toMatch(/^CLICKHOUSE_URL reaches ch\.bank\.internal:8443 .*CLICKHOUSE_PASSWORD/);
    // one remote server in a list is enough to need credentials
    expect(insecureEngines({ ...base, natsUrl: 'nats://127.0.0.1:4222,nats://nats-2:4222' })).toHaveLength(1);
  });

  it('accepts any kind of credentials', () => {
    const remote = { ...base, natsUrl: 'nats://nats:4222', clickhouseUrl: 'http://clickhouse:8123', clickhousePassword: 'pw' };
    for (const c of [{ natsUser: 'u' }, { natsToken: 't' }, { natsCreds: '/x.creds' }, { natsNkey: '/seed' }]) expect(insecureEngines({ ...remote, ...c }), JSON.stringify(c)).toEqual([]);
    expect(insecureEngines({ ...remote, natsUrl: 'nats://u:p@nats:4222' })).toEqual([]);
    expect(insecureEngines({ ...remote, natsUser: 'u', clickhousePassword: '', clickhouseUrl: 'http://vafa:pw@clickhouse:8123' })).toEqual([]);
    expect(insecureEngines({ ...remote, natsUser: 'u', clickhousePassword: '' })).toHaveLength(1);
  });

  it('vafa ingest exits with a clear error before connecting, and --insecure is parsed', () => {
    const bin = path.resolve(import.meta.dirname, '../../bin/vafa.js');
    const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', NATS_URL: 'nats://192.0.2.1:4222', CLICKHOUSE_URL: 'http://127.0.0.1:1', LOG_LEVEL: 'warn' };
    for (const role of ['ingest', 'scorer']) {
      const r = spawnSync(process.execPath, [bin, role], { env, encoding: 'utf8', timeout: 30_000 });
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`vafa ${role}: invalid setting NATS_URL="nats://192.0.2.1:4222": NATS_URL reaches 192.0.2.1:4222 \\(not loopback\\) without credentials.*or pass --insecure`));
    }
    const help = spawnSync(process.execPath, [bin, 'ingest', '--help'], { env, encoding: 'utf8', timeout: 30_000 });
    expect(help.stdout).toMatch(/--insecure/);
  });
});
