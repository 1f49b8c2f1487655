import { sql } from 'slonik';
import { conversationEventOf } from '../src/conversation/conversationEvents.ts';
import { type RecordedEvent, streamId } from '../src/eventstore/eventStore.ts';
import type { Projection } from '../src/projection/projection.ts';
import { RowChanges } from '../src/projection/rowChanges.ts';

/**
 * The outbound sender's work queue: a row per message queued and not yet sent or failed. Inserts
 * ignore rows already there, the rest set absolute values. The sender reads the head of each
 * conversation's queue across tenants: it is a system component, so the table sits outside `rm` and
 * its row-level security (first made by migration 0005).
 */
export const outboundProjection: Projection<'pending'> = {
  name: 'outbound',
  version: 1,
  tables: { pending: 'outbound.pending' },
  async createTables(tx, t) {
    await tx.query(sql.unsafe`
      CREATE TABLE ${t.pending} (
        conversation_id uuid NOT NULL, revision bigint NOT NULL, message_id uuid NOT NULL UNIQUE,
        organization_id uuid NOT NULL, channel_id uuid NOT NULL, recipient text NOT NULL,
        content jsonb NOT NULL, reply_to text, queued_at timestamptz NOT NULL,
        attempts integer NOT NULL DEFAULT 0, attempt_started_at timestamptz,
        next_attempt_at timestamptz NOT NULL,
        PRIMARY KEY (conversation_id, revision))`);
    await tx.query(sql.unsafe`CREATE INDEX ON ${t.pending} (next_attempt_at)`);
  },
  eventTypes: [
    'MessageQueued',
    'MessageSendAttempted',
    'MessageSendDeferred',
    'MessageSent',
    'MessageFailed',
  ],
  async applyBatch(tx, events, { tables: t }) {
    await foldPending(events).write(tx, t.pending);
  },
};

type PendingRow = {
  conversation_id: string;
  revision: string;
  message_id: string;
  organization_id: string;
  channel_id: string;
  recipient: string;
  content: unknown;
  reply_to: string | null;
  queued_at: string;
  attempts: number;
  attempt_started_at: string | null;
  next_attempt_at: string;
};

/**
 * Keyed by message: the other unique key, (conversation, revision), names one event of the store and
 * so one message.
 */
function foldPending(events: readonly RecordedEvent[]): RowChanges<PendingRow> {
  const pending = new RowChanges<PendingRow>(['message_id']);
  for (const recorded of events) {
    const event = conversationEventOf(recorded);
    const at = recorded.metadata.occurredAt;
    switch (event.type) {
      case 'MessageQueued':
        pending.create({
          conversation_id: streamId(recorded.streamName),
          revision: String(recorded.revision),
          message_id: event.data.messageId,
          organization_id: recorded.metadata.organizationId,
          channel_id: event.data.channelId,
          recipient: event.data.to,
          content: event.data.content,
          reply_to: event.data.replyTo,
          queued_at: at,
          attempts: 0,
          attempt_started_at: null,
          next_attempt_at: at,
        });
        break;
      case 'MessageSendAttempted':
        pending.set(
          { message_id: event.data.messageId },
          { attempts: event.data.attempt, attempt_started_at: at },
        );
        break;
      case 'MessageSendDeferred':
        pending.set(
          { message_id: event.data.messageId },
          { attempt_started_at: null, next_attempt_at: event.data.retryAt },
        );
        break;
      case 'MessageSent':
      case 'MessageFailed':
        pending.delete({ message_id: event.data.messageId });
        break;
      default:
        break;
    }
  }
  return pending;
}
