import { sql } from 'slonik';
import { conversationEventTypes } from '../src/conversation/conversationEvents.ts';
import type { Projection } from '../src/projection/projection.ts';
import { createTenantTable } from '../src/projection/tenantTable.ts';
import {
  contactKey,
  contactKeysOfConversations,
  conversationKey,
  foldBatch,
  keysOf,
  messageKey,
  type Rows,
} from './conversations/fold.ts';
import {
  insertCreated,
  loadContacts,
  loadConversations,
  loadMessages,
  type Table,
  writeChanges,
} from './conversations/rows.ts';

/**
 * The agent console's read models: conversations (the inbox), their messages and private notes,
 * and contacts. Every conversation event moves its conversation's `position` to that event's, and
 * publishes a delta whose `previous` is the position it replaces, with the conversation's inbox item
 * after the event. A contact's name and attributes set by agents (`ContactUpdated`, on the contact's
 * own stream) change the contact and the name its conversations show, without a delta: deltas follow
 * conversation streams only.
 *
 * A batch is applied set-based (conversations/fold.ts, conversations/rows.ts): its rows are read in one
 * statement per table, folded in memory event by event, and written back in one statement per table.
 */
export const conversationsProjection: Projection<Table> = {
  name: 'conversations',
  version: 1,
  tables: {
    conversations: 'rm.conversations',
    messages: 'rm.messages',
    contacts: 'rm.contacts',
    notes: 'rm.notes',
  },
  eventTypes: [...conversationEventTypes, 'ContactUpdated'],
  async createTables(tx, t) {
    await createTenantTable(
      tx,
      t.conversations,
      sql.fragment`
      organization_id uuid NOT NULL, conversation_id uuid NOT NULL, channel_id uuid NOT NULL,
      contact_id uuid NOT NULL, wa_id text NOT NULL, contact_name text, status text NOT NULL,
      snoozed_until timestamptz, assignee_id uuid, queue_id uuid, labels text[] NOT NULL DEFAULT '{}',
      last_message jsonb, unread_count integer NOT NULL DEFAULT 0, last_inbound_at timestamptz,
      last_activity_at timestamptz NOT NULL, created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL, position bigint NOT NULL,
      PRIMARY KEY (organization_id, conversation_id)`,
    );
    // A contact's conversations: a rename reads them (and so does the contact's panel).
    await tx.query(sql.unsafe`CREATE INDEX ON ${t.conversations} (organization_id, contact_id)`);
    await createTenantTable(
      tx,
      t.messages,
      sql.fragment`
      organization_id uuid NOT NULL, conversation_id uuid NOT NULL, message_id uuid NOT NULL,
      direction text NOT NULL, type text NOT NULL, text text, content jsonb NOT NULL, media jsonb,
      status text NOT NULL, status_history jsonb NOT NULL, wa_message_id text, author jsonb NOT NULL,
      error jsonb, created_at timestamptz NOT NULL, position bigint NOT NULL,
      PRIMARY KEY (organization_id, conversation_id, message_id)`,
    );
    await createTenantTable(
      tx,
      t.contacts,
      sql.fragment`
      organization_id uuid NOT NULL, contact_id uuid NOT NULL, wa_id text NOT NULL, profile_name text,
      name text, attributes jsonb NOT NULL DEFAULT '{}', first_seen_at timestamptz NOT NULL,
      last_seen_at timestamptz NOT NULL, position bigint NOT NULL,
      PRIMARY KEY (organization_id, contact_id)`,
    );
    await createTenantTable(
      tx,
      t.notes,
      sql.fragment`
      organization_id uuid NOT NULL, conversation_id uuid NOT NULL, note_id uuid NOT NULL,
      text text NOT NULL, author_id text NOT NULL, created_at timestamptz NOT NULL, position bigint NOT NULL,
      PRIMARY KEY (organization_id, conversation_id, note_id)`,
    );
  },
  async createIndexes(tx, t) {
    // The inbox reads newest activity first, by keyset, under each filter it offers.
    for (const lead of [
      sql.fragment``,
      sql.fragment`status,`,
      sql.fragment`assignee_id,`,
      sql.fragment`queue_id,`,
    ]) {
      await tx.query(sql.unsafe`CREATE INDEX ON ${t.conversations}
        (organization_id, ${lead} last_activity_at DESC, conversation_id DESC)`);
    }
    await tx.query(
      sql.unsafe`CREATE INDEX ON ${t.messages} (organization_id, conversation_id, position DESC)`,
    );
    await tx.query(
      sql.unsafe`CREATE INDEX ON ${t.contacts} (organization_id, last_seen_at DESC, contact_id DESC)`,
    );
    await tx.query(sql.unsafe`CREATE INDEX ON ${t.contacts} (organization_id, wa_id text_pattern_ops)`);
    await tx.query(sql.unsafe`CREATE INDEX ON ${t.notes} (organization_id, conversation_id, position DESC)`);
  },
  async applyBatch(tx, events, { tables, publish }) {
    // 1. Read the stored rows the batch touches, one statement per table.
    const keys = keysOf(events);
    const conversations = byKey(await loadConversations(tx, tables, keys.conversations), (row) =>
      conversationKey(row.organization_id, row.conversation_id),
    );
    const rows: Rows = {
      conversations,
      messages: byKey(await loadMessages(tx, tables, keys.messages), (row) =>
        messageKey(row.organization_id, row.conversation_id, row.message_id),
      ),
      contacts: byKey(
        await loadContacts(
          tx,
          tables,
          new Set([...keys.contacts, ...contactKeysOfConversations(events, conversations)]),
        ),
        (row) => contactKey(row.organization_id, row.contact_id),
      ),
    };
    // 2. Fold the events over them in memory, a delta per conversation event when someone listens.
    let { changes, deltas } = foldBatch(events, rows, publish !== null);
    // 3. Insert what the batch created. A row that was stored after all (a conversation started again,
    //    a message recorded twice) is read, and the batch folded again over it: what was inserted is
    //    then written once more with the rest.
    const stored = await insertCreated(tx, tables, changes);
    if (stored.conversations.size > 0 || stored.messages.size > 0) {
      for (const row of await loadConversations(tx, tables, stored.conversations)) {
        conversations.set(conversationKey(row.organization_id, row.conversation_id), row);
      }
      for (const row of await loadMessages(tx, tables, stored.messages)) {
        rows.messages.set(messageKey(row.organization_id, row.conversation_id, row.message_id), row);
      }
      ({ changes, deltas } = foldBatch(events, rows, publish !== null));
      changes = {
        ...changes,
        conversations: [...changes.newConversations, ...changes.conversations],
        changedMessages: [...changes.newMessages, ...changes.changedMessages],
      };
    }
    // 4. Write the rest, one statement per table; the deltas go out after the commit.
    await writeChanges(tx, tables, changes);
    for (const delta of deltas) publish?.(delta);
  },
};

const byKey = <T>(rows: readonly T[], key: (row: T) => string): Map<string, T> =>
  new Map(rows.map((row) => [key(row), row]));
