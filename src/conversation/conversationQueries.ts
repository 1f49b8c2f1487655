import { type DatabasePool, sql } from 'slonik';
import { asTenant } from '../db/pool.ts';
import { invalidQuery } from '../http/queryParams.ts';
import type { Principal } from '../identity/authenticator.ts';
import type { SqlFragment } from '../projection/tenantTable.ts';
import type { Visibility } from './conversationCommands.ts';
import type { ConversationStatus } from './conversationState.ts';
import {
  type ContactItem,
  type ContactRow,
  type ConversationItem,
  type ConversationRow,
  type MessageItem,
  type MessageRow,
  type NoteItem,
  type NoteRow,
  toContactItem,
  toConversationItem,
  toMessageItem,
  toNoteItem,
} from './readModelItems.ts';

/**
 * Reads of the conversation read models (projections/conversations.ts). Each runs as pytake_app with
 * the caller's tenant set (row-level security) and names organization_id anyway. Lists are keyset
 * pages: `nextCursor` is null on the last page.
 */
export type Page<T> = { items: T[]; nextCursor: string | null };

export const conversationStatuses: readonly ConversationStatus[] = ['open', 'pending', 'resolved', 'snoozed'];

/**
 * Who may see which conversations: everyone in the organization with `conversations.read_unassigned`,
 * otherwise only those assigned to them or to one of their queues.
 */
export async function visibilityOf(
  pool: DatabasePool,
  principal: Pick<Principal, 'organizationId' | 'userId' | 'permissions'>,
): Promise<Visibility> {
  if (principal.permissions.includes('conversations.read_unassigned')) return { all: true };
  const queueIds = await asTenant(pool, principal.organizationId, (tx) =>
    tx.anyFirst(sql.unsafe`SELECT queue_id FROM rm.queues
      WHERE organization_id = ${principal.organizationId} AND ${principal.userId} = ANY(agent_ids)`),
  );
  return { all: false, userId: principal.userId, queueIds: queueIds as string[] };
}

/**
 * An opaque keyset cursor: a timestamp in microseconds since the epoch (exact, as Postgres keeps it)
 * and the row's id, base64url-encoded.
 */
export function encodeCursor(micros: bigint, id: string): string {
  return Buffer.from(`${micros}:${id}`).toString('base64url');
}

const cursorPattern = /^(-?\d{1,17}):([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

/** Throws 400 naming `/query/cursor` for anything this server did not hand out. */
export function decodeCursor(cursor: string): { micros: bigint; id: string } {
  const match = /^[A-Za-z0-9_-]{1,200}$/.test(cursor)
    ? cursorPattern.exec(Buffer.from(cursor, 'base64url').toString())
    : null;
  if (!match?.[1] || !match[2]) throw invalidQuery('cursor', 'is not a cursor from a previous page');
  return { micros: BigInt(match[1]), id: match[2] };
}

/** A position handed out as `nextCursor` of a message or note page. */
function decodePosition(value: string, name: string): string {
  if (!/^\d{1,19}$/.test(value) || BigInt(value) > 9223372036854775807n) {
    throw invalidQuery(name, 'must be a position from a previous page');
  }
  return value;
}

const atMicros = (micros: bigint) =>
  sql.fragment`(timestamptz 'epoch' + ${String(micros)}::bigint * interval '1 microsecond')`;
const newestActivityFirst = sql.fragment`ORDER BY last_activity_at DESC, conversation_id DESC`;
const conversationSelect = sql.fragment`
  SELECT *, (extract(epoch FROM last_activity_at) * 1000000)::bigint AS sort_micros FROM rm.conversations`;

type SortedConversationRow = ConversationRow & { sort_micros: bigint };

export type ConversationFilters = {
  status?: ConversationStatus;
  /** `me`, `unassigned` or a user id. */
  assignee?: string;
  queue?: string;
  limit: number;
  cursor?: string;
};

/**
 * The inbox: conversations the viewer may see, newest activity first. An agent limited to their own
 * and their queues' conversations reads each of those sets in index order and merges them, rather
 * than filtering the whole organization's inbox.
 */
export async function listConversations(
  pool: DatabasePool,
  viewer: { organizationId: string; userId: string },
  visibility: Visibility,
  filters: ConversationFilters,
): Promise<Page<ConversationItem>> {
  const query = inboxQuery(viewer, visibility, filters);
  const rows = (await asTenant(pool, viewer.organizationId, (tx) =>
    tx.any(sql.unsafe`${query}`),
  )) as readonly SortedConversationRow[];
  const page = rows.slice(0, filters.limit);
  const last = page.at(-1);
  return {
    items: page.map(toConversationItem),
    nextCursor:
      rows.length > filters.limit && last ? encodeCursor(last.sort_micros, last.conversation_id) : null,
  };
}

/** The inbox's SQL, asking one row more than a page to tell whether another follows. */
export function inboxQuery(
  viewer: { organizationId: string; userId: string },
  visibility: Visibility,
  filters: ConversationFilters,
): SqlFragment {
  const conditions: SqlFragment[] = [sql.fragment`organization_id = ${viewer.organizationId}`];
  if (filters.status !== undefined) conditions.push(sql.fragment`status = ${filters.status}`);
  if (filters.assignee === 'unassigned') conditions.push(sql.fragment`assignee_id IS NULL`);
  else if (filters.assignee !== undefined) {
    const assignee = filters.assignee === 'me' ? viewer.userId : filters.assignee;
    conditions.push(sql.fragment`assignee_id = ${assignee}::uuid`);
  }
  if (filters.queue !== undefined) conditions.push(sql.fragment`queue_id = ${filters.queue}::uuid`);
  if (filters.cursor !== undefined) {
    const after = decodeCursor(filters.cursor);
    conditions.push(
      sql.fragment`(last_activity_at, conversation_id) < (${atMicros(after.micros)}, ${after.id}::uuid)`,
    );
  }
  const take = filters.limit + 1;
  const where = (...more: SqlFragment[]) => sql.join([...conditions, ...more], sql.fragment` AND `);
  if (visibility.all) {
    return sql.fragment`${conversationSelect} WHERE ${where()} ${newestActivityFirst} LIMIT ${take}`;
  }
  return sql.fragment`
    SELECT DISTINCT ON (last_activity_at, conversation_id) * FROM (
      (${conversationSelect} WHERE ${where(sql.fragment`assignee_id = ${visibility.userId}::uuid`)}
       ${newestActivityFirst} LIMIT ${take})
      UNION ALL
      (SELECT mine.* FROM unnest(${sql.array([...visibility.queueIds], 'uuid')}) AS q(queue)
         CROSS JOIN LATERAL (${conversationSelect} WHERE ${where(sql.fragment`queue_id = q.queue`)}
                             ${newestActivityFirst} LIMIT ${take}) AS mine)
    ) AS visible
    ${newestActivityFirst} LIMIT ${take}`;
}

/** One conversation as the inbox shows it; null when absent, another tenant's, or not visible. */
export async function findConversation(
  pool: DatabasePool,
  organizationId: string,
  conversationId: string,
  visibility: Visibility,
): Promise<ConversationItem | null> {
  const visible = visibility.all
    ? sql.fragment`TRUE`
    : sql.fragment`(assignee_id = ${visibility.userId}::uuid
                    OR queue_id = ANY(${sql.array([...visibility.queueIds], 'uuid')}))`;
  const row = await asTenant(pool, organizationId, (tx) =>
    tx.maybeOne(sql.unsafe`SELECT * FROM rm.conversations
      WHERE organization_id = ${organizationId} AND conversation_id = ${conversationId} AND ${visible}`),
  );
  return row ? toConversationItem(row as ConversationRow) : null;
}

export type HistoryOptions = { before?: string; limit: number };

/**
 * A conversation's messages, newest first, by the position of the event that recorded each one;
 * `before` is the `nextCursor` of the previous page. The caller checks the conversation is visible.
 */
export async function listMessages(
  pool: DatabasePool,
  organizationId: string,
  conversationId: string,
  options: HistoryOptions,
): Promise<Page<MessageItem>> {
  return history(pool, organizationId, conversationId, options, 'messages', (row: MessageRow) =>
    toMessageItem(row),
  );
}

/** A conversation's private notes, newest first, paged like its messages. */
export async function listNotes(
  pool: DatabasePool,
  organizationId: string,
  conversationId: string,
  options: HistoryOptions,
): Promise<Page<NoteItem>> {
  return history(pool, organizationId, conversationId, options, 'notes', (row: NoteRow) => toNoteItem(row));
}

async function history<Row extends { position: bigint }, Item>(
  pool: DatabasePool,
  organizationId: string,
  conversationId: string,
  options: HistoryOptions,
  table: 'messages' | 'notes',
  toItem: (row: Row) => Item,
): Promise<Page<Item>> {
  const query = historyQuery(table, organizationId, conversationId, options);
  const rows = (await asTenant(pool, organizationId, (tx) => tx.any(sql.unsafe`${query}`))) as readonly Row[];
  const page = rows.slice(0, options.limit);
  const last = page.at(-1);
  return {
    items: page.map(toItem),
    nextCursor: rows.length > options.limit && last ? String(last.position) : null,
  };
}

/** The SQL of a history page, newest first, asking one row more than a page. */
export function historyQuery(
  table: 'messages' | 'notes',
  organizationId: string,
  conversationId: string,
  options: HistoryOptions,
): SqlFragment {
  const before =
    options.before === undefined
      ? sql.fragment`TRUE`
      : sql.fragment`position < ${decodePosition(options.before, 'before')}::bigint`;
  return sql.fragment`SELECT * FROM ${sql.identifier(['rm', table])}
    WHERE organization_id = ${organizationId} AND conversation_id = ${conversationId} AND ${before}
    ORDER BY position DESC LIMIT ${options.limit + 1}`;
}

export type ContactSearch = { search?: string; limit: number; cursor?: string };

/** `+55 (11) 98765-4321` is a phone number: its digits are searched as a wa_id prefix. */
const phoneLike = /^[\d\s+().-]*\d[\d\s+().-]*$/;
const escapeLike = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`);

/**
 * Contacts, most recently seen first. `search`: a phone number matches wa_ids starting with its
 * digits; anything else matches the name or the WhatsApp profile name anywhere, case ignored.
 */
export async function listContacts(
  pool: DatabasePool,
  organizationId: string,
  options: ContactSearch,
): Promise<Page<ContactItem>> {
  const conditions: SqlFragment[] = [sql.fragment`organization_id = ${organizationId}`];
  const search = options.search?.trim();
  if (search) {
    if (phoneLike.test(search)) {
      conditions.push(sql.fragment`wa_id LIKE ${`${search.replace(/\D/g, '')}%`}`);
    } else {
      const pattern = `%${escapeLike(search)}%`;
      conditions.push(sql.fragment`(name ILIKE ${pattern} OR profile_name ILIKE ${pattern})`);
    }
  }
  if (options.cursor !== undefined) {
    const after = decodeCursor(options.cursor);
    conditions.push(
      sql.fragment`(last_seen_at, contact_id) < (${atMicros(after.micros)}, ${after.id}::uuid)`,
    );
  }
  const rows = (await asTenant(pool, organizationId, (tx) =>
    tx.any(sql.unsafe`
      SELECT *, (extract(epoch FROM last_seen_at) * 1000000)::bigint AS sort_micros FROM rm.contacts
       WHERE ${sql.join(conditions, sql.fragment` AND `)}
       ORDER BY last_seen_at DESC, contact_id DESC LIMIT ${options.limit + 1}`),
  )) as readonly (ContactRow & { sort_micros: bigint })[];
  const page = rows.slice(0, options.limit);
  const last = page.at(-1);
  return {
    items: page.map(toContactItem),
    nextCursor: rows.length > options.limit && last ? encodeCursor(last.sort_micros, last.contact_id) : null,
  };
}

/** A contact of the organization; null when absent or another tenant's. */
export async function findContact(
  pool: DatabasePool,
  organizationId: string,
  contactId: string,
): Promise<ContactItem | null> {
  const row = await asTenant(pool, organizationId, (tx) =>
    tx.maybeOne(sql.unsafe`SELECT * FROM rm.contacts
      WHERE organization_id = ${organizationId} AND contact_id = ${contactId}`),
  );
  return row ? toContactItem(row as ContactRow) : null;
}
