/** Key files, the key ring's reload on change, and dashboard sessions (api/auth.ts). */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KeyFileError, KeyRing, Sessions, envKeyId, hashKey, keyFileLine, newKey, parseKeyFile } from '../../api/auth.js';
import { createLogger } from '../../platform/log.js';
import { waitFor } from '../support/stack.js';

const logger = createLogger({ level: 'silent' });
const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(path.join(os.tmpdir(), 'vafa-keys-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('key file', () => {
  it('round-trips a line made by keyFileLine, and never holds the key', () => {
    const key = newKey();
    expect(key).toMatch(/^vafa_[A-Za-z0-9_-]{43}$/);
    const line = keyFileLine('retention-desk', ['read', 'ingest'], key);
    expect(line).toBe(`retention-desk read,ingest ${hashKey(key)}`);
    expect(line).not.toContain(key.slice(5));
    const [c] = parseKeyFile(`# comment\n\n${line}   # trailing comment\n`);
    expect(c).toMatchObject({ id: 'retention-desk', source: 'file', hash: hashKey(key) });
    expect([...c!.scopes].sort()).toEqual(['ingest', 'read']);
  });

  it('refuses a bad line and names it', () => {
    const good = keyFileLine('a', ['read'], 'k'.repeat(20));
    const cases: [string, RegExp][] = [
      [`${good}\nb reed ${hashKey('x'.repeat(20))}`, /:2: unknown scope "reed"/],
      [`${good}\nb read md5:abc`, /:2: the hash must be sha256:/],
      [`${good}\n${good.replace(/^a/, 'b')}`, /:2: the same key appears twice/],
      [`${good}\n${keyFileLine('a', ['admin'], 'z'.repeat(20))}`, /:2: key id a appears twice/],
      ['just-two words', /:1: expected "<id> <scope/],
      [`bad/id read ${hashKey('y'.repeat(20))}`, /:1: key id "bad\/id"/],
    ];
    for (const [text, want] of cases) expect(() => parseKeyFile(text, 'keys.txt')).toThrow(want);
    expect(() => parseKeyFile('x y z')).toThrow(KeyFileError);
    expect(() => keyFileLine('short', ['read'], 'too-short')).toThrow(/at least 16/);
  });

  it('gives VAFA_API_KEYS keys every scope and an id that is not the key', async () => {
    const key = 'env-key-0123456789abcdef';
    const ring = await KeyRing.open({ envKeys: [key], logger });
    const c = ring.lookup(key)!;
    expect(c.id).toBe(envKeyId(key));
    expect(c.id).toMatch(/^env-[0-9a-f]{8}$/);
    expect([...c.scopes].sort()).toEqual(['admin', 'ingest', 'read']);
    expect(ring.lookup('env-key-0123456789abcdeX')).toBeUndefined();
    expect(ring.lookup('')).toBeUndefined();
    expect(ring.enabled).toBe(true);
    expect((await KeyRing.open({ envKeys: [], logger })).enabled).toBe(false);
  });
});

describe('key rotation without restart', () => {
  it('re-reads the file when it changes; a bad file leaves the keys in force', async () => {
    const file = path.join(tmp(), 'keys');
    const [k1, k2] = [newKey(), newKey()];
    writeFileSync(file, `${keyFileLine('one', ['read'], k1)}\n`);
    const ring = await KeyRing.open({ envKeys: [], file, watchMs: 25, logger });
    try {
      expect(ring.lookup(k1)?.id).toBe('one');
      expect(ring.lookup(k2)).toBeUndefined();
      // rotate: k2 in, k1 out
      writeFileSync(file, `${keyFileLine('two', ['read', 'admin'], k2)}\n`);
      await waitFor(async () => ring.lookup(k2) !== undefined, 5000, 'the new key');
      expect(ring.lookup(k1)).toBeUndefined();
      const reloads = ring.reloads;
      // a broken file is refused: k2 stays
      writeFileSync(file, `two read,admin ${hashKey(k2)}\nthree nope ${hashKey(k1)}\n`);
      await waitFor(async () => (await ring.reload()).ok === false, 5000, 'the refusal');
      expect(ring.reloads).toBe(reloads);
      expect(ring.lookup(k2)?.id).toBe('two');
      expect(ring.lookup(k1)).toBeUndefined();
    } finally {
      ring.close();
    }
  });

  it('refuses to start on a missing or bad key file', async () => {
    await expect(KeyRing.open({ envKeys: [], file: path.join(tmp(), 'none'), logger })).rejects.toThrow(/ENOENT/);
    const bad = path.join(tmp(), 'bad');
    writeFileSync(bad, 'x read sha256:00\n');
    await expect(KeyRing.open({ envKeys: [], file: bad, logger })).rejects.toThrow(/bad:1: the hash/);
  });

  it('an empty key file still means keys are required (nobody gets in)', async () => {
    const file = path.join(tmp(), 'empty');
    writeFileSync(file, '# no keys yet\n');
    const ring = await KeyRing.open({ envKeys: [], file, logger });
    expect(ring.enabled).toBe(true);
    expect(ring.list()).toEqual([]);
    ring.close();
  });
});

describe('sessions', () => {
  it('expire after their lifetime, can be ended, and are bounded in number', () => {
    let now = 1_000_000;
    const s = new Sessions(60_000, 3, () => now);
    const cred = { id: 'a', scopes: new Set(['read'] as const), source: 'file' as const, hash: hashKey('k'.repeat(20)) };
    const a = s.create(cred);
    expect(a.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(s.get(a.token)?.credHash).toBe(cred.hash);
    expect(s.get(`${a.token}x`)).toBeUndefined();
    now += 60_000;
    expect(s.get(a.token)).toBeUndefined();
    const tokens = [s.create(cred), s.create(cred), s.create(cred), s.create(cred)].map((x) => x.token);
    expect(s.size).toBe(3);
    expect(s.get(tokens[0]!)).toBeUndefined(); // the oldest went first
    expect(s.get(tokens[3]!)).toBeDefined();
    s.delete(tokens[3]!);
    expect(s.get(tokens[3]!)).toBeUndefined();
  });
});

describe('vafa keys', () => {
  const bin = path.resolve(import.meta.dirname, '../../bin/vafa.js');
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' };

  it('new prints a key once and the file line that admits it; hash prints the line of a given key', () => {
    const r = spawnSync(process.execPath, [bin, 'keys', 'new', '--id', 'retention-desk', '--scopes', 'read,admin'], { env, encoding: 'utf8', timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    const [keyLine, fileLine] = r.stdout.trim().split('\n');
    const key = keyLine!.replace(/^key: /, '');
    const [c] = parseKeyFile(fileLine!);
    expect(c).toMatchObject({ id: 'retention-desk', hash: hashKey(key) });
    expect([...c!.scopes]).toEqual(['read', 'admin']);
    const h = spawnSync(process.execPath, [bin, 'keys', 'hash', '--id', 'switch-a', '--scopes', 'ingest'], { env, encoding: 'utf8', input: `${key}\n`, timeout: 30_000 });
    expect(h.stdout.trim()).toBe(`switch-a ingest ${hashKey(key)}`);
    const bad = spawnSync(process.execPath, [bin, 'keys', 'new', '--id', 'x', '--scopes', 'everything'], { env, encoding: 'utf8', timeout: 30_000 });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/unknown scope "everything"/);
  });
});
