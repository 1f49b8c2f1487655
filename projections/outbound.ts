import { sql } from 'slonik';
import { conversationEventOf } from '../src/conversation/conversationEvents.ts';
import { type RecordedEvent, streamId } from '../src/eventstore/eventStore.ts';
import { eachEvent, type Projection } from '../src/projection/projection.ts';

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
  applyBatch: eachEvent(async (tx, recorded, { tables: t }) => {
    const event = conversationEventOf(recorded);
    const at = recorded.metadata.occurredAt;
    switch (event.type) {
      case 'MessageQueued':
        await tx.query(sql.unsafe`
          INSERT INTO ${t.pending} (conversation_id, revision, message_id, organization_id, channel_id,
                                        recipient, content, reply_to, queued_at, next_attempt_at)
          VALUES (${streamId(recorded.streamName)}, ${String(recorded.revision)}, ${event.data.messageId},
                  ${recorded.metadata.organizationId}, ${event.data.channelId}, ${event.data.to},
                  ${JSON.stringify(event.data.content)}, ${event.data.replyTo}, ${at}, ${at})
          ON CONFLICT DO NOTHING`);
        return;
      case 'MessageSendAttempted':
        await tx.query(sql.unsafe`
          UPDATE ${t.pending} SET attempts = ${event.data.attempt}, attempt_started_at = ${at}
           WHERE message_id = ${event.data.messageId}`);
        return;
      case 'MessageSendDeferred':
        await tx.query(sql.unsafe`
          UPDATE ${t.pending} SET attempt_started_at = NULL, next_attempt_at = ${event.data.retryAt}
           WHERE message_id = ${event.data.messageId}`);
        return;
      case 'MessageSent':
      case 'MessageFailed':
        await tx.query(sql.unsafe`DELETE FROM ${t.pending} WHERE message_id = ${event.data.messageId}`);
        return;
      default:
        return;
    }
  }),
};
