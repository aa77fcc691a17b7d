import { describe, expect, it } from 'vitest';
import { loadSettings, SettingsError, DEMO_TOKEN_KEY } from '../../config/settings.js';

describe('settings', () => {
  it('applies the documented defaults and freezes them', () => {
    const s = loadSettings({});
    expect(s).toMatchObject({ port: 8080, iso8583Port: 8583, localNatsPort: 4222, localClickhousePort: 8123, partitions: 8, clickhouseDatabase: 'vafa', scorerPartitions: 'all', tokenKey: DEMO_TOKEN_KEY });
    expect(s.natsUrl).toBeUndefined();
    expect(Object.isFrozen(s)).toBe(true);
  });

  it('names the variable of a bad value', () => {
    expect(() => loadSettings({ PORT: 'eighty' })).toThrow(/PORT="eighty": expected an integer/);
    expect(() => loadSettings({ VAFA_PARTITIONS: '0' })).toThrow(SettingsError);
    expect(() => loadSettings({ VAFA_PARTITIONS: '0' })).toThrow(/VAFA_PARTITIONS/);
    expect(() => loadSettings({ NATS_URL: 'http://x' })).toThrow(/NATS_URL/);
    expect(() => loadSettings({ VAFA_SCORER_PARTITIONS: '1,a' })).toThrow(/VAFA_SCORER_PARTITIONS/);
    expect(() => loadSettings({ LOG_LEVEL: 'loud' })).toThrow(/LOG_LEVEL/);
  });

  it('requires a real tokenizer key once API keys are configured', () => {
    expect(() => loadSettings({ VAFA_API_KEYS: 'a'.repeat(32) })).toThrow(/VAFA_TOKEN_KEY/);
    const s = loadSettings({ VAFA_API_KEYS: `${'a'.repeat(32)}, ${'b'.repeat(32)}`, VAFA_TOKEN_KEY: 'z'.repeat(32) });
    expect(s.apiKeys).toEqual(['a'.repeat(32), 'b'.repeat(32)]);
  });

  it('reads the log format: auto by default, pretty or json, anything else refused by name', () => {
    expect(loadSettings({}).logFormat).toBe('auto');
    expect(loadSettings({ LOG_FORMAT: 'pretty' }).logFormat).toBe('pretty');
    expect(loadSettings({ LOG_FORMAT: 'json' }).logFormat).toBe('json');
    expect(() => loadSettings({ LOG_FORMAT: 'fancy' })).toThrow(/LOG_FORMAT="fancy"/);
  });

  it('maps the state store in chunks unless VAFA_STATE_MAP_CHUNKS is 0; anything but a switch is refused by name', () => {
    expect(loadSettings({}).stateMapChunks).toBe(true);
    expect(loadSettings({ VAFA_STATE_MAP_CHUNKS: '0' }).stateMapChunks).toBe(false);
    expect(loadSettings({ VAFA_STATE_MAP_CHUNKS: 'off' }).stateMapChunks).toBe(false);
    expect(loadSettings({ VAFA_STATE_MAP_CHUNKS: ' TRUE ' }).stateMapChunks).toBe(true);
    expect(loadSettings({ VAFA_STATE_MAP_CHUNKS: '' }).stateMapChunks).toBe(true);
    expect(() => loadSettings({ VAFA_STATE_MAP_CHUNKS: 'yes please' })).toThrow(/VAFA_STATE_MAP_CHUNKS="yes please": expected 1 or 0/);
  });

  it('reads partition ownership lists', () => {
    expect(loadSettings({ VAFA_SCORER_PARTITIONS: '0,3,5' }).scorerPartitions).toEqual([0, 3, 5]);
  });
});
