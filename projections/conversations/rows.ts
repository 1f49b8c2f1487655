import { type DatabaseTransactionConnection, type IdentifierSqlToken, sql } from 'slonik';
import type { ProjectionTables } from '../../src/projection/projection.ts';
import { recordset } from '../../src/projection/rowChanges.ts';
import type { SqlFragment } from '../../src/projection/tenantTable.ts';
import {
  type Changes,
  type ContactState,
  type ConversationState,
  conversationKey,
  type MessageState,
  messageKey,
  type NoteState,
  type StoredMessage,
} from './fold.ts';

/**
 * The conversations projection's reads and writes: one statement per table and direction for a whole
 * batch. Keys go in as parallel uuid arrays; rows go out as one JSON array expanded by
 * jsonb_to_recordset, so a batch of any size is a few round trips.
 */
export type Table = 'conversations' | 'messages' | 'contacts' | 'notes';
type Tables = ProjectionTables<Table>;
type Tx = DatabaseTransactionConnection;

/**
 * The rows of `table` whose key columns match one of `keys` ("org/id[/id]", one part per column):
 * the keys go in as one uuid array per column, joined on the table's primary key.
 */
async function rowsByKey<Row>(
  tx: Tx,
  table: IdentifierSqlToken,
  keyNames: readonly string[],
  keys: Set<string>,
  select: SqlFragment = sql.fragment`t.*`,
): Promise<Row[]> {
  if (keys.size === 0) return [];
  const columns: string[][] = keyNames.map(() => []);
  for (const key of keys) {
    for (const [part, value] of key.split('/').entries()) columns[part]?.push(value);
  }
  const on = keyNames.map((name) => sql.fragment`t.${sql.identifier([name])} = k.${sql.identifier([name])}`);
  return (await tx.any(sql.unsafe`
    SELECT ${select} FROM ${table} AS t
      JOIN unnest(${sql.join(
        columns.map((values) => sql.array(values, 'uuid')),
        sql.fragment`, `,
      )}) AS k(${sql.join(
        keyNames.map((name) => sql.identifier([name])),
        sql.fragment`, `,
      )}) ON ${sql.join(on, sql.fragment` AND `)}`)) as Row[];
}

export const loadConversations = (tx: Tx, t: Tables, keys: Set<string>) =>
  rowsByKey<ConversationState>(tx, t.conversations, ['organization_id', 'conversation_id'], keys);

/** Only what a batch may change of a stored message: its content stays where it is. */
export const loadMessages = (tx: Tx, t: Tables, keys: Set<string>) =>
  rowsByKey<StoredMessage>(
    tx,
    t.messages,
    ['organization_id', 'conversation_id', 'message_id'],
    keys,
    sql.fragment`t.organization_id, t.conversation_id, t.message_id, t.status, t.status_history,
                 t.wa_message_id, t.error`,
  );

export const loadContacts = (tx: Tx, t: Tables, keys: Set<string>) =>
  rowsByKey<ContactState>(tx, t.contacts, ['organization_id', 'contact_id'], keys);

/** Rows as a relation of typed columns: Dates go as ISO strings, positions (bigint) as decimal strings. */
const rowsOf = (rows: readonly object[], columns: SqlFragment) =>
  recordset(
    rows.map((row) => ('position' in row ? { ...row, position: String(row.position) } : row)),
    columns,
  );

/**
 * Inserts the conversations and messages the batch created, leaving any row already stored as it is.
 * Returns the keys of those that were stored after all: the batch must be folded again with them.
 */
export async function insertCreated(
  tx: Tx,
  t: Tables,
  changes: Changes,
): Promise<{ conversations: Set<string>; messages: Set<string> }> {
  const conversations = await insertConversations(tx, t, changes.newConversations);
  const messages = await insertMessages(tx, t, changes.newMessages);
  const missing = <T>(rows: T[], inserted: Set<string>, key: (row: T) => string) =>
    new Set(rows.map(key).filter((each) => !inserted.has(each)));
  return {
    conversations: missing(changes.newConversations, conversations, (row) =>
      conversationKey(row.organization_id, row.conversation_id),
    ),
    messages: missing(changes.newMessages, messages, (row) =>
      messageKey(row.organization_id, row.conversation_id, row.message_id),
    ),
  };
}

/**
 * Writes the rest of what a folded batch changed. Contacts first: the names of the renamed contacts
 * are read from them.
 */
export async function writeChanges(tx: Tx, t: Tables, changes: Changes): Promise<void> {
  await upsertContacts(tx, t, changes.contacts);
  await upsertConversations(tx, t, changes.conversations);
  await updateMessages(tx, t, changes.changedMessages);
  await insertNotes(tx, t, changes.notes);
  await showRenamedContacts(tx, t, changes.renamedContacts);
}

async function upsertContacts(tx: Tx, t: Tables, rows: ContactState[]): Promise<void> {
  if (rows.length === 0) return;
  await tx.query(sql.unsafe`
    INSERT INTO ${t.contacts} (organization_id, contact_id, wa_id, profile_name, name, attributes, first_seen_at,
                               last_seen_at, position)
    SELECT * FROM ${rowsOf(
      rows,
      sql.fragment`organization_id uuid, contact_id uuid, wa_id text, profile_name text,
        name text, attributes jsonb, first_seen_at timestamptz,
        last_seen_at timestamptz, position bigint`,
    )} AS x
    ON CONFLICT (organization_id, contact_id) DO UPDATE
      SET profile_name = excluded.profile_name, name = excluded.name, attributes = excluded.attributes,
          last_seen_at = excluded.last_seen_at, position = excluded.position`);
}

const insertConversationRows = (t: Tables, rows: ConversationState[]) => sql.fragment`
  INSERT INTO ${t.conversations} (organization_id, conversation_id, channel_id, contact_id, wa_id, contact_name,
                                  status, snoozed_until, assignee_id, queue_id, labels, last_message,
                                  unread_count, last_inbound_at, last_activity_at, created_at, updated_at,
                                  position)
  SELECT * FROM ${rowsOf(
    rows,
    sql.fragment`organization_id uuid, conversation_id uuid, channel_id uuid,
      contact_id uuid, wa_id text, contact_name text, status text,
      snoozed_until timestamptz, assignee_id uuid, queue_id uuid,
      labels text[], last_message jsonb, unread_count integer,
      last_inbound_at timestamptz, last_activity_at timestamptz,
      created_at timestamptz, updated_at timestamptz, position bigint`,
  )} AS x`;

/** The keys of the rows inserted. */
async function insertConversations(tx: Tx, t: Tables, rows: ConversationState[]): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const inserted = await tx.any(sql.unsafe`
    ${insertConversationRows(t, rows)}
    ON CONFLICT DO NOTHING RETURNING organization_id, conversation_id`);
  return new Set(
    inserted.map((row) => conversationKey(row.organization_id as string, row.conversation_id as string)),
  );
}

async function upsertConversations(tx: Tx, t: Tables, rows: ConversationState[]): Promise<void> {
  if (rows.length === 0) return;
  await tx.query(sql.unsafe`
    ${insertConversationRows(t, rows)}
    ON CONFLICT (organization_id, conversation_id) DO UPDATE
      SET contact_name = excluded.contact_name, status = excluded.status,
          snoozed_until = excluded.snoozed_until, assignee_id = excluded.assignee_id,
          queue_id = excluded.queue_id, labels = excluded.labels, last_message = excluded.last_message,
          unread_count = excluded.unread_count, last_inbound_at = excluded.last_inbound_at,
          last_activity_at = excluded.last_activity_at, updated_at = excluded.updated_at,
          position = excluded.position`);
}

/** The keys of the rows inserted. */
async function insertMessages(tx: Tx, t: Tables, rows: MessageState[]): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  // A message without media stores a JSON null there, as the projection always has.
  const inserted = await tx.any(sql.unsafe`
    INSERT INTO ${t.messages} (organization_id, conversation_id, message_id, direction, type, text, content,
                               media, status, status_history, wa_message_id, author, error, created_at, position)
    SELECT organization_id, conversation_id, message_id, direction, type, text, content,
           coalesce(media, 'null'::jsonb), status, status_history, wa_message_id, author, error, created_at,
           position
      FROM ${rowsOf(
        rows,
        sql.fragment`organization_id uuid, conversation_id uuid, message_id uuid, direction text,
          type text, text text, content jsonb, media jsonb, status text,
          status_history jsonb, wa_message_id text, author jsonb, error jsonb,
          created_at timestamptz, position bigint`,
      )} AS x
    ON CONFLICT DO NOTHING RETURNING organization_id, conversation_id, message_id`);
  return new Set(
    inserted.map((row) =>
      messageKey(row.organization_id as string, row.conversation_id as string, row.message_id as string),
    ),
  );
}

async function updateMessages(tx: Tx, t: Tables, rows: StoredMessage[]): Promise<void> {
  if (rows.length === 0) return;
  await tx.query(sql.unsafe`
    UPDATE ${t.messages} AS m
       SET status = x.status, status_history = x.status_history, wa_message_id = x.wa_message_id,
           error = x.error
      FROM ${rowsOf(
        rows,
        sql.fragment`organization_id uuid, conversation_id uuid, message_id uuid, status text,
          status_history jsonb, wa_message_id text, error jsonb`,
      )} AS x
     WHERE m.organization_id = x.organization_id AND m.conversation_id = x.conversation_id
       AND m.message_id = x.message_id`);
}

async function insertNotes(tx: Tx, t: Tables, rows: NoteState[]): Promise<void> {
  if (rows.length === 0) return;
  await tx.query(sql.unsafe`
    INSERT INTO ${t.notes} (organization_id, conversation_id, note_id, text, author_id, created_at, position)
    SELECT * FROM ${rowsOf(
      rows,
      sql.fragment`organization_id uuid, conversation_id uuid, note_id uuid, text text,
        author_id text, created_at timestamptz, position bigint`,
    )} AS x
    ON CONFLICT DO NOTHING`);
}

/** Conversations the batch did not hold show their contact's name as it now stands. */
async function showRenamedContacts(tx: Tx, t: Tables, contacts: Changes['renamedContacts']): Promise<void> {
  if (contacts.length === 0) return;
  await tx.query(sql.unsafe`
    UPDATE ${t.conversations} AS c SET contact_name = coalesce(k.name, k.profile_name)
      FROM unnest(${sql.array(
        contacts.map((contact) => contact.organizationId),
        'uuid',
      )},
                  ${sql.array(
                    contacts.map((contact) => contact.contactId),
                    'uuid',
                  )}) AS r(organization_id, contact_id),
           ${t.contacts} AS k
     WHERE k.organization_id = r.organization_id AND k.contact_id = r.contact_id
       AND c.organization_id = r.organization_id AND c.contact_id = r.contact_id
       AND c.contact_name IS DISTINCT FROM coalesce(k.name, k.profile_name)`);
}
