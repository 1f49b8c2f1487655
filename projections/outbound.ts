import { sql } from 'slonik';
import { conversationEventOf } from '../src/conversation/conversationEvents.ts';
import { type RecordedEvent, streamId } from '../src/eventstore/eventStore.ts';
import type { Projection } from '../src/projection/projection.ts';

/**
 * The outbound sender's work queue (table: migration 0005): a row per message queued and not yet
 * sent or failed. Replays are harmless: inserts ignore rows already there, the rest set absolute values.
 */
export const outboundProjection: Projection = {
  name: 'outbound',
  version: 1,
  eventTypes: [
    'MessageQueued',
    'MessageSendAttempted',
    'MessageSendDeferred',
    'MessageSent',
    'MessageFailed',
  ],
  async apply(tx, recorded: RecordedEvent) {
    const event = conversationEventOf(recorded);
    const at = recorded.metadata.occurredAt;
    switch (event.type) {
      case 'MessageQueued':
        await tx.query(sql.unsafe`
          INSERT INTO outbound.pending (conversation_id, revision, message_id, organization_id, channel_id,
                                        recipient, content, reply_to, queued_at, next_attempt_at)
          VALUES (${streamId(recorded.streamName)}, ${String(recorded.revision)}, ${event.data.messageId},
                  ${recorded.metadata.organizationId}, ${event.data.channelId}, ${event.data.to},
                  ${JSON.stringify(event.data.content)}, ${event.data.replyTo}, ${at}, ${at})
          ON CONFLICT DO NOTHING`);
        return;
      case 'MessageSendAttempted':
        await tx.query(sql.unsafe`
          UPDATE outbound.pending SET attempts = ${event.data.attempt}, attempt_started_at = ${at}
           WHERE message_id = ${event.data.messageId}`);
        return;
      case 'MessageSendDeferred':
        await tx.query(sql.unsafe`
          UPDATE outbound.pending SET attempt_started_at = NULL, next_attempt_at = ${event.data.retryAt}
           WHERE message_id = ${event.data.messageId}`);
        return;
      case 'MessageSent':
      case 'MessageFailed':
        await tx.query(sql.unsafe`DELETE FROM outbound.pending WHERE message_id = ${event.data.messageId}`);
        return;
      default:
        return;
    }
  },
};
