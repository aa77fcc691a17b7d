/**
 * A history record as the core gets it: validated and normalised exactly as ingest validates it (the same
 * `prepare`, filling the parsed line in place), or why it is refused. Used by the feeder for
 * every record in one thread, and by each worker thread for the events of its partitions (threads.ts),
 * so validation runs on every core.
 */
import { basename } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { isRealDate } from '../../../contracts/events.js';
import { Validator, IngestService } from '../../../ingest/mod.js';
import type { Publisher } from '../../../platform/mod.js';
import type { RecordKind } from './sources.js';

const Rfc3339 = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?(Z|[+-]\\d{2}:\\d{2})$', description: 'RFC 3339 date-time, e.g. 2026-11-23T10:15:00Z' });
/** A line of a club file (sources.ts): one lot of an opening balance, and/or the member's tier. */
const ClubLine = Type.Object({
  customer_id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[\\x21-\\x7e]+$' }),
  points: Type.Integer({ minimum: 0, maximum: 1_000_000_000 }),
  migrated_at: Rfc3339,
  expires_at: Type.Optional(Rfc3339),
  tier: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })),
  migration_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: '^[\\x21-\\x7e]+$' })),
}, { additionalProperties: false });
const migrationValidator = new Validator<Static<typeof ClubLine>>(ClubLine);

function migrationProblems(v: Static<typeof ClubLine>): string[] {
  const out: string[] = [];
  if (!isRealDate(v.migrated_at)) out.push('migrated_at: is not a real date');
  if (v.expires_at !== undefined && !isRealDate(v.expires_at)) out.push('expires_at: is not a real date');
  if (v.points === 0 && v.tier === undefined) out.push('(body): a line with 0 points must name a tier');
  return out;
}

/** The ingest service's validation and normalisation, without publishing (backfill publishes nothing). */
const noPublisher = {
  available: false,
  publishAll: () => Promise.reject(new Error('backfill publishes nothing')),
} as unknown as Publisher;

/** A record validated (`value`) or refused (`reason`). */
export type Prepared = { value: Record<string, unknown> } | { reason: string };

/** Validates and normalises history records as ingest does (profiles' cards tokenized with `tokenKey`). */
export class RecordPreparer {
  private readonly ingest: IngestService;

  constructor(partitions: number, tokenKey: string) {
    this.ingest = new IngestService({ publisher: noPublisher, partitions, tokenKey });
  }

  /** The record as the core gets it; `file` and `line` name a club line's lot. May change `body` (it was parsed for this alone). */
  prepare(kind: RecordKind, body: Record<string, unknown>, file: string, line: number): Prepared {
    if (kind === 'migration') {
      const checked = migrationValidator.validate(body);
      const problems = checked.ok ? migrationProblems(checked.value) : checked.errors.map((e) => `${e.field}: ${e.message}`);
      if (!checked.ok || problems.length) return { reason: problems.join('; ') };
      return { value: { ...checked.value, migration_id: checked.value.migration_id ?? `${basename(file)}:${line}`, source: `${file}:${line}` } };
    }
    if (kind === 'redemption' && body.occurred_at === undefined) return { reason: 'occurred_at: is required in history (a live redemption takes its arrival time)' };
    const prepared = this.ingest.prepare(kind, body, new Date(0), true);
    if (!prepared.ok) return { reason: prepared.errors.map((e) => `${e.field}: ${e.message}`).join('; ') };
    return { value: prepared.value };
  }
}
