/**
 * `vafa keys`: make API keys for `VAFA_API_KEY_FILE` (docs/security.md). The file holds only hashes; the
 * key itself is printed once, for the client, and kept nowhere.
 *
 *   vafa keys new --id retention-desk --scopes read        a fresh random key and its file line
 *   printf %s "$KEY" | vafa keys hash --id switch-a --scopes ingest   the file line of a key you have
 */
import { parseArgs } from 'node:util';
import { keyFileLine, newKey, parseScopes, MIN_KEY_LENGTH, SCOPES } from '../api/mod.js';
import type { Command } from './main.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').trim();
}

export const keysCommand: Command = {
  summary: 'Make API keys: a new random key and its line for VAFA_API_KEY_FILE, or the line of a key read from stdin.',
  usage: [
    'vafa keys new  --id ID --scopes SCOPES     prints "key: <key>" (once; give it to the client) and the file line',
    'vafa keys hash --id ID --scopes SCOPES     reads a key on stdin, prints its file line',
    '',
    `SCOPES: comma-separated, of ${SCOPES.join(', ')}. Append the line to the file VAFA_API_KEY_FILE names;`,
    'the running API re-reads it within 2 s (or POST /v1/admin/keys/reload). Remove a line to revoke a key.',
  ].join('\n'),
  async run(argv) {
    const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { id: { type: 'string' }, scopes: { type: 'string' } } });
    const [action] = positionals;
    if (action !== 'new' && action !== 'hash') {
      console.error(`vafa keys: say "new" or "hash"\n\n${this.usage}`);
      return 2;
    }
    if (!values.id || !values.scopes) {
      console.error('vafa keys: --id and --scopes are required');
      return 2;
    }
    const scopes = parseScopes(values.scopes);
    if (typeof scopes === 'string') {
      console.error(`vafa keys: --scopes: ${scopes}`);
      return 2;
    }
    const key = action === 'new' ? newKey() : await readStdin();
    if (key.length < MIN_KEY_LENGTH) {
      console.error(`vafa keys: a key has at least ${MIN_KEY_LENGTH} characters`);
      return 2;
    }
    try {
      const line = keyFileLine(values.id, scopes, key);
      if (action === 'new') console.log(`key: ${key}`);
      console.log(line);
      return 0;
    } catch (err) {
      console.error(`vafa keys: ${(err as Error).message}`);
      return 2;
    }
  },
};
