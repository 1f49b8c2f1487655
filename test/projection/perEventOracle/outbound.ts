import { sql } from 'slonik';
import { outboundProjection } from '../../../projections/outbound.ts';
import { conversationEventOf } from '../../../src/conversation/conversationEvents.ts';
import { streamId } from '../../../src/eventstore/eventStore.ts';
import { perEvent } from './perEvent.ts';

/**
 * The outbound projection as it was before it became set-based (projection version 1, one event at a
 * time, a statement or two each), kept here only as the reference the set-based projection is checked
 * against (setBasedProjections.int.test.ts). Not used by the server.
 */
export const outboundPerEvent = perEvent(outboundProjection, async (tx, recorded, { tables: t }) => {
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
});
