/** One error class for an invalid configuration file: the three parsers throw it, each under its own name. */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../config/schema/config-error.js';
import { ConfigError as ReExported } from '../../config/schema/yaml-config.js';
import { parseRules, RulesError } from '../../config/schema/loyalty-rules.js';
import { parseLifecycleConfig, LifecycleConfigError } from '../../config/schema/lifecycle.js';
import { parseOffers, OffersConfigError } from '../../config/schema/offers.js';

function thrown(parse: () => unknown): unknown {
  try {
    parse();
  } catch (err) {
    return err;
  }
  throw new Error('expected the text to be refused');
}

describe('ConfigError', () => {
  it('is the one class config/schema/yaml-config.ts re-exports', () => {
    expect(ReExported).toBe(ConfigError);
  });

  it('formats every issue as file:line:column: path: message', () => {
    const err = new ConfigError('a.yaml', [
      { line: 3, column: 5, path: 'x.y', message: 'is required' },
      { line: 0, column: 0, path: '(file)', message: 'invalid' },
    ]);
    expect(err.message).toBe('a.yaml:3:5: x.y: is required\na.yaml:0:0: (file): invalid');
    expect(err.name).toBe('ConfigError');
  });

  const cases = [
    { name: 'RulesError', type: RulesError, parse: () => parseRules('version: [\n', 'r.yaml'), source: 'r.yaml' },
    { name: 'LifecycleConfigError', type: LifecycleConfigError, parse: () => parseLifecycleConfig('stages: [\n', 'l.yaml'), source: 'l.yaml' },
    { name: 'OffersConfigError', type: OffersConfigError, parse: () => parseOffers('offers: [\n', 'o.yaml'), source: 'o.yaml' },
  ];
  for (const c of cases) {
    it(`${c.name} is a ConfigError that keeps its name and names the line`, () => {
      const err = thrown(c.parse);
      expect(err).toBeInstanceOf(c.type);
      expect(err).toBeInstanceOf(ConfigError);
      const e = err as ConfigError;
      expect(e.name).toBe(c.name);
      expect(e.source).toBe(c.source);
      expect(e.issues.length).toBeGreaterThan(0);
      expect(e.message.split('\n')[0]).toMatch(new RegExp(`^${c.source.replace('.', '\\.')}:\\d+:\\d+: \\(yaml\\): `));
    });
  }
});
