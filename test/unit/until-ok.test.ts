/** A start step retried until its deadline: the wait said in the log, the give-up naming the step and the wait. */
import { describe, expect, it } from 'vitest';
import { StartupTimeoutError, untilOk } from '../../app/stack.js';
import { recordingLogger as recording } from '../support/log.js';

describe('untilOk', () => {
  it('retries until the step succeeds, saying when it starts failing and when it is over', async () => {
    const { logger, lines } = recording();
    let calls = 0;
    const value = await untilOk(async () => {
      calls++;
      if (calls < 3) throw new Error('connect ECONNREFUSED 127.0.0.1:8123');
      return 'migrated';
    }, 'ClickHouse migration', logger, 10_000);
    expect(value).toBe('migrated');
    expect(calls).toBe(3);
    expect(lines.map((l) => l.msg)).toEqual(['ClickHouse migration failing; retrying', 'ClickHouse migration recovered']);
    expect(lines[0]!.err).toBe('connect ECONNREFUSED 127.0.0.1:8123');
  });

  it('gives up at its deadline naming the step, the wait and the last failure', async () => {
    const { logger } = recording();
    const last = new Error('connect ECONNREFUSED 127.0.0.1:8999');
    const started = Date.now();
    const err = await untilOk(() => Promise.reject(last), 'ClickHouse migration', logger, 600).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(StartupTimeoutError);
    expect((err as Error).message).toBe('ClickHouse migration did not succeed within 1 s (VAFA_STARTUP_TIMEOUT_MS): connect ECONNREFUSED 127.0.0.1:8999');
    expect((err as Error).cause).toBe(last);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
