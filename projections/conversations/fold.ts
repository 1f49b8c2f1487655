import { contactIdFor } from '../../src/conversation/contact.ts';
import { type ConversationEvent, conversationEventOf } from '../../src/conversation/conversationEvents.ts';
import {
  type ContactRow,
  type ConversationRow,
  inboxAudience,
  type LastMessage,
  type MessageAuthor,
  type MessageRow,
  type MessageStatus,
  messageMedia,
  messageText,
  type NoteRow,
  previewText,
  toConversationItem,
} from '../../src/conversation/readModelItems.ts';
import { type RecordedEvent, streamId } from '../../src/eventstore/eventStore.ts';
import { type ConversationDelta, conversationDelta } from '../../src/realtime/delta.ts';

/**
 * The conversations projection's batch, folded in memory: the rows a batch of events touches, as they
 * stood before it (read in one statement per table), are changed event by event exactly as the
 * per-event SQL of the projection's first version changed them, and each conversation event yields
 * its delta from the row as it stood after that event. Pure: rows in, rows and deltas out.
 */

export type ConversationState = ConversationRow & { organization_id: string };
/** What a batch may change of a stored message, with its key: read before the batch, written after. */
export type StoredMessage = Pick<
  MessageRow,
  'message_id' | 'status' | 'status_history' | 'wa_message_id' | 'error'
> & {
  organization_id: string;
  conversation_id: string;
};
/** A message the batch adds: the whole row. */
export type MessageState = MessageRow & StoredMessage;
export type ContactState = ContactRow & { organization_id: string };
export type NoteState = NoteRow & { organization_id: string; conversation_id: string };

/** The rows a batch needs, by key (see the key functions); a key absent from a loaded map has no row. */
export type Rows = {
  conversations: Map<string, ConversationState>;
  messages: Map<string, StoredMessage>;
  contacts: Map<string, ContactState>;
};

/** What a folded batch writes: every row it changed, as it stands after the batch. */
export type Changes = {
  /** Conversations the batch started (not read before it: taken to be new). */
  newConversations: ConversationState[];
  /** Stored conversations the batch changed. */
  conversations: ConversationState[];
  /** Messages the batch adds, as they stand after it. */
  newMessages: MessageState[];
  /** Stored messages the batch changed. */
  changedMessages: StoredMessage[];
  contacts: ContactState[];
  /** New notes (a note never changes; one already stored stays as it is). */
  notes: NoteState[];
  /**
   * Contacts stored before the batch whose shown name it changed: the conversations it did not hold
   * must show the new name too. (A contact the batch created has none: a conversation's row is only
   * ever written after its contact's.)
   */
  renamedContacts: { organizationId: string; contactId: string }[];
};

export const conversationKey = (organizationId: string, conversationId: string) =>
  `${organizationId}/${conversationId}`;
export const messageKey = (organizationId: string, conversationId: string, messageId: string) =>
  `${organizationId}/${conversationId}/${messageId}`;
export const contactKey = conversationKey;

/**
 * The keys whose rows a batch reads first. A conversation or a message whose first event in the batch
 * creates it (ConversationStarted; MessageReceived, MessageQueued) is taken to be new and not read:
 * the batch inserts it without overwriting, and one that was stored after all is read then and the
 * batch folded again (see `created` in Changes).
 */
export function keysOf(events: readonly RecordedEvent[]): {
  conversations: Set<string>;
  messages: Set<string>;
  contacts: Set<string>;
} {
  const keys = { conversations: new Set<string>(), messages: new Set<string>(), contacts: new Set<string>() };
  const seen = new Set<string>();
  for (const recorded of events) {
    const org = recorded.metadata.organizationId;
    const id = streamId(recorded.streamName);
    if (recorded.type === 'ContactUpdated') {
      keys.contacts.add(contactKey(org, id));
      continue;
    }
    const conversation = conversationKey(org, id);
    if (!seen.has(conversation) && recorded.type !== 'ConversationStarted')
      keys.conversations.add(conversation);
    seen.add(conversation);
    const data = recorded.data as { messageId?: unknown; contact?: { waId?: unknown } };
    if (recorded.type === 'ConversationStarted' && typeof data.contact?.waId === 'string') {
      keys.contacts.add(contactKey(org, contactIdFor(org, data.contact.waId)));
    }
    if (typeof data.messageId === 'string' && messageEvents.has(recorded.type)) {
      const message = messageKey(org, id, data.messageId);
      if (!seen.has(message) && !creatingEvents.has(recorded.type)) keys.messages.add(message);
      seen.add(message);
    }
  }
  return keys;
}

const creatingEvents = new Set(['MessageReceived', 'MessageQueued']);
const messageEvents = new Set([
  'MessageReceived',
  'MessageQueued',
  'MessageSent',
  'MessageStatusUpdated',
  'MessageFailed',
]);

/** Events whose fold reads the contact of their conversation (besides those keysOf names). */
const contactEvents = new Set(['ContactProfileChanged', 'MessageReceived', 'ConversationStarted']);

/** The contacts of loaded conversations that the batch's events read. */
export function contactKeysOfConversations(
  events: readonly RecordedEvent[],
  conversations: ReadonlyMap<string, ConversationState>,
): Set<string> {
  const keys = new Set<string>();
  for (const recorded of events) {
    if (!contactEvents.has(recorded.type)) continue;
    const row = conversations.get(
      conversationKey(recorded.metadata.organizationId, streamId(recorded.streamName)),
    );
    if (row) keys.add(contactKey(row.organization_id, row.contact_id));
  }
  return keys;
}

/** Statuses of an outbound message, in the only order they may move. */
const outboundOrder: MessageStatus[] = ['queued', 'sent', 'delivered', 'read'];

type Change = {
  /** The conversation's position before this event; null for its first. */
  previous: bigint | null;
  before: { assigneeId: string | null; queueId: string | null } | null;
  row: ConversationState;
};

const later = (current: Date | null, at: Date): Date =>
  current === null || at.getTime() > current.getTime() ? at : current;
const shownName = (contact: ContactState) => contact.name ?? contact.profile_name;

/** One batch's fold: the rows it holds, what changed, the deltas so far. */
class BatchFold {
  private readonly conversations: Map<string, ConversationState>;
  private readonly messages: Map<string, StoredMessage>;
  private readonly contacts: Map<string, ContactState>;
  /** Conversations held in memory by contact, to show a contact's new name on each of them. */
  private readonly byContact = new Map<string, Set<string>>();
  private readonly changed = {
    conversations: new Set<string>(),
    newConversations: new Set<string>(),
    messages: new Set<string>(),
    newMessages: new Set<string>(),
    contacts: new Set<string>(),
    renamed: new Set<string>(),
  };
  private readonly notes = new Map<string, NoteState>();
  /** Each stored contact's shown name before the batch. */
  private readonly storedNames = new Map<string, string | null>();
  readonly deltas: ConversationDelta[] = [];

  constructor(rows: Rows) {
    this.conversations = new Map(rows.conversations);
    this.messages = new Map(rows.messages);
    this.contacts = new Map(rows.contacts);
    for (const [key, row] of this.conversations) this.holdByContact(key, row);
    for (const [key, contact] of this.contacts) this.storedNames.set(key, shownName(contact));
  }

  apply(recorded: RecordedEvent, withDelta: boolean): void {
    if (recorded.type === 'ContactUpdated') {
      this.contactUpdated(recorded);
      return;
    }
    const change = this.conversationEvent(recorded);
    if (!withDelta) return;
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
    this.deltas.push(delta);
  }

  changes(): Changes {
    const pick = <T>(keys: Set<string>, rows: Map<string, T>) => [...keys].map((key) => rows.get(key) as T);
    const { newConversations, newMessages } = this.changed;
    const stored = (changed: Set<string>, created: Set<string>) =>
      new Set([...changed].filter((key) => !created.has(key)));
    return {
      newConversations: pick(newConversations, this.conversations),
      conversations: pick(stored(this.changed.conversations, newConversations), this.conversations),
      newMessages: pick(newMessages, this.messages) as MessageState[],
      changedMessages: pick(stored(this.changed.messages, newMessages), this.messages),
      contacts: pick(this.changed.contacts, this.contacts),
      notes: [...this.notes.values()],
      renamedContacts: [...this.changed.renamed].flatMap((key) => {
        const contact = this.contacts.get(key) as ContactState;
        const stored = this.storedNames.get(key);
        return stored === undefined || stored === shownName(contact)
          ? []
          : [{ organizationId: contact.organization_id, contactId: contact.contact_id }];
      }),
    };
  }

  private conversationEvent(recorded: RecordedEvent): Change | null {
    const event: ConversationEvent = conversationEventOf(recorded);
    const org = recorded.metadata.organizationId;
    const id = streamId(recorded.streamName);
    const c: Context = {
      org,
      id,
      key: conversationKey(org, id),
      occurredAt: recorded.metadata.occurredAt,
      at: new Date(recorded.metadata.occurredAt),
      position: recorded.position,
    };
    switch (event.type) {
      case 'ConversationStarted':
        return this.started(c, event.data);
      case 'ContactProfileChanged': {
        const current = this.conversations.get(c.key);
        if (!current) return null;
        const key = contactKey(org, current.contact_id);
        const contact = this.contacts.get(key);
        const change = this.move(c, { contact_name: contact?.name ?? event.data.name });
        if (contact) {
          this.setContact(key, { ...contact, profile_name: event.data.name, position: c.position });
          this.showContactName(key);
        }
        return change;
      }
      case 'MessageReceived': {
        const current = this.conversations.get(c.key);
        if (!current) return null;
        const { messageId, sentAt, content, waMessageId } = event.data;
        const sent = new Date(sentAt);
        const text = messageText(content);
        const author: MessageAuthor = { kind: 'contact', id: current.contact_id };
        const preview: LastMessage = {
          id: messageId,
          direction: 'in',
          type: content.type,
          text: previewText(text),
          status: 'received',
          at: sentAt,
          author,
        };
        const change = this.move(c, {
          last_message: preview,
          unread_count: current.unread_count + 1,
          last_inbound_at: later(current.last_inbound_at, sent),
          last_activity_at: later(current.last_activity_at, c.at),
        });
        this.addMessage(c, messageId, {
          direction: 'in',
          type: content.type,
          text,
          content,
          media: messageMedia(content),
          status: 'received',
          status_history: [{ status: 'received', at: sentAt }],
          wa_message_id: waMessageId,
          author,
          created_at: sent,
        });
        const key = contactKey(org, current.contact_id);
        const contact = this.contacts.get(key);
        if (contact) {
          this.setContact(key, {
            ...contact,
            last_seen_at: later(contact.last_seen_at, sent),
            position: c.position,
          });
        }
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
          at: c.occurredAt,
        };
        // Unread counts the customer's messages since the business last answered (an agent or a bot).
        const answered = author.kind === 'agent' || author.kind === 'bot';
        const change = this.move(c, (row) => ({
          last_message: preview,
          last_activity_at: later(row.last_activity_at, c.at),
          ...(answered ? { unread_count: 0 } : {}),
        }));
        this.addMessage(c, messageId, {
          direction: 'out',
          type: content.type,
          text,
          content,
          media: messageMedia(content),
          status: 'queued',
          status_history: [{ status: 'queued', at: c.occurredAt }],
          wa_message_id: null,
          author,
          created_at: c.at,
        });
        return change;
      }
      case 'MessageSent': {
        const { messageId, waMessageId } = event.data;
        const moved = this.changeMessage(c, messageId, (message) =>
          message.status === 'queued'
            ? {
                wa_message_id: waMessageId,
                status: 'sent',
                status_history: [...message.status_history, { status: 'sent', at: c.occurredAt }],
              }
            : { wa_message_id: waMessageId },
        );
        return this.moveWithPreview(c, messageId, moved?.status ?? null);
      }
      case 'MessageStatusUpdated': {
        const { messageId, waMessageId, status, at } = event.data;
        // Only forward: from any status ranked below this one (never from failed).
        const below = outboundOrder.slice(0, outboundOrder.indexOf(status));
        const moved = this.changeMessage(c, messageId, (message) =>
          below.includes(message.status)
            ? {
                status,
                status_history: [...message.status_history, { status, at }],
                wa_message_id: message.wa_message_id ?? waMessageId,
              }
            : null,
        );
        return this.moveWithPreview(c, messageId, moved ? status : null);
      }
      case 'MessageFailed': {
        const { messageId, waMessageId, error, at } = event.data;
        const failed = this.changeMessage(c, messageId, (message) =>
          message.status === 'queued' || message.status === 'sent'
            ? {
                status: 'failed',
                error,
                status_history: [...message.status_history, { status: 'failed', at }],
                wa_message_id: waMessageId ?? message.wa_message_id,
              }
            : null,
        );
        return this.moveWithPreview(c, messageId, failed ? 'failed' : null);
      }
      case 'ConversationAssigned':
        return this.move(c, { assignee_id: event.data.assigneeId, queue_id: event.data.queueId });
      case 'ConversationResolved':
        return this.moveActive(c, { status: 'resolved', snoozed_until: null });
      case 'ConversationReopened':
        return this.moveActive(c, { status: 'open', snoozed_until: null });
      case 'ConversationMarkedPending':
        return this.moveActive(c, { status: 'pending', snoozed_until: null });
      case 'ConversationSnoozed':
        return this.moveActive(c, { status: 'snoozed', snoozed_until: new Date(event.data.until) });
      case 'NoteAdded': {
        const { noteId, text, authorId } = event.data;
        const key = messageKey(org, id, noteId);
        if (!this.notes.has(key)) {
          this.notes.set(key, {
            organization_id: org,
            conversation_id: id,
            note_id: noteId,
            text,
            author_id: authorId,
            created_at: c.at,
            position: c.position,
          });
        }
        return this.move(c, {});
      }
      case 'LabelAdded': {
        const { label } = event.data;
        return this.move(c, (row) => ({
          labels: row.labels.includes(label) ? row.labels : [...row.labels, label],
        }));
      }
      case 'LabelRemoved': {
        const { label } = event.data;
        return this.move(c, (row) => ({ labels: row.labels.filter((each) => each !== label) }));
      }
      default:
        // Any other type (bot runs, send attempts, one newer than this code) still moves the position,
        // so deltas chain.
        return this.move(c, {});
    }
  }

  /** The conversation's first event: its contact is upserted (a customer may write to several numbers). */
  private started(
    c: Context,
    data: Extract<ConversationEvent, { type: 'ConversationStarted' }>['data'],
  ): Change | null {
    const contactId = contactIdFor(c.org, data.contact.waId);
    const key = contactKey(c.org, contactId);
    const known = this.contacts.get(key);
    const contact: ContactState = known
      ? { ...known, profile_name: data.contact.name ?? known.profile_name, position: c.position }
      : {
          organization_id: c.org,
          contact_id: contactId,
          wa_id: data.contact.waId,
          profile_name: data.contact.name,
          name: null,
          attributes: {},
          first_seen_at: c.at,
          last_seen_at: c.at,
          position: c.position,
        };
    this.setContact(key, contact);
    if (this.conversations.has(c.key)) {
      this.showContactName(key);
      return this.move(c, {});
    }
    const row: ConversationState = {
      organization_id: c.org,
      conversation_id: c.id,
      channel_id: data.channelId,
      contact_id: contactId,
      wa_id: data.contact.waId,
      contact_name: shownName(contact),
      status: 'open',
      snoozed_until: null,
      assignee_id: null,
      queue_id: null,
      labels: [],
      last_message: null,
      unread_count: 0,
      last_inbound_at: null,
      last_activity_at: c.at,
      created_at: c.at,
      updated_at: c.at,
      position: c.position,
    };
    this.setConversation(c.key, row);
    this.changed.newConversations.add(c.key);
    this.holdByContact(c.key, row);
    this.showContactName(key);
    return { previous: null, before: null, row };
  }

  private contactUpdated(recorded: RecordedEvent): void {
    const data = recorded.data as { name?: string | null; attributes?: Record<string, unknown> };
    const key = contactKey(recorded.metadata.organizationId, streamId(recorded.streamName));
    const contact = this.contacts.get(key);
    if (!contact) return;
    const next: ContactState = { ...contact, position: recorded.position };
    if (data.name !== undefined) next.name = data.name;
    if (data.attributes !== undefined) {
      // A null value removes the key (stored values are never null).
      const merged: Record<string, unknown> = { ...contact.attributes, ...data.attributes };
      for (const [name, value] of Object.entries(merged)) if (value === null) delete merged[name];
      next.attributes = merged as ContactState['attributes'];
    }
    this.setContact(key, next);
    this.showContactName(key);
  }

  /**
   * Moves the conversation to this event (its position, updated_at) with `set` computed from the row
   * before it. Null when the conversation has no row.
   */
  private move(
    c: Context,
    set: Partial<ConversationState> | ((row: ConversationState) => Partial<ConversationState>),
  ): Change | null {
    const current = this.conversations.get(c.key);
    if (!current) return null;
    const row: ConversationState = {
      ...current,
      ...(typeof set === 'function' ? set(current) : set),
      position: c.position,
      updated_at: later(current.updated_at, c.at),
    };
    this.setConversation(c.key, row);
    return {
      previous: current.position,
      before: { assigneeId: current.assignee_id, queueId: current.queue_id },
      row,
    };
  }

  /** A status change that counts as activity in the inbox. */
  private moveActive(c: Context, set: Partial<ConversationState>): Change | null {
    return this.move(c, (row) => ({ ...set, last_activity_at: later(row.last_activity_at, c.at) }));
  }

  /** Moves the conversation; the inbox preview's status follows its message's when `status` is set. */
  private moveWithPreview(c: Context, messageId: string, status: MessageStatus | null): Change | null {
    if (status === null) return this.move(c, {});
    return this.move(c, (row) =>
      row.last_message?.id === messageId ? { last_message: { ...row.last_message, status } } : {},
    );
  }

  /** A message not yet stored is added; one already there stays as it is. */
  private addMessage(
    c: Context,
    messageId: string,
    fields: Omit<MessageState, 'organization_id' | 'conversation_id' | 'message_id' | 'error' | 'position'>,
  ): void {
    const key = messageKey(c.org, c.id, messageId);
    if (this.messages.has(key)) return;
    const message: MessageState = {
      organization_id: c.org,
      conversation_id: c.id,
      message_id: messageId,
      ...fields,
      error: null,
      position: c.position,
    };
    this.messages.set(key, message);
    this.changed.newMessages.add(key);
  }

  /** Changes a stored message by `change` (null: unchanged); the message after, or null when unchanged. */
  private changeMessage(
    c: Context,
    messageId: string,
    change: (message: StoredMessage) => Partial<StoredMessage> | null,
  ): StoredMessage | null {
    const key = messageKey(c.org, c.id, messageId);
    const message = this.messages.get(key);
    if (!message) return null;
    const set = change(message);
    if (set === null) return null;
    const next = { ...message, ...set };
    this.messages.set(key, next);
    this.changed.messages.add(key);
    return next;
  }

  private setConversation(key: string, row: ConversationState): void {
    this.conversations.set(key, row);
    this.changed.conversations.add(key);
  }

  private setContact(key: string, contact: ContactState): void {
    this.contacts.set(key, contact);
    this.changed.contacts.add(key);
  }

  private holdByContact(key: string, row: ConversationState): void {
    const contact = contactKey(row.organization_id, row.contact_id);
    const held = this.byContact.get(contact) ?? new Set<string>();
    held.add(key);
    this.byContact.set(contact, held);
  }

  /** Every conversation of the contact shows its name (the one agents set, else its profile name). */
  private showContactName(key: string): void {
    const contact = this.contacts.get(key);
    if (!contact) return;
    const name = shownName(contact);
    for (const conversation of this.byContact.get(key) ?? []) {
      const row = this.conversations.get(conversation) as ConversationState;
      if (row.contact_name !== name) this.setConversation(conversation, { ...row, contact_name: name });
    }
    this.changed.renamed.add(key);
  }
}

/** One event's context: which conversation, when, where in `$all`. */
type Context = { org: string; id: string; key: string; occurredAt: string; at: Date; position: bigint };

/** Folds a batch of the projection's events over the rows they touch; the deltas only when wanted. */
export function foldBatch(
  events: readonly RecordedEvent[],
  rows: Rows,
  withDeltas: boolean,
): { changes: Changes; deltas: ConversationDelta[] } {
  const fold = new BatchFold(rows);
  for (const event of events) fold.apply(event, withDeltas);
  return { changes: fold.changes(), deltas: fold.deltas };
}
