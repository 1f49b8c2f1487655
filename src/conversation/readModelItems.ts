import type { Author } from './conversationEvents.ts';
import type { ConversationStatus } from './conversationState.ts';
import type { InboundContent, MetaError, OutboundContent } from './messageContent.ts';

/**
 * The read models' rows (rm.conversations, rm.messages, rm.contacts, rm.notes, as slonik returns
 * them) and the API items made from them. Pure: the queries, the routes and the projection's inbox
 * deltas all map rows here, so a delta's item is exactly a `GET /conversations` item.
 */

/** Longest preview text in an inbox item. */
export const previewLength = 200;

export type MessageAuthor = { kind: 'contact'; id: string } | Author;
export type MessageStatus = 'received' | 'queued' | 'sent' | 'delivered' | 'read' | 'failed';

export type LastMessage = {
  id: string;
  direction: 'in' | 'out';
  type: string;
  text: string | null;
  author: MessageAuthor;
  status: MessageStatus;
  at: string;
};

export type ConversationRow = {
  conversation_id: string;
  channel_id: string;
  contact_id: string;
  wa_id: string;
  contact_name: string | null;
  status: ConversationStatus;
  snoozed_until: Date | null;
  assignee_id: string | null;
  queue_id: string | null;
  labels: string[];
  last_message: LastMessage | null;
  unread_count: number;
  last_inbound_at: Date | null;
  last_activity_at: Date;
  created_at: Date;
  updated_at: Date;
  position: bigint;
};

export type ConversationItem = {
  id: string;
  channelId: string;
  contact: { id: string; waId: string; name: string | null };
  status: ConversationStatus;
  assigneeId: string | null;
  queueId: string | null;
  labels: string[];
  lastMessage: LastMessage | null;
  unreadCount: number;
  lastInboundAt: string | null;
  snoozedUntil: string | null;
  /** The inbox's sort key: newest activity first. */
  lastActivityAt: string;
  createdAt: string;
  updatedAt: string;
  position: string;
};

const iso = (value: Date | null): string | null => (value === null ? null : value.toISOString());

export function toConversationItem(row: ConversationRow): ConversationItem {
  return {
    id: row.conversation_id,
    channelId: row.channel_id,
    contact: { id: row.contact_id, waId: row.wa_id, name: row.contact_name },
    status: row.status,
    assigneeId: row.assignee_id,
    queueId: row.queue_id,
    labels: row.labels,
    lastMessage: row.last_message,
    unreadCount: row.unread_count,
    lastInboundAt: iso(row.last_inbound_at),
    snoozedUntil: iso(row.snoozed_until),
    lastActivityAt: row.last_activity_at.toISOString(),
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    position: String(row.position),
  };
}

/**
 * Who must hear that a conversation changed: the agents and queues it belongs to now and before the
 * change (so an agent restricted to their own conversations also learns that one left their view).
 */
export function inboxAudience(
  before: { assigneeId: string | null; queueId: string | null } | null,
  after: { assigneeId: string | null; queueId: string | null },
): { assigneeIds: string[]; queueIds: string[] } {
  const present = (values: (string | null | undefined)[]) => [
    ...new Set(values.filter((value): value is string => typeof value === 'string')),
  ];
  return {
    assigneeIds: present([after.assigneeId, before?.assigneeId]),
    queueIds: present([after.queueId, before?.queueId]),
  };
}

export type StatusChange = { status: MessageStatus; at: string };

export type MessageRow = {
  message_id: string;
  direction: 'in' | 'out';
  type: string;
  text: string | null;
  content: unknown;
  media: Record<string, unknown> | null;
  status: MessageStatus;
  status_history: StatusChange[];
  wa_message_id: string | null;
  author: MessageAuthor;
  error: MetaError | null;
  created_at: Date;
  position: bigint;
};

export type MessageItem = {
  id: string;
  direction: 'in' | 'out';
  type: string;
  text: string | null;
  media: Record<string, unknown> | null;
  status: MessageStatus;
  waMessageId: string | null;
  author: MessageAuthor;
  createdAt: string;
  content: unknown;
  statusHistory: StatusChange[];
  error: MetaError | null;
  position: string;
};

export function toMessageItem(row: MessageRow): MessageItem {
  return {
    id: row.message_id,
    direction: row.direction,
    type: row.type,
    text: row.text,
    media: row.media,
    status: row.status,
    waMessageId: row.wa_message_id,
    author: row.author,
    createdAt: row.created_at.toISOString(),
    content: row.content,
    statusHistory: row.status_history,
    error: row.error,
    position: String(row.position),
  };
}

export type ContactRow = {
  contact_id: string;
  wa_id: string;
  profile_name: string | null;
  name: string | null;
  attributes: Record<string, string | number | boolean>;
  first_seen_at: Date;
  last_seen_at: Date;
  position: bigint;
};

export type ContactItem = {
  id: string;
  waId: string;
  /** Set by agents; null shows the WhatsApp profile name. */
  name: string | null;
  profileName: string | null;
  attributes: Record<string, string | number | boolean>;
  firstSeenAt: string;
  lastSeenAt: string;
  position: string;
};

export function toContactItem(row: ContactRow): ContactItem {
  return {
    id: row.contact_id,
    waId: row.wa_id,
    name: row.name,
    profileName: row.profile_name,
    attributes: row.attributes,
    firstSeenAt: row.first_seen_at.toISOString(),
    lastSeenAt: row.last_seen_at.toISOString(),
    position: String(row.position),
  };
}

export type NoteRow = {
  note_id: string;
  text: string;
  author_id: string;
  created_at: Date;
  position: bigint;
};

export type NoteItem = { id: string; text: string; authorId: string; createdAt: string; position: string };

export const toNoteItem = (row: NoteRow): NoteItem => ({
  id: row.note_id,
  text: row.text,
  authorId: row.author_id,
  createdAt: row.created_at.toISOString(),
  position: String(row.position),
});

const mediaKinds = new Set(['image', 'audio', 'video', 'document', 'sticker']);

/**
 * The readable text of a message, where it has one: the text body, a media caption, an interactive
 * reply's title (or an outbound interactive's body), a button's text, a reaction's emoji, an order's
 * note, a system message's body. Null otherwise (location, contacts, templates…): clients show the type.
 */
export function messageText(content: InboundContent | OutboundContent): string | null {
  switch (content.type) {
    case 'text':
      return content.text;
    case 'image':
    case 'audio':
    case 'video':
    case 'document':
    case 'sticker':
      return content.media.caption ?? null;
    case 'interactive': {
      const interactive = content.interactive as Record<string, unknown>;
      if (typeof interactive.title === 'string') return interactive.title;
      if (typeof interactive.body === 'string') return interactive.body;
      const body = interactive.body as { text?: unknown } | undefined;
      return typeof body?.text === 'string' ? body.text : null;
    }
    case 'button':
      return content.button.text;
    case 'reaction':
      return content.reaction.emoji;
    case 'order':
      return content.order.text ?? null;
    case 'system':
      return content.system.body;
    default:
      return null;
  }
}

/** The media of a media message (Meta media id inbound, URL outbound, with mime, filename, caption). */
export function messageMedia(content: InboundContent | OutboundContent): Record<string, unknown> | null {
  if (!mediaKinds.has(content.type) || !('media' in content)) return null;
  return { ...content.media };
}

/** At most `previewLength` characters (whole code points, so no emoji is cut in half). */
export function previewText(text: string | null): string | null {
  if (text === null) return null;
  const points = Array.from(text);
  return points.length <= previewLength ? text : `${points.slice(0, previewLength - 1).join('')}…`;
}
