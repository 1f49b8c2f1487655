import { AppError } from '../errors/catalogue.ts';
import { queryEnum, queryLimit, queryMatching } from '../http/queryParams.ts';
import type { HttpRequest, Route } from '../http/route.ts';
import { uuidParam } from '../http/uuidParam.ts';
import type { Authenticator, Principal } from '../identity/authenticator.ts';
import type { Permission } from '../identity/permissions.ts';
import { securedRoutes } from '../identity/secured.ts';
import { uuidPattern } from '../lang/uuid.ts';
import {
  type AgentCommandDeps,
  addLabel,
  addNote,
  assignConversation,
  type Caller,
  type CommandOutcome,
  handBackToBot,
  markConversationPending,
  removeLabel,
  reopenConversation,
  resolveConversation,
  type SendMessageBody,
  sendMessage,
  snoozeConversation,
} from './agentCommands.ts';
import {
  conversationStatuses,
  findConversation,
  listConversations,
  listMessages,
  listNotes,
  visibilityOf,
} from './conversationQueries.ts';

export type ConversationRouteDeps = AgentCommandDeps & { authenticator: Authenticator };

/**
 * The conversation read routes, and what agents do to a conversation: each command route maps the
 * request onto its function in agentCommands.ts (shared with the WebSocket gateway); the answer
 * carries the position of the last event appended (null when nothing changed, e.g. resolving a
 * resolved conversation).
 */
export function conversationRoutes(deps: ConversationRouteDeps): Route[] {
  const secured = securedRoutes(deps.authenticator);
  const caller = (req: HttpRequest, me: Principal): Caller => ({
    principal: me,
    correlationId: req.requestId,
  });

  const action = <Body>(
    path: string,
    permission: Permission,
    summary: string,
    perform: (caller: Caller, conversationId: string, body: Body) => Promise<CommandOutcome>,
    body?: string,
  ): Route =>
    secured({
      permission,
      method: 'POST',
      path: `/api/v1/conversations/:id/${path}`,
      summary,
      ...(body === undefined ? {} : { body }),
      handler: async (req, me) => {
        // The body is checked before the id, as before the commands were shared.
        const input = (body === undefined ? undefined : req.json<Body>()) as Body;
        return { status: 200, body: await perform(caller(req, me), uuidParam(req), input) };
      },
    });

  /** The conversation if the caller may see it; 404 otherwise, as for another tenant's. */
  const visibleConversation = async (req: HttpRequest, me: Principal) => {
    const conversation = await findConversation(
      deps.pool,
      me.organizationId,
      uuidParam(req),
      await visibilityOf(deps.pool, me),
    );
    if (!conversation) throw new AppError('http.not_found', 'No such conversation');
    return conversation;
  };
  /** A page of a visible conversation's messages or notes, newest first. */
  const history = (
    path: string,
    response: string,
    what: string,
    list: typeof listMessages | typeof listNotes,
  ): Route =>
    secured({
      permission: 'conversations.read',
      method: 'GET',
      path: `/api/v1/conversations/:id/${path}`,
      response,
      summary: `${what}, newest first (before: the nextCursor of the previous page)`,
      handler: async (req, me) => {
        const before = queryMatching(req.query, 'before', /^\d{1,19}$/, 'a position from a previous page');
        const options = {
          limit: queryLimit(req.query, 50, 200),
          ...(before === undefined ? {} : { before }),
        };
        const conversation = await visibleConversation(req, me);
        return { status: 200, body: await list(deps.pool, me.organizationId, conversation.id, options) };
      },
    });

  return [
    secured({
      permission: 'conversations.read',
      method: 'GET',
      path: '/api/v1/conversations',
      response: 'api/conversationList',
      summary:
        'The inbox: conversations the caller may see, newest activity first (filters: status, assignee=me|unassigned|<userId>, queue)',
      handler: async (req, me) => {
        const status = queryEnum(req.query, 'status', conversationStatuses);
        const assignee = queryMatching(req.query, 'assignee', assigneePattern, 'me, unassigned or a user id');
        const queue = queryMatching(req.query, 'queue', uuidPattern, 'a queue id');
        const cursor = queryMatching(
          req.query,
          'cursor',
          /^[A-Za-z0-9_-]{1,200}$/,
          'a cursor from a previous page',
        );
        const page = await listConversations(deps.pool, me, await visibilityOf(deps.pool, me), {
          limit: queryLimit(req.query, 50, 100),
          ...(status === undefined ? {} : { status }),
          ...(assignee === undefined ? {} : { assignee: assignee.toLowerCase() }),
          ...(queue === undefined ? {} : { queue: queue.toLowerCase() }),
          ...(cursor === undefined ? {} : { cursor }),
        });
        return { status: 200, body: page };
      },
    }),
    secured({
      permission: 'conversations.read',
      method: 'GET',
      path: '/api/v1/conversations/:id',
      response: 'api/conversation',
      summary: 'One conversation, as the inbox shows it',
      handler: async (req, me) => ({ status: 200, body: await visibleConversation(req, me) }),
    }),
    history('messages', 'api/messageList', 'Messages', listMessages),
    history('notes', 'api/noteList', 'Private notes', listNotes),
    secured({
      permission: 'conversations.reply',
      method: 'POST',
      path: '/api/v1/conversations/:id/messages',
      body: 'api/sendMessage',
      status: 202,
      summary: 'Queue a message to the customer (free-form only within 24 hours of their last message)',
      handler: async (req, me) => {
        const body = req.json<SendMessageBody>();
        const key = body.clientMessageId === undefined ? idempotencyKey(req) : null;
        const result = await sendMessage(deps, caller(req, me), uuidParam(req), body, key);
        return { status: 202, body: result };
      },
    }),
    action(
      'assign',
      'conversations.assign',
      'Assign to an agent and/or a queue',
      (c, id, body: { assigneeId?: string | null; queueId?: string | null }) =>
        assignConversation(deps, c, id, body),
      'api/assignConversation',
    ),
    action('resolve', 'conversations.reply', 'Resolve', (c, id) => resolveConversation(deps, c, id)),
    action(
      'handback',
      'conversations.assign',
      'Hand back to the chatbot (unassigns; starts the flow named, if any)',
      (c, id, body: { flowId?: string | null }) => handBackToBot(deps, c, id, body),
      'api/handBackToBot',
    ),
    action('reopen', 'conversations.reply', 'Reopen', (c, id) => reopenConversation(deps, c, id)),
    action('pending', 'conversations.reply', 'Mark pending (waiting on the business)', (c, id) =>
      markConversationPending(deps, c, id),
    ),
    action(
      'snooze',
      'conversations.reply',
      'Snooze until a time (a customer message reopens it earlier)',
      (c, id, body: { until: string }) => snoozeConversation(deps, c, id, body),
      'api/snoozeConversation',
    ),
    action(
      'notes',
      'conversations.reply',
      'Add a private note (never sent to WhatsApp)',
      (c, id, body: { text: string }) => addNote(deps, c, id, body),
      'api/addNote',
    ),
    action(
      'labels',
      'conversations.reply',
      'Add a label',
      (c, id, body: { label: string }) => addLabel(deps, c, id, body),
      'api/addLabel',
    ),
    secured({
      permission: 'conversations.reply',
      method: 'DELETE',
      path: '/api/v1/conversations/:id/labels/:label',
      summary: 'Remove a label',
      handler: async (req, me) => ({
        status: 200,
        body: await removeLabel(deps, caller(req, me), uuidParam(req), req.params.label ?? ''),
      }),
    }),
  ];
}

const assigneePattern = /^(me|unassigned|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i;

/** The `Idempotency-Key` header, bounded like `clientMessageId`; null when absent. */
function idempotencyKey(req: HttpRequest): string | null {
  const key = req.headers['idempotency-key'];
  if (key === undefined) return null;
  if (key.length === 0 || key.length > 200) {
    throw new AppError('http.validation_failed', 'Idempotency-Key must be 1 to 200 characters', [
      { path: '/headers/idempotency-key', message: 'must be 1 to 200 characters' },
    ]);
  }
  return key;
}
