/**
 * Synthetic conversation read models for the query benchmark (and the plan test): set-based
 * INSERT … SELECT generate_series straight into tables made by the projection's own createTables.
 * Ids are md5-derived, so two runs hold the same rows; activity is spread so that inbox order is
 * not insertion order.
 */
import { createHash } from 'node:crypto';
import { type DatabasePool, type IdentifierSqlToken, sql } from 'slonik';
import { conversationsProjection } from '../../../projections/conversations.ts';
import type { Visibility } from '../../../src/conversation/conversationCommands.ts';
import {
  type ConversationFilters,
  encodeCursor,
  historyQuery,
  inboxQuery,
  listConversations,
  listMessages,
  visibilityOf,
} from '../../../src/conversation/conversationQueries.ts';
import { asTenant } from '../../../src/db/pool.ts';
import { createProjectionTables } from '../../../src/projection/projection.ts';
import type { SqlFragment } from '../../../src/projection/tenantTable.ts';

export type Shape = { orgs: number; conversations: number; messages: number };

/** Agents and queues per organization. */
const agents = 20;
const queues = 5;

export const orgId = (i: number) => uuid(`org-${i}`);
export const agentId = (i: number, a: number) => uuid(`agent-${i}-${a}`);
export const conversationId = (i: number, j: number) => uuid(`conversation-${i}-${j}`);
/** md5(name)::uuid, as the SQL below makes its ids. */
function uuid(name: string): string {
  const hex = createHash('md5').update(name).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Creates the projection's tables under their live names. */
export async function createReadModelTables(pool: DatabasePool): Promise<void> {
  const tables = Object.fromEntries(
    Object.entries(conversationsProjection.tables).map(([name, qualified]) => [
      name,
      sql.identifier(qualified.split('.')),
    ]),
  ) as Record<keyof typeof conversationsProjection.tables, IdentifierSqlToken>;
  await pool.transaction((tx) => createProjectionTables(tx, conversationsProjection, tables));
}

/**
 * Fills `shape.orgs` organizations of `shape.conversations` conversations with `shape.messages`
 * messages each. Message k of conversation j happens in time slot k·C + perm(j) (perm scatters the
 * conversations), at that many seconds after the epoch of the data set; its position is the slot's
 * rank in `$all` across organizations, so positions grow within each conversation, as in the store.
 * A conversation's activity and position are its last message's.
 */
export async function fillReadModels(
  pool: DatabasePool,
  shape: Shape,
  progress: (message: string) => void = () => {},
): Promise<void> {
  const { orgs: O, conversations: C, messages: M } = shape;
  // A multiplier coprime with C scatters j over the slots (7919 is prime).
  const perm = sql.fragment`((j::bigint * 7919) % ${C})`;
  const t0 = sql.fragment`timestamptz '2026-10-01T00:00:00Z'`;
  const lastSlot = sql.fragment`(${M - 1}::bigint * ${C} + ${perm})`;
  await pool.query(sql.unsafe`
    INSERT INTO rm.queues (organization_id, queue_id, name, department_id, agent_ids, created_at)
    SELECT md5('org-' || i)::uuid, md5('queue-' || i || '-' || q)::uuid, 'Queue ' || q, NULL,
           ARRAY(SELECT md5('agent-' || i || '-' || a)::uuid FROM generate_series(0, ${agents - 1}) a
                  WHERE a % ${queues} = q OR (a = 1 AND q IN (0, 2))),
           ${t0}
      FROM generate_series(0, ${O - 1}) i, generate_series(0, ${queues - 1}) q`);
  progress(`${O * C} conversations`);
  await pool.query(sql.unsafe`
    INSERT INTO rm.conversations (organization_id, conversation_id, channel_id, contact_id, wa_id, contact_name,
                                  status, snoozed_until, assignee_id, queue_id, labels, last_message, unread_count,
                                  last_inbound_at, last_activity_at, created_at, updated_at, position)
    SELECT md5('org-' || i)::uuid, md5('conversation-' || i || '-' || j)::uuid, md5('channel-' || i)::uuid,
           md5('contact-' || i || '-' || j)::uuid, (15550000000 + j)::text, 'Customer ' || j,
           s.status, CASE WHEN s.status = 'snoozed' THEN timestamptz '2027-01-01T00:00:00Z' END,
           CASE WHEN j % 4 = 0 THEN NULL ELSE md5('agent-' || i || '-' || (j % ${agents}))::uuid END,
           CASE WHEN j % 3 = 0 THEN NULL ELSE md5('queue-' || i || '-' || (j % ${queues}))::uuid END,
           '{}', jsonb_build_object('id', md5('message-' || i || '-' || j || '-' || ${M - 1})::uuid, 'direction', 'in',
                                    'type', 'text', 'text', 'message ' || ${M - 1}, 'status', 'received',
                                    'author', jsonb_build_object('kind', 'contact', 'id', md5('contact-' || i || '-' || j)::uuid),
                                    'at', ${t0} + ${lastSlot} * interval '1 second'),
           j % 5, ${t0} + ${lastSlot} * interval '1 second', ${t0} + ${lastSlot} * interval '1 second',
           ${t0} + ${perm} * interval '1 second', ${t0} + ${lastSlot} * interval '1 second',
           ${lastSlot} * ${O} + i + 1
      FROM generate_series(0, ${O - 1}) i, generate_series(0, ${C - 1}) j,
           -- 68% resolved, 20% open, 8% pending, 4% snoozed, mixed within each agent's and queue's share.
           LATERAL (SELECT CASE WHEN (j / 20) % 20 < 12 THEN 'resolved' WHEN (j / 20) % 20 < 17 THEN 'open'
                                WHEN (j / 20) % 20 < 19 THEN 'pending' ELSE 'snoozed' END AS status) s`);
  await pool.query(sql.unsafe`
    INSERT INTO rm.contacts (organization_id, contact_id, wa_id, profile_name, name, attributes, first_seen_at,
                             last_seen_at, position)
    SELECT md5('org-' || i)::uuid, md5('contact-' || i || '-' || j)::uuid, (15550000000 + j)::text,
           'Customer ' || j, NULL, '{}', ${t0} + ${perm} * interval '1 second',
           ${t0} + ${lastSlot} * interval '1 second', ${lastSlot} * ${O} + i + 1
      FROM generate_series(0, ${O - 1}) i, generate_series(0, ${C - 1}) j`);
  // One organization per statement, to show progress and keep each transaction moderate.
  for (let i = 0; i < O; i += 1) {
    const slot = sql.fragment`(k::bigint * ${C} + ${perm})`;
    await pool.query(sql.unsafe`
      INSERT INTO rm.messages (organization_id, conversation_id, message_id, direction, type, text, content, media,
                               status, status_history, wa_message_id, author, error, created_at, position)
      SELECT md5('org-' || ${i})::uuid, md5('conversation-' || ${i} || '-' || j)::uuid,
             md5('message-' || ${i} || '-' || j || '-' || k)::uuid,
             CASE WHEN k % 2 = 0 THEN 'in' ELSE 'out' END, 'text', 'message ' || k,
             jsonb_build_object('type', 'text', 'text', 'message ' || k), NULL,
             CASE WHEN k % 2 = 0 THEN 'received' ELSE 'read' END,
             jsonb_build_array(jsonb_build_object('status', CASE WHEN k % 2 = 0 THEN 'received' ELSE 'queued' END,
                                                  'at', ${t0} + ${slot} * interval '1 second')),
             'wamid.' || md5('wamid-' || ${i} || '-' || j || '-' || k),
             CASE WHEN k % 2 = 0
                  THEN jsonb_build_object('kind', 'contact', 'id', md5('contact-' || ${i} || '-' || j)::uuid)
                  ELSE jsonb_build_object('kind', 'agent', 'id', md5('agent-' || ${i} || '-' || (j % ${agents}))::uuid) END,
             NULL, ${t0} + ${slot} * interval '1 second', ${slot} * ${O} + ${i} + 1
        FROM generate_series(0, ${C - 1}) j, generate_series(0, ${M - 1}) k`);
    progress(`messages of organization ${i + 1}/${O}`);
  }
  await pool.query(sql.unsafe`ANALYZE rm.queues, rm.conversations, rm.messages, rm.contacts`);
}

export type Scenario = {
  name: string;
  query: SqlFragment;
  /** The same read through the query function the route calls, for timing. */
  run: () => Promise<unknown>;
};

/**
 * The reads an agent console makes, on organization 0: the inbox's first page and one far
 * down, with and without a status filter, for a supervisor and for an agent limited to their own
 * and two queues' conversations; a conversation's newest messages and the page before them.
 */
export async function scenarios(pool: DatabasePool, shape: Shape, limit = 50): Promise<Scenario[]> {
  const org = orgId(0);
  const supervisor = { organizationId: org, userId: agentId(0, 2) };
  // Agent 1 has 1 conversation in 20 assigned to them, and sits in 3 of the 5 queues.
  const restricted = { organizationId: org, userId: agentId(0, 1) };
  const all: Visibility = { all: true };
  const limited = await visibilityOf(pool, { ...restricted, permissions: [] });
  const list: Scenario[] = [];
  const inbox = async (
    name: string,
    viewer: typeof supervisor,
    visibility: Visibility,
    filters: Omit<ConversationFilters, 'limit'>,
    depth: number,
  ) => {
    let cursor: string | undefined;
    if (depth > 0) {
      // The cursor a client holds after paging `depth` rows down (computed by the owner, RLS aside).
      const row = (await pool.maybeOne(sql.unsafe`
        SELECT (extract(epoch FROM last_activity_at) * 1000000)::bigint AS micros, conversation_id
          FROM (${inboxQuery(viewer, visibility, { ...filters, limit: depth })}) AS page
         ORDER BY last_activity_at, conversation_id LIMIT 1 OFFSET 1`)) as {
        micros: bigint;
        conversation_id: string;
      } | null;
      if (row) cursor = encodeCursor(row.micros, row.conversation_id);
    }
    const filtersWithCursor = { ...filters, limit, ...(cursor === undefined ? {} : { cursor }) };
    list.push({
      name,
      query: inboxQuery(viewer, visibility, filtersWithCursor),
      run: () => listConversations(pool, viewer, visibility, filtersWithCursor),
    });
  };
  const deep = Math.min(900, Math.floor(shape.conversations * 0.9));
  await inbox('inbox, first page', supervisor, all, {}, 0);
  await inbox(`inbox, ${deep} rows down`, supervisor, all, {}, deep);
  await inbox('inbox status=open, first page', supervisor, all, { status: 'open' }, 0);
  // A fifth of the conversations are open: 150 rows down is most of the way.
  await inbox('inbox status=open, 150 rows down', supervisor, all, { status: 'open' }, Math.min(150, deep));
  await inbox('inbox assignee=unassigned, first page', supervisor, all, { assignee: 'unassigned' }, 0);
  await inbox(
    'restricted agent, assignee=me status=open',
    restricted,
    limited,
    { status: 'open', assignee: 'me' },
    0,
  );
  await inbox('restricted agent, first page', restricted, limited, {}, 0);
  await inbox('restricted agent, 300 rows down', restricted, limited, {}, Math.min(300, deep));
  const conversation = conversationId(0, Math.floor(shape.conversations / 2));
  const firstPage = await listMessages(pool, org, conversation, { limit });
  const before = firstPage.nextCursor ?? undefined;
  list.push({
    name: 'history, newest page',
    query: historyQuery('messages', org, conversation, { limit }),
    run: () => listMessages(pool, org, conversation, { limit }),
  });
  list.push({
    name: 'history, page before',
    query: historyQuery('messages', org, conversation, { limit, ...(before ? { before } : {}) }),
    run: () => listMessages(pool, org, conversation, { limit, ...(before ? { before } : {}) }),
  });
  return list;
}

/** EXPLAIN (ANALYZE, BUFFERS) of a scenario's SQL, as the API runs it: pytake_app, tenant set. */
export async function explain(
  pool: DatabasePool,
  query: SqlFragment,
  format: 'text' | 'json',
): Promise<unknown> {
  const options =
    format === 'json' ? sql.fragment`ANALYZE, BUFFERS, FORMAT JSON` : sql.fragment`ANALYZE, BUFFERS`;
  return asTenant(pool, orgId(0), (tx) => tx.anyFirst(sql.unsafe`EXPLAIN (${options}) ${query}`));
}

/** Every node of a JSON plan, depth first. */
export function* planNodes(node: Record<string, unknown>): Generator<Record<string, unknown>> {
  yield node;
  for (const child of (node.Plans as Record<string, unknown>[] | undefined) ?? []) yield* planNodes(child);
}
