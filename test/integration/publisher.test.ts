/**
 * The pipelined JetStream publisher (platform/publisher.ts) against a real nats-server: each message is
 * answered only once JetStream has it, in the order sent, whether the messages come in one call or one a
 * callback (as HTTP requests of one event do: they are published together at the end of the event loop's
 * turn); a re-sent id is a duplicate; failures are told apart (retryable or not), a bad header failing its
 * message alone; closing fails what has not been answered and publishes nothing after.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { ensureStreams, Publisher, startLocalNats, type LocalNats, type OutboundMessage, type PublishResult } from '../../platform/mod.js';

let dir: string;
let server: LocalNats;
let nc: NatsConnection;
let jsm: JetStreamManager;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'vafa-publisher-'));
  server = await startLocalNats({ port: 0, storeDir: path.join(dir, 'nats') });
  nc = await connect({ servers: server.url, timeout: 10_000 });
  jsm = await jetstreamManager(nc, { timeout: 10_000 });
  await ensureStreams(jsm, { replicas: 1, duplicateWindowS: 120 });
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const message = (id: string, subject = 'tx.0.transaction'): OutboundMessage => ({ subject, msgId: id, data: new TextEncoder().encode(JSON.stringify({ id })) });

async function lastSeq(): Promise<number> {
  return (await jsm.streams.info('TX')).state.last_seq;
}

/** Polls the stream until its last sequence is `seq` (or the deadline passes). */
async function streamReaches(seq: number, deadlineMs = 10_000): Promise<number> {
  const until = Date.now() + deadlineMs;
  let last = await lastSeq();
  while (last < seq && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 20));
    last = await lastSeq();
  }
  return last;
}

describe('Publisher', () => {
  it('answers every message of one call in order, each once JetStream has it, and a re-sent id as a duplicate', async () => {
    const publisher = new Publisher(nc, { expectStream: 'TX' });
    const before = await lastSeq();
    const results = await publisher.publishAll(Array.from({ length: 300 }, (_, i) => message(`batch-${i}`)));
    expect(results.every((r) => r.ok && !r.duplicate && r.stream === 'TX')).toBe(true);
    const seqs = results.map((r) => (r.ok ? r.seq : -1));
    expect(seqs).toEqual(Array.from({ length: 300 }, (_, i) => before + 1 + i));
    expect(await lastSeq()).toBe(before + 300);
    const again = await publisher.publish(message('batch-7'));
    expect(again).toEqual({ ok: true, seq: before + 8, duplicate: true, stream: 'TX' });
    publisher.close();
  });

  it('publishes messages sent one a callback, in the order sent', async () => {
    const publisher = new Publisher(nc, { expectStream: 'TX' });
    const before = await lastSeq();
    const answers: Promise<PublishResult>[] = [];
    await new Promise<void>((done) => {
      let sent = 0;
      const sendOne = (): void => {
        answers.push(publisher.publish(message(`single-${sent}`)));
        sent++;
        // Alternate timers and immediates: some turns carry one message, some several.
        if (sent === 200) done();
        else if (sent % 3 === 0) setTimeout(sendOne, 0);
        else setImmediate(sendOne);
      };
      sendOne();
    });
    const results = await Promise.all(answers);
    expect(results.map((r) => (r.ok ? r.seq : -1))).toEqual(Array.from({ length: 200 }, (_, i) => before + 1 + i));
    const stored = await jsm.streams.getMessage('TX', { seq: before + 200 });
    expect(JSON.parse(new TextDecoder().decode(stored!.data))).toEqual({ id: 'single-199' });
    publisher.close();
  });

  it('tells a subject no stream takes (retryable) from a message for another stream (not retryable)', async () => {
    const publisher = new Publisher(nc, { expectStream: 'TX', timeoutMs: 5000 });
    const nobody = await publisher.publish(message('nobody-1', 'not.a.stream.subject'));
    expect(nobody).toMatchObject({ ok: false, retryable: true });
    expect(!nobody.ok && nobody.error).toMatch(/no responders/);
    const wrongStream = await publisher.publish(message('offer-1', 'offers.x'));
    expect(wrongStream).toMatchObject({ ok: false, retryable: false });
    expect(!wrongStream.ok && wrongStream.error).toMatch(/JetStream error/);
    publisher.close();
  });

  it('refuses a message whose header NATS would not carry, and publishes the others of its turn', async () => {
    const publisher = new Publisher(nc, { expectStream: 'TX' });
    const results = await publisher.publishAll([message('header-ok-1'), message('header-bad\r\nX-Injected: 1'), message('header-ok-2')]);
    expect(results[0]).toMatchObject({ ok: true, duplicate: false });
    expect(results[1]).toMatchObject({ ok: false, retryable: false });
    expect(!results[1]!.ok && results[1]!.error).toMatch(/invalid message header/);
    expect(results[2]).toMatchObject({ ok: true, duplicate: false });
    expect(results[2]!.ok && results[0]!.ok && results[2]!.seq).toBe(results[0]!.ok ? results[0]!.seq + 1 : -1);
    publisher.close();
  });

  it('closing fails what has not been answered, as retryable, and publishes none of it after', async () => {
    const publisher = new Publisher(nc, { expectStream: 'TX' });
    const before = await lastSeq();
    const pending = publisher.publishAll(Array.from({ length: 50 }, (_, i) => message(`closed-${i}`)));
    publisher.close();
    const results = await pending;
    expect(results).toHaveLength(50);
    expect(results.every((r) => !r.ok && r.retryable && r.error === 'publisher closed')).toBe(true);
    // A later publish by another publisher lands right after `before`: nothing of the closed one came in between.
    const other = new Publisher(nc, { expectStream: 'TX' });
    const marker = await other.publish(message('after-close'));
    expect(marker).toMatchObject({ ok: true, seq: before + 1 });
    expect(await streamReaches(before + 1)).toBe(before + 1);
    other.close();
  });
});
