import { sql } from 'slonik';
import { conversationEventOf } from '../src/conversation/conversationEvents.ts';
import { streamId } from '../src/eventstore/eventStore.ts';
import type { Projection } from '../src/projection/projection.ts';
import { RowChanges } from '../src/projection/rowChanges.ts';

type TimerRow = { conversation_id: string; kind: 'snooze'; organization_id: string; due_at: string };

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
  async applyBatch(tx, events, { tables: t }) {
    const timers = new RowChanges<TimerRow>(['conversation_id', 'kind']);
    for (const recorded of events) {
      const event = conversationEventOf(recorded);
      const key = { conversation_id: streamId(recorded.streamName), kind: 'snooze' } as const;
      if (event.type === 'ConversationSnoozed') {
        // A timer already there keeps its organization and takes the new time.
        const until = event.data.until;
        timers.create({ ...key, organization_id: recorded.metadata.organizationId, due_at: until });
        timers.set(key, { due_at: until });
      } else {
        timers.delete(key);
      }
    }
    await timers.write(tx, t.timers);
  },
};
