import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ERRORS, renderErrorsMarkdown } from '../../api/errors.js';

describe('error catalogue', () => {
  it('docs/api-errors.md is in sync with api/errors.ts', () => {
    const doc = readFileSync(path.resolve(import.meta.dirname, '../../docs/api-errors.md'), 'utf8');
    expect(doc).toBe(renderErrorsMarkdown());
  });

  it('every code has a client or server error status and a message', () => {
    for (const [code, e] of Object.entries(ERRORS)) {
      expect(code).toMatch(/^VAFA_[A-Z_]+$/);
      expect(e.status).toBeGreaterThanOrEqual(400);
      expect(e.message.length).toBeGreaterThan(10);
    }
  });
});
