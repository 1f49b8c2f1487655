import { sql } from 'slonik';
import { conversationEventOf } from '../src/conversation/conversationEvents.ts';
import { type RecordedEvent, streamId } from '../src/eventstore/eventStore.ts';
import { eachEvent, type Projection } from '../src/projection/projection.ts';

/**
 * When each snoozed conversation wakes up. A snooze sets the timer; anything that ends the snooze
 * first clears it. Read across tenants by the snooze waker (first made by migration 0005).
 */
export const conversationTimersProjection: Projection<'timers'> = {
  name: 'conversation-timers',
  version: 1,
  tables: { timers: 'scheduling.conversation_timers' },
  async createTables(tx, t) {
    await tx.query(sql.unsafe`
      CREATE TABLE ${t.timers} (
        conversation_id uuid NOT NULL, kind text NOT NULL, organization_id uuid NOT NULL,
        due_at timestamptz NOT NULL,
        PRIMARY KEY (conversation_id, kind))`);
    await tx.query(sql.unsafe`CREATE INDEX ON ${t.timers} (due_at)`);
  },
  eventTypes: [
    'ConversationSnoozed',
    'ConversationReopened',
    'ConversationResolved',
    'ConversationMarkedPending',
  ],
  applyBatch: eachEvent(async (tx, recorded, { tables: t }) => {
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
  }),
};
