import { describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { createLogger, maskPans } from '../../runtime/log.js';

function capture(): { stream: Writable; lines: () => Record<string, unknown>[]; raw: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({ write(chunk, _enc, cb) { chunks.push(String(chunk)); cb(); } });
  return { stream, raw: () => chunks.join(''), lines: () => chunks.join('').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('log redaction', () => {
  it('censors card numbers, secrets and free text in log objects', () => {
    const out = capture();
    const log = createLogger({ destination: out.stream, level: 'info' });
    log.info({ pan: '6037991234567893', req: { headers: { authorization: 'Bearer secret-key-123456' } }, profile: { cards: ['6037991234567893'] }, feedback: { text: 'my card 6037991234567893 was declined' }, tokenKey: 'k'.repeat(20) }, 'event');
    const [line] = out.lines();
    expect(line!.pan).toBe('[redacted]');
    expect((line!.req as { headers: { authorization: string } }).headers.authorization).toBe('[redacted]');
    expect((line!.profile as { cards: unknown }).cards).toBe('[redacted]');
    expect((line!.feedback as { text: unknown }).text).toBe('[redacted]');
    expect(line!.tokenKey).toBe('[redacted]');
    expect(out.raw()).not.toContain('6037991234567893');
    expect(out.raw()).not.toContain('secret-key-123456');
  });

  it('masks a card number quoted inside a message string', () => {
    const out = capture();
    const log = createLogger({ destination: out.stream });
    log.warn('upstream said: bad card 4111-1111-1111-1111 at terminal T1');
    const [line] = out.lines();
    expect(line!.msg).toBe('upstream said: bad card [PAN 16 digits] at terminal T1');
    expect(line!.level).toBe('warn');
  });

  it('leaves ordinary numbers alone', () => {
    expect(maskPans('amount 1500000 IRR, stan 123456, rrn 000000123456')).toBe('amount 1500000 IRR, stan 123456, rrn 000000123456');
  });
});
