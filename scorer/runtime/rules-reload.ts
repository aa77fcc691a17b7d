/**
 * Loyalty-rules hot reload, the runtime side. A changed rules file is validated (a bad one is refused
 * with the line, and the rules in force stay), then published into `TX` as a control message on every
 * partition: each partition switches at the position of its control message, which is what a replay
 * sees too. Publishing is idempotent (`Nats-Msg-Id` = version + partition), so several scorers watching
 * the same file publish one reload.
 */
import { readFile } from 'node:fs/promises';
import { unwatchFile, watchFile } from 'node:fs';
import { Counter, type Registry } from 'prom-client';
import { parseRules, RulesError, type LoyaltyRules } from '../../config/schema/mod.js';
import { txSubject } from '../../contracts/subjects.js';
import type { ControlV1 } from '../../contracts/events.js';
import type { Publisher, Logger } from '../../platform/mod.js';

export type RulesPublishResult =
  | { status: 'published'; version: string; partitions: number }
  | { status: 'refused'; error: string };

/** Validates `text` and publishes it to every partition as a `loyalty_rules` control message. */
export async function publishRules(publisher: Publisher, partitions: number, text: string, source: string): Promise<RulesPublishResult> {
  let version: string;
  try {
    version = parseRules(text, source).version;
  } catch (err) {
    return { status: 'refused', error: err instanceof RulesError ? err.message : `${source}: ${(err as Error).message}` };
  }
  const msgs = [...Array(partitions).keys()].map((p) => {
    const body: ControlV1 = { control_id: `rules:${version}:${p}`, type: 'loyalty_rules', version, text };
    return { subject: txSubject(p, 'control'), msgId: body.control_id, data: Buffer.from(JSON.stringify(body)) };
  });
  const results = await publisher.publishAll(msgs);
  const failed = results.filter((r) => !r.ok);
  if (failed.length) return { status: 'refused', error: `could not publish the reload to ${failed.length} partitions; retry` };
  return { status: 'published', version, partitions };
}

export interface RulesWatchOptions {
  path: string;
  publisher: Publisher;
  partitions: number;
  logger: Logger;
  /** How often the file is checked, ms. Default 2000. */
  intervalMs?: number;
  /** Version of the rules in force at start. */
  initialVersion: string;
  /** Where `vafa_rules_reload_refused_total` is registered. Default: not counted. */
  registry?: Registry;
  /**
   * Called with the rules once their reload is published (the stack re-creates the reporting views when
   * the bank calendar changed). An error is logged; the reload stays published.
   */
  onPublished?: (rules: LoyaltyRules) => Promise<void> | void;
  /**
   * Called once per refused change of the file, after it is counted and logged (the stack audits it as a
   * failed `admin.rules.reload`). `error` names the file and, for an invalid file, the line. An error is logged.
   */
  onRefused?: (refusal: RulesRefusal) => Promise<void> | void;
}

/** `invalid`: the file does not parse or validate; `unpublished`: valid, but the reload could not be published into `TX`. */
export type RefusalReason = 'invalid' | 'unpublished';

/** A refused rules file: why, and the error naming the file (and the line, when invalid). */
export interface RulesRefusal { reason: RefusalReason; error: string }

function refusalCounter(registry: Registry | undefined): Counter<'reason'> | undefined {
  if (!registry) return undefined;
  const name = 'vafa_rules_reload_refused_total';
  return (registry.getSingleMetric(name) as Counter<'reason'> | undefined)
    ?? new Counter({ name, help: 'loyalty rules files refused (invalid, or the reload could not be published); the rules in force stay', labelNames: ['reason'], registers: [registry] });
}

/** Runs `work` on each call, one run at a time; calls during a run make one more run after it. */
function coalesced(work: () => Promise<void>): () => void {
  let running = false;
  let again = false;
  const run = async (): Promise<void> => {
    running = true;
    do {
      again = false;
      await work().catch(() => undefined);
    } while (again);
    running = false;
  };
  return () => {
    if (running) again = true;
    else void run();
  };
}

/**
 * Watches the rules file; on a change whose version differs from the last one seen, publishes it.
 * Returns a stop function.
 */
export function watchRulesFile(opts: RulesWatchOptions): () => void {
  let last = opts.initialVersion;
  const refusals = refusalCounter(opts.registry);
  const refuse = async (reason: RefusalReason, err: string, message: string): Promise<void> => {
    refusals?.inc({ reason });
    opts.logger.error({ err, reason, file: opts.path }, message);
    try {
      await opts.onRefused?.({ reason, error: err });
    } catch (error) {
      opts.logger.error({ err: (error as Error).message, reason, file: opts.path }, 'loyalty rules file refused, but what follows the refusal failed');
    }
  };
  const check = async (): Promise<void> => {
    try {
      const text = await readFile(opts.path, 'utf8');
      let rules: LoyaltyRules;
      try {
        rules = parseRules(text, opts.path);
      } catch (err) {
        await refuse('invalid', (err as Error).message, 'loyalty rules file refused; the rules in force stay');
        return;
      }
      const version = rules.version;
      if (version === last) return;
      const r = await publishRules(opts.publisher, opts.partitions, text, opts.path);
      if (r.status === 'published') {
        last = version;
        opts.logger.info({ version, partitions: r.partitions }, 'loyalty rules reload published into TX');
        try {
          await opts.onPublished?.(rules);
        } catch (err) {
          opts.logger.error({ err: (err as Error).message, version }, 'loyalty rules reload published, but what follows it failed');
        }
      } else await refuse('unpublished', r.error, 'loyalty rules reload refused; the rules in force stay');
    } catch (err) {
      opts.logger.warn({ err: (err as Error).message }, 'could not read the loyalty rules file');
    }
  };
  // A change seen while a check runs (an editor's truncate, then write) is checked again afterwards, not dropped.
  watchFile(opts.path, { interval: opts.intervalMs ?? 2000 }, coalesced(check));
  return () => unwatchFile(opts.path);
}
