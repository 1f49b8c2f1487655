import { type DatabaseTransactionConnection, sql } from 'slonik';
import { conversationsProjection } from '../../../projections/conversations.ts';
import { contactIdFor } from '../../../src/conversation/contact.ts';
import { type ConversationEvent, conversationEventOf } from '../../../src/conversation/conversationEvents.ts';
import {
  type ConversationRow,
  inboxAudience,
  type LastMessage,
  type MessageAuthor,
  type MessageStatus,
  messageMedia,
  messageText,
  previewText,
  toConversationItem,
} from '../../../src/conversation/readModelItems.ts';
import { jsonb } from '../../../src/db/jsonb.ts';
import { type RecordedEvent, streamId } from '../../../src/eventstore/eventStore.ts';
import type { Projection, ProjectionContext, ProjectionTables } from '../../../src/projection/projection.ts';
import type { SqlFragment } from '../../../src/projection/tenantTable.ts';
import { conversationDelta } from '../../../src/realtime/delta.ts';

/**
 * The conversations projection as it was before it became set-based (projection version 1, one event
 * at a time, a few statements each), kept here only as the reference the set-based projection is
 * checked against (conversationsBatch.int.test.ts). Not used by the server.
 */
type Table = 'conversations' | 'messages' | 'contacts' | 'notes';
type Tables = ProjectionTables<Table>;

export const conversationsPerEvent: Projection<Table> = {
  ...conversationsProjection,
  async applyBatch(tx, events, context) {
    for (const event of events) await applyOne(tx, event, context);
  },
};

async function applyOne(
  tx: DatabaseTransactionConnection,
  recorded: RecordedEvent,
  { tables, publish }: ProjectionContext<Table>,
): Promise<void> {
  if (recorded.type === 'ContactUpdated') {
    await applyContactUpdated(tx, tables, recorded);
    return;
  }
  const change = await applyConversationEvent(tx, tables, recorded);
  const delta = conversationDelta(recorded, change?.previous ?? null);
  if (change) {
    delta.inbox = {
      item: toConversationItem(change.row),
      audience: inboxAudience(change.before, {
        assigneeId: change.row.assignee_id,
        queueId: change.row.queue_id,
      }),
    };
  }
  publish?.(delta);
}

/** One event's context: who, which conversation, when, where in `$all`. */
type Context = {
  tx: DatabaseTransactionConnection;
  t: Tables;
  org: string;
  id: string;
  at: string;
  position: string;
};

type Change = {
  /** The conversation's position before this event; null for its first. */
  previous: bigint | null;
  before: { assigneeId: string | null; queueId: string | null } | null;
  row: ConversationRow;
};

type ReturnedRow = ConversationRow & {
  previous_position: bigint;
  previous_assignee_id: string | null;
  previous_queue_id: string | null;
};

/**
 * Moves the conversation to this event (position, updated_at) with the other `set` assignments, in
 * one statement that also returns what it replaced. Null when the conversation has no row.
 */
async function update(c: Context, ...set: SqlFragment[]): Promise<Change | null> {
  const assignments = [
    sql.fragment`position = ${c.position}`,
    sql.fragment`updated_at = greatest(c.updated_at, ${c.at}::timestamptz)`,
    ...set,
  ];
  const row = (await c.tx.maybeOne(sql.unsafe`
    UPDATE ${c.t.conversations} AS c SET ${sql.join(assignments, sql.fragment`, `)}
      FROM (SELECT position, assignee_id, queue_id FROM ${c.t.conversations}
             WHERE organization_id = ${c.org} AND conversation_id = ${c.id} FOR UPDATE) AS old
     WHERE c.organization_id = ${c.org} AND c.conversation_id = ${c.id}
    RETURNING old.position AS previous_position, old.assignee_id AS previous_assignee_id,
              old.queue_id AS previous_queue_id, c.*`)) as ReturnedRow | null;
  if (!row) return null;
  const { previous_position, previous_assignee_id, previous_queue_id, ...current } = row;
  return {
    previous: previous_position,
    before: { assigneeId: previous_assignee_id, queueId: previous_queue_id },
    row: current,
  };
}

const activity = (c: Context) =>
  sql.fragment`last_activity_at = greatest(c.last_activity_at, ${c.at}::timestamptz)`;
const historyEntry = (status: MessageStatus, at: string) => jsonb([{ status, at }]);

/** The inbox preview's status follows its message's. */
const previewStatus = (messageId: string, status: string) => sql.fragment`
  last_message = CASE WHEN c.last_message->>'id' = ${messageId}
                      THEN jsonb_set(c.last_message, '{status}', to_jsonb(${status}::text))
                      ELSE c.last_message END`;

/** Statuses of an outbound message, in the only order they may move. */
const outboundOrder: MessageStatus[] = ['queued', 'sent', 'delivered', 'read'];

async function applyConversationEvent(
  tx: DatabaseTransactionConnection,
  t: Tables,
  recorded: RecordedEvent,
): Promise<Change | null> {
  const event: ConversationEvent = conversationEventOf(recorded);
  const c: Context = {
    tx,
    t,
    org: recorded.metadata.organizationId,
    id: streamId(recorded.streamName),
    at: recorded.metadata.occurredAt,
    position: String(recorded.position),
  };
  switch (event.type) {
    case 'ConversationStarted':
      return started(c, event.data);
    case 'ContactProfileChanged': {
      const change = await update(
        c,
        sql.fragment`contact_name = coalesce((SELECT k.name FROM ${t.contacts} AS k
          WHERE k.organization_id = c.organization_id AND k.contact_id = c.contact_id), ${event.data.name})`,
      );
      if (!change) return null;
      await tx.query(sql.unsafe`
        UPDATE ${t.contacts} SET profile_name = ${event.data.name}, position = ${c.position}
         WHERE organization_id = ${c.org} AND contact_id = ${change.row.contact_id}`);
      await showContactName(tx, t, c.org, change.row.contact_id);
      return change;
    }
    case 'MessageReceived': {
      const { messageId, sentAt, content, waMessageId } = event.data;
      const text = messageText(content);
      const preview: Omit<LastMessage, 'author'> = {
        id: messageId,
        direction: 'in',
        type: content.type,
        text: previewText(text),
        status: 'received',
        at: sentAt,
      };
      const change = await update(
        c,
        sql.fragment`last_message = ${jsonb(preview)}
          || jsonb_build_object('author', jsonb_build_object('kind', 'contact', 'id', c.contact_id))`,
        sql.fragment`unread_count = c.unread_count + 1`,
        sql.fragment`last_inbound_at = greatest(c.last_inbound_at, ${sentAt}::timestamptz)`,
        activity(c),
      );
      if (!change) return null;
      const author: MessageAuthor = { kind: 'contact', id: change.row.contact_id };
      await tx.query(sql.unsafe`
        INSERT INTO ${t.messages} (organization_id, conversation_id, message_id, direction, type, text, content,
                                   media, status, status_history, wa_message_id, author, created_at, position)
        VALUES (${c.org}, ${c.id}, ${messageId}, 'in', ${content.type}, ${text}, ${jsonb(content)},
                ${jsonb(messageMedia(content))}, 'received', ${historyEntry('received', sentAt)}, ${waMessageId},
                ${jsonb(author)}, ${sentAt}, ${c.position})
        ON CONFLICT DO NOTHING`);
      await tx.query(sql.unsafe`
        UPDATE ${t.contacts} SET last_seen_at = greatest(last_seen_at, ${sentAt}::timestamptz), position = ${c.position}
         WHERE organization_id = ${c.org} AND contact_id = ${change.row.contact_id}`);
      return change;
    }
    case 'MessageQueued': {
      const { messageId, content, author } = event.data;
      const text = messageText(content);
      const preview: LastMessage = {
        id: messageId,
        direction: 'out',
        type: content.type,
        text: previewText(text),
        author,
        status: 'queued',
        at: c.at,
      };
      // Unread counts the customer's messages since the business last answered (an agent or a bot).
      const answered = author.kind === 'agent' || author.kind === 'bot';
      const change = await update(
        c,
        sql.fragment`last_message = ${jsonb(preview)}`,
        activity(c),
        ...(answered ? [sql.fragment`unread_count = 0`] : []),
      );
      await tx.query(sql.unsafe`
        INSERT INTO ${t.messages} (organization_id, conversation_id, message_id, direction, type, text, content,
                                   media, status, status_history, author, created_at, position)
        VALUES (${c.org}, ${c.id}, ${messageId}, 'out', ${content.type}, ${text}, ${jsonb(content)},
                ${jsonb(messageMedia(content))}, 'queued', ${historyEntry('queued', c.at)}, ${jsonb(author)},
                ${c.at}, ${c.position})
        ON CONFLICT DO NOTHING`);
      return change;
    }
    case 'MessageSent': {
      const { messageId, waMessageId } = event.data;
      const status = await c.tx.maybeOneFirst(sql.unsafe`
        UPDATE ${t.messages}
           SET wa_message_id = ${waMessageId},
               status = CASE WHEN status = 'queued' THEN 'sent' ELSE status END,
               status_history = CASE WHEN status = 'queued' THEN status_history || ${historyEntry('sent', c.at)}
                                     ELSE status_history END
         WHERE organization_id = ${c.org} AND conversation_id = ${c.id} AND message_id = ${messageId}
        RETURNING status`);
      return update(c, ...(status === null ? [] : [previewStatus(messageId, String(status))]));
    }
    case 'MessageStatusUpdated': {
      const { messageId, waMessageId, status, at } = event.data;
      // Only forward: from any status ranked below this one (never from failed).
      const below = outboundOrder.slice(0, outboundOrder.indexOf(status));
      const moved = await c.tx.maybeOneFirst(sql.unsafe`
        UPDATE ${t.messages}
           SET status = ${status}, status_history = status_history || ${historyEntry(status, at)},
               wa_message_id = coalesce(wa_message_id, ${waMessageId})
         WHERE organization_id = ${c.org} AND conversation_id = ${c.id} AND message_id = ${messageId}
           AND status = ANY(${sql.array(below, 'text')})
        RETURNING status`);
      return update(c, ...(moved === null ? [] : [previewStatus(messageId, status)]));
    }
    case 'MessageFailed': {
      const { messageId, waMessageId, error, at } = event.data;
      const failed = await c.tx.maybeOneFirst(sql.unsafe`
        UPDATE ${t.messages}
           SET status = 'failed', error = ${jsonb(error)},
               status_history = status_history || ${historyEntry('failed', at)},
               wa_message_id = coalesce(${waMessageId}, wa_message_id)
         WHERE organization_id = ${c.org} AND conversation_id = ${c.id} AND message_id = ${messageId}
           AND status IN ('queued', 'sent')
        RETURNING status`);
      return update(c, ...(failed === null ? [] : [previewStatus(messageId, 'failed')]));
    }
    case 'MessageSendAttempted':
    case 'MessageSendDeferred':
    case 'MessageStatusDeferred':
      return update(c);
    case 'ConversationAssigned':
      return update(
        c,
        sql.fragment`assignee_id = ${event.data.assigneeId}::uuid`,
        sql.fragment`queue_id = ${event.data.queueId}::uuid`,
      );
    case 'ConversationResolved':
      return update(c, sql.fragment`status = 'resolved'`, sql.fragment`snoozed_until = NULL`, activity(c));
    case 'ConversationReopened':
      return update(c, sql.fragment`status = 'open'`, sql.fragment`snoozed_until = NULL`, activity(c));
    case 'ConversationMarkedPending':
      return update(c, sql.fragment`status = 'pending'`, sql.fragment`snoozed_until = NULL`, activity(c));
    case 'ConversationSnoozed':
      return update(
        c,
        sql.fragment`status = 'snoozed'`,
        sql.fragment`snoozed_until = ${event.data.until}::timestamptz`,
        activity(c),
      );
    case 'NoteAdded':
      await tx.query(sql.unsafe`
        INSERT INTO ${t.notes} (organization_id, conversation_id, note_id, text, author_id, created_at, position)
        VALUES (${c.org}, ${c.id}, ${event.data.noteId}, ${event.data.text}, ${event.data.authorId}, ${c.at},
                ${c.position})
        ON CONFLICT DO NOTHING`);
      return update(c);
    case 'LabelAdded':
      return update(
        c,
        sql.fragment`labels = CASE WHEN ${event.data.label} = ANY(c.labels) THEN c.labels
                                   ELSE array_append(c.labels, ${event.data.label}::text) END`,
      );
    case 'LabelRemoved':
      return update(c, sql.fragment`labels = array_remove(c.labels, ${event.data.label}::text)`);
    default:
      // A type newer than this code (a rolling deploy) still moves the position, so deltas chain.
      return update(c);
  }
}

/** The conversation's first event: its contact is upserted (a customer may write to several numbers). */
async function started(
  c: Context,
  data: Extract<ConversationEvent, { type: 'ConversationStarted' }>['data'],
): Promise<Change | null> {
  const contactId = contactIdFor(c.org, data.contact.waId);
  const shown = await c.tx.oneFirst(sql.unsafe`
    INSERT INTO ${c.t.contacts} AS k (organization_id, contact_id, wa_id, profile_name, first_seen_at,
                                      last_seen_at, position)
    VALUES (${c.org}, ${contactId}, ${data.contact.waId}, ${data.contact.name}, ${c.at}, ${c.at}, ${c.position})
    ON CONFLICT (organization_id, contact_id) DO UPDATE
      SET profile_name = coalesce(excluded.profile_name, k.profile_name), position = excluded.position
    RETURNING coalesce(k.name, k.profile_name)`);
  const row = (await c.tx.maybeOne(sql.unsafe`
    INSERT INTO ${c.t.conversations} (organization_id, conversation_id, channel_id, contact_id, wa_id,
                                      contact_name, status, last_activity_at, created_at, updated_at, position)
    VALUES (${c.org}, ${c.id}, ${data.channelId}, ${contactId}, ${data.contact.waId}, ${shown as string | null},
            'open', ${c.at}, ${c.at}, ${c.at}, ${c.position})
    ON CONFLICT DO NOTHING
    RETURNING *`)) as ConversationRow | null;
  await showContactName(c.tx, c.t, c.org, contactId);
  if (!row) return update(c);
  return { previous: null, before: null, row };
}

/** Every conversation of the contact shows its name (the one agents set, else its profile name). */
async function showContactName(
  tx: DatabaseTransactionConnection,
  t: Tables,
  org: string,
  contactId: string,
): Promise<void> {
  await tx.query(sql.unsafe`
    UPDATE ${t.conversations} AS c SET contact_name = coalesce(k.name, k.profile_name)
      FROM ${t.contacts} AS k
     WHERE k.organization_id = ${org} AND k.contact_id = ${contactId}
       AND c.organization_id = ${org} AND c.contact_id = ${contactId}
       AND c.contact_name IS DISTINCT FROM coalesce(k.name, k.profile_name)`);
}

async function applyContactUpdated(tx: DatabaseTransactionConnection, t: Tables, recorded: RecordedEvent) {
  const data = recorded.data as { name?: string | null; attributes?: Record<string, unknown> };
  const org = recorded.metadata.organizationId;
  const contactId = streamId(recorded.streamName);
  const set = [sql.fragment`position = ${String(recorded.position)}`];
  if (data.name !== undefined) set.push(sql.fragment`name = ${data.name}`);
  // Stored values are never null, so stripping nulls after the merge is exactly "null removes the key".
  if (data.attributes !== undefined) {
    set.push(sql.fragment`attributes = jsonb_strip_nulls(attributes || ${jsonb(data.attributes)})`);
  }
  await tx.query(sql.unsafe`
    UPDATE ${t.contacts} SET ${sql.join(set, sql.fragment`, `)}
     WHERE organization_id = ${org} AND contact_id = ${contactId}`);
  await showContactName(tx, t, org, contactId);
}
