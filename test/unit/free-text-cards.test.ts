/**
 * A customer may type a card number into feedback's free text: ingest masks it before the event travels
 * on `TX`, and the feedback row masks it again (for events already on the stream or published directly).
 */
import { describe, expect, it } from 'vitest';
import { IngestService } from '../../ingest/service.js';
import type { Publisher } from '../../platform/publisher.js';
import { Emit } from '../../scorer/core/mod.js';
import { tableRows } from '../../sinks/mapping.js';
import type { FeedbackV1 } from '../../contracts/events.js';

const ingest = new IngestService({ publisher: {} as Publisher, partitions: 8, tokenKey: 'test-key' });
const complaint = (text: string): Record<string, unknown> => ({
  feedback_id: 'F1', customer_id: 'C1', occurred_at: '2026-12-01T10:00:00Z', kind: 'complaint', channel: 'online', text,
});

describe('card numbers in feedback text', () => {
  it('ingest masks them before the event travels, and keeps the rest of the text', () => {
    const prepared = ingest.prepare('feedback', complaint('charged twice on 4111 1111 1111 1111 and on 5500-0000-0000-0004, ref 123456'), new Date());
    expect(prepared.ok).toBe(true);
    if (!prepared.ok) return;
    const text = String(prepared.value.text);
    expect(text).not.toMatch(/4111|5500/);
    expect(text).toBe('charged twice on [PAN 16 digits] and on [PAN 16 digits], ref 123456');
    const message = ingest.toMessage('feedback', prepared.value, prepared.id);
    expect(Buffer.from(message.data).toString('utf8')).not.toContain('4111');
  });

  it('the feedback row masks a card number that reached the stream anyway', () => {
    const emit = new Emit();
    const feedback = complaint('my card 4111111111111111 was charged twice') as unknown as FeedbackV1;
    emit.event({ type: 'feedback_recorded', feedback, at: Date.parse('2026-12-01T10:00:00Z'), campaignId: '', stage: 'active', seq: 7 });
    const rows = tableRows(emit).get('feedback') ?? [];
    expect(rows).toHaveLength(1);
    expect(rows[0]?.text).toBe('my card [PAN 16 digits] was charged twice');
  });
});
