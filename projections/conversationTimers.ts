import { sql } from 'slonik';
import { conversationEventOf } from '../src/conversation/conversationEvents.ts';
import { type RecordedEvent, streamId } from '../src/eventstore/eventStore.ts';
import type { Projection } from '../src/projection/projection.ts';

/**
 * When each snoozed conversation wakes up (table: migration 0005). A snooze sets the timer; anything
 * that ends the snooze first clears it. Replays set the same rows again.
 */
export const conversationTimersProjection: Projection = {
  name: 'conversation-timers',
  version: 1,
  eventTypes: [
    'ConversationSnoozed',
    'ConversationReopened',
    'ConversationResolved',
    'ConversationMarkedPending',
  ],
  async apply(tx, recorded: RecordedEvent) {
    const event = conversationEventOf(recorded);
    const conversationId = streamId(recorded.streamName);
    if (event.type === 'ConversationSnoozed') {
      await tx.query(sql.unsafe`
        INSERT INTO scheduling.conversation_timers (conversation_id, kind, organization_id, due_at)
        VALUES (${conversationId}, 'snooze', ${recorded.metadata.organizationId}, ${event.data.until})
        ON CONFLICT (conversation_id, kind) DO UPDATE SET due_at = excluded.due_at`);
      return;
    }
    await tx.query(sql.unsafe`
      DELETE FROM scheduling.conversation_timers WHERE conversation_id = ${conversationId} AND kind = 'snooze'`);
  },
};
