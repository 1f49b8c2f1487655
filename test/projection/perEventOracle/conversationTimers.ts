import { sql } from 'slonik';
import { conversationTimersProjection } from '../../../projections/conversationTimers.ts';
import { conversationEventOf } from '../../../src/conversation/conversationEvents.ts';
import { streamId } from '../../../src/eventstore/eventStore.ts';
import { perEvent } from './perEvent.ts';

/**
 * The conversation-timers projection as it was before it became set-based (projection version 1, one event at a
 * time, a statement or two each), kept here only as the reference the set-based projection is checked
 * against (setBasedProjections.int.test.ts). Not used by the server.
 */
export const conversationTimersPerEvent = perEvent(
  conversationTimersProjection,
  async (tx, recorded, { tables: t }) => {
    const event = conversationEventOf(recorded);
    const conversationId = streamId(recorded.streamName);
    if (event.type === 'ConversationSnoozed') {
      await tx.query(sql.unsafe`
      INSERT INTO ${t.timers} (conversation_id, kind, organization_id, due_at)
      VALUES (${conversationId}, 'snooze', ${recorded.metadata.organizationId}, ${event.data.until})
      ON CONFLICT (conversation_id, kind) DO UPDATE SET due_at = excluded.due_at`);
      return;
    }
    await tx.query(sql.unsafe`
    DELETE FROM ${t.timers} WHERE conversation_id = ${conversationId} AND kind = 'snooze'`);
  },
);
