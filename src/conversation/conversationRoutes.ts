import { randomUUID } from 'node:crypto';
import { type DatabasePool, sql } from 'slonik';
import { asTenant } from '../db/pool.ts';
import { AppError } from '../errors/catalogue.ts';
import { deterministicId } from '../eventsourcing/deterministicId.ts';
import type { HttpRequest, Route } from '../http/route.ts';
import { uuidParam } from '../http/uuidParam.ts';
import type { Authenticator, Principal } from '../identity/authenticator.ts';
import type { Permission } from '../identity/permissions.ts';
import { securedRoutes } from '../identity/secured.ts';
import type { ConversationActors } from './conversationActor.ts';
import type { ConversationCommand, Visibility } from './conversationCommands.ts';
import type { OutboundContent } from './messageContent.ts';

export type ConversationRouteDeps = {
  pool: DatabasePool;
  authenticator: Authenticator;
  conversations: ConversationActors;
};

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type AgentCommand = DistributiveOmit<
  Exclude<
    ConversationCommand,
    { type: 'ReceiveWebhook' | 'RecordSendAttempt' | 'RecordSendOutcome' | 'EndSnooze' }
  >,
  'visibility'
>;

/**
 * What agents do to a conversation. Each route turns the request into a command for the
 * conversation's actor; the answer carries the position of the last event it appended (null when
 * nothing changed, e.g. resolving a resolved conversation).
 */
export function conversationRoutes(deps: ConversationRouteDeps): Route[] {
  const secured = securedRoutes(deps.authenticator);

  const visibilityOf = async (me: Principal): Promise<Visibility> => {
    if (me.permissions.includes('conversations.read_unassigned')) return { all: true };
    const queueIds = await asTenant(deps.pool, me.organizationId, (tx) =>
      tx.anyFirst(sql.unsafe`SELECT queue_id FROM rm.queues
        WHERE organization_id = ${me.organizationId} AND ${me.userId} = ANY(agent_ids)`),
    );
    return { all: false, userId: me.userId, queueIds: queueIds as string[] };
  };

  const run = async (req: HttpRequest, me: Principal, command: AgentCommand) => {
    const conversationId = uuidParam(req);
    const full = { ...command, visibility: await visibilityOf(me) } as ConversationCommand;
    const result = await deps.conversations.send(conversationId, full, {
      organizationId: me.organizationId,
      actor: me.userId,
      correlationId: req.requestId,
    });
    return { conversationId, position: result.position === null ? null : String(result.position) };
  };

  const action = (
    path: string,
    permission: Permission,
    summary: string,
    command: (req: HttpRequest, me: Principal) => Promise<AgentCommand> | AgentCommand,
    body?: string,
  ): Route =>
    secured({
      permission,
      method: 'POST',
      path: `/api/v1/conversations/:id/${path}`,
      summary,
      ...(body === undefined ? {} : { body }),
      handler: async (req, me) => {
        const { conversationId, position } = await run(req, me, await command(req, me));
        return { status: 200, body: { id: conversationId, position } };
      },
    });

  return [
    secured({
      permission: 'conversations.reply',
      method: 'POST',
      path: '/api/v1/conversations/:id/messages',
      body: 'api/sendMessage',
      status: 202,
      summary: 'Queue a message to the customer (free-form only within 24 hours of their last message)',
      handler: async (req, me) => {
        const {
          clientMessageId: fromBody,
          replyTo,
          ...content
        } = req.json<OutboundContent & { clientMessageId?: string; replyTo?: string }>();
        const clientMessageId = fromBody ?? idempotencyKey(req);
        const conversationId = uuidParam(req);
        // The same key always names the same message, so a retried request finds it queued already.
        const messageId =
          clientMessageId === null
            ? randomUUID()
            : deterministicId(`${conversationId}/client/${clientMessageId}`);
        const { position } = await run(req, me, {
          type: 'SendMessage',
          messageId,
          clientMessageId,
          content: content as OutboundContent,
          replyTo: replyTo ?? null,
          author: { kind: 'agent', id: me.userId },
          now: new Date().toISOString(),
        });
        return { status: 202, body: { id: messageId, status: 'queued', position } };
      },
    }),
    action(
      'assign',
      'conversations.assign',
      'Assign to an agent and/or a queue',
      async (req, me) => {
        const body = req.json<{ assigneeId?: string | null; queueId?: string | null }>();
        if (body.assigneeId === undefined && body.queueId === undefined) {
          throw new AppError('http.validation_failed', 'Give assigneeId, queueId or both', [
            { path: '/', message: 'must have assigneeId or queueId' },
          ]);
        }
        await checkReferences(deps.pool, me.organizationId, body);
        return { type: 'Assign', ...body, by: me.userId };
      },
      'api/assignConversation',
    ),
    action('resolve', 'conversations.reply', 'Resolve', (_req, me) => ({ type: 'Resolve', by: me.userId })),
    action('reopen', 'conversations.reply', 'Reopen', (_req, me) => ({ type: 'Reopen', by: me.userId })),
    action('pending', 'conversations.reply', 'Mark pending (waiting on the business)', (_req, me) => ({
      type: 'MarkPending',
      by: me.userId,
    })),
    action(
      'snooze',
      'conversations.reply',
      'Snooze until a time (a customer message reopens it earlier)',
      (req, me) => ({
        type: 'Snooze',
        until: instant(req.json<{ until: string }>().until, '/until'),
        now: new Date().toISOString(),
        by: me.userId,
      }),
      'api/snoozeConversation',
    ),
    action(
      'notes',
      'conversations.reply',
      'Add a private note (never sent to WhatsApp)',
      (req, me) => ({
        type: 'AddNote',
        noteId: randomUUID(),
        text: req.json<{ text: string }>().text,
        authorId: me.userId,
      }),
      'api/addNote',
    ),
    action(
      'labels',
      'conversations.reply',
      'Add a label',
      (req, me) => ({ type: 'AddLabel', label: req.json<{ label: string }>().label, by: me.userId }),
      'api/addLabel',
    ),
    secured({
      permission: 'conversations.reply',
      method: 'DELETE',
      path: '/api/v1/conversations/:id/labels/:label',
      summary: 'Remove a label',
      handler: async (req, me) => {
        const { conversationId, position } = await run(req, me, {
          type: 'RemoveLabel',
          label: req.params.label ?? '',
          by: me.userId,
        });
        return { status: 200, body: { id: conversationId, position } };
      },
    }),
  ];
}

async function checkReferences(
  pool: DatabasePool,
  organizationId: string,
  body: { assigneeId?: string | null; queueId?: string | null },
): Promise<void> {
  const [user, queue] = await asTenant(pool, organizationId, (tx) =>
    Promise.all([
      body.assigneeId
        ? tx.exists(sql.unsafe`SELECT 1 FROM rm.users WHERE organization_id = ${organizationId}
            AND user_id = ${body.assigneeId} AND deleted_at IS NULL`)
        : true,
      body.queueId
        ? tx.exists(sql.unsafe`SELECT 1 FROM rm.queues WHERE organization_id = ${organizationId}
            AND queue_id = ${body.queueId}`)
        : true,
    ]),
  );
  if (!user) {
    throw new AppError('identity.invalid_reference', 'No such user in this organization', [
      { path: '/assigneeId', message: 'no such user' },
    ]);
  }
  if (!queue) {
    throw new AppError('identity.invalid_reference', 'No such queue in this organization', [
      { path: '/queueId', message: 'no such queue' },
    ]);
  }
}

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

/** A date-time the schema accepted as text but that names no instant (such as a leap second) is refused. */
function instant(value: string, path: string): string {
  const time = Date.parse(value);
  if (Number.isNaN(time)) {
    throw new AppError('http.validation_failed', `${value} is not a time this server can use`, [
      { path, message: 'must be a valid date-time' },
    ]);
  }
  return new Date(time).toISOString();
}
