import { randomUUID } from 'node:crypto';
import { type DatabasePool, sql } from 'slonik';
import { asTenant } from '../db/pool.ts';
import { AppError } from '../errors/catalogue.ts';
import { deterministicId } from '../eventsourcing/deterministicId.ts';
import type { Principal } from '../identity/authenticator.ts';
import type { Permission } from '../identity/permissions.ts';
import type { ProjectionRunner } from '../projection/projectionRunner.ts';
import type { ConversationActors } from './conversationActor.ts';
import type { ConversationCommand } from './conversationCommands.ts';
import { visibilityOf } from './conversationQueries.ts';
import type { OutboundContent } from './messageContent.ts';

/**
 * What agents do to a conversation, one function per command, shared by the HTTP routes
 * (conversationRoutes.ts) and the WebSocket gateway's `command` frames, so both check the same
 * things in the same order: 1. the caller's permission; 2. the body's references (users, queues);
 * 3. the command, with the caller's visibility, to the conversation's actor, which refuses a
 * conversation the caller may not see as not found. Bodies were validated against their schema
 * (api/…) at the edge. Each answers what the HTTP route returns; `position` is that of the last event
 * appended, null when nothing changed (resolving a resolved conversation).
 */

export type AgentCommandDeps = {
  pool: DatabasePool;
  conversations: ConversationActors;
  /** Answers wait until the conversation read models include the command's events. */
  projections: Pick<ProjectionRunner, 'waitForProjection'>;
};

/** Who acts, and the correlation id their events carry (the HTTP request id, or a fresh one). */
export type Caller = { principal: Principal; correlationId: string };

export type CommandOutcome = { id: string; position: string | null };

export type SendMessageBody = OutboundContent & { clientMessageId?: string; replyTo?: string };

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type AgentCommand = DistributiveOmit<
  Exclude<
    ConversationCommand,
    { type: 'ReceiveWebhook' | 'RecordSendAttempt' | 'RecordSendOutcome' | 'EndSnooze' | 'ResumeFlow' }
  >,
  'visibility'
>;

function requirePermission(principal: Principal, permission: Permission): void {
  if (!principal.permissions.includes(permission)) {
    throw new AppError('auth.forbidden', `This requires the ${permission} permission`);
  }
}

async function run(
  deps: AgentCommandDeps,
  caller: Caller,
  conversationId: string,
  command: AgentCommand,
): Promise<CommandOutcome> {
  const me = caller.principal;
  const full = { ...command, visibility: await visibilityOf(deps.pool, me) } as ConversationCommand;
  const result = await deps.conversations.send(conversationId, full, {
    organizationId: me.organizationId,
    actor: me.userId,
    correlationId: caller.correlationId,
  });
  if (result.position === null) return { id: conversationId, position: null };
  await deps.projections.waitForProjection('conversations', result.position);
  return { id: conversationId, position: String(result.position) };
}

/**
 * Queues a message to the customer. `clientMessageId` (or the HTTP Idempotency-Key) names the message:
 * the same key always makes the same message id, so a retried request finds it queued already.
 */
export async function sendMessage(
  deps: AgentCommandDeps,
  caller: Caller,
  conversationId: string,
  body: SendMessageBody,
  idempotencyKey: string | null = null,
): Promise<{ id: string; status: 'queued'; position: string | null }> {
  requirePermission(caller.principal, 'conversations.reply');
  const { clientMessageId: fromBody, replyTo, ...content } = body;
  const clientMessageId = fromBody ?? idempotencyKey;
  const messageId =
    clientMessageId === null ? randomUUID() : deterministicId(`${conversationId}/client/${clientMessageId}`);
  const { position } = await run(deps, caller, conversationId, {
    type: 'SendMessage',
    messageId,
    clientMessageId,
    content: content as OutboundContent,
    replyTo: replyTo ?? null,
    author: { kind: 'agent', id: caller.principal.userId },
    now: new Date().toISOString(),
  });
  return { id: messageId, status: 'queued', position };
}

/** An absent field keeps its value; null clears it; at least one must be given. */
export async function assignConversation(
  deps: AgentCommandDeps,
  caller: Caller,
  conversationId: string,
  body: { assigneeId?: string | null; queueId?: string | null },
): Promise<CommandOutcome> {
  requirePermission(caller.principal, 'conversations.assign');
  if (body.assigneeId === undefined && body.queueId === undefined) {
    throw new AppError('http.validation_failed', 'Give assigneeId, queueId or both', [
      { path: '/', message: 'must have assigneeId or queueId' },
    ]);
  }
  await checkReferences(deps.pool, caller.principal.organizationId, body);
  const { assigneeId, queueId } = body;
  return run(deps, caller, conversationId, {
    type: 'Assign',
    ...(assigneeId === undefined ? {} : { assigneeId }),
    ...(queueId === undefined ? {} : { queueId }),
    by: caller.principal.userId,
  });
}

export function resolveConversation(
  deps: AgentCommandDeps,
  caller: Caller,
  conversationId: string,
): Promise<CommandOutcome> {
  requirePermission(caller.principal, 'conversations.reply');
  return run(deps, caller, conversationId, { type: 'Resolve', by: caller.principal.userId });
}

export function reopenConversation(
  deps: AgentCommandDeps,
  caller: Caller,
  conversationId: string,
): Promise<CommandOutcome> {
  requirePermission(caller.principal, 'conversations.reply');
  return run(deps, caller, conversationId, { type: 'Reopen', by: caller.principal.userId });
}

export function markConversationPending(
  deps: AgentCommandDeps,
  caller: Caller,
  conversationId: string,
): Promise<CommandOutcome> {
  requirePermission(caller.principal, 'conversations.reply');
  return run(deps, caller, conversationId, { type: 'MarkPending', by: caller.principal.userId });
}

export function snoozeConversation(
  deps: AgentCommandDeps,
  caller: Caller,
  conversationId: string,
  body: { until: string },
): Promise<CommandOutcome> {
  requirePermission(caller.principal, 'conversations.reply');
  return run(deps, caller, conversationId, {
    type: 'Snooze',
    until: instant(body.until, '/until'),
    now: new Date().toISOString(),
    by: caller.principal.userId,
  });
}

/** A private note for agents, never sent to WhatsApp. */
export function addNote(
  deps: AgentCommandDeps,
  caller: Caller,
  conversationId: string,
  body: { text: string },
): Promise<CommandOutcome> {
  requirePermission(caller.principal, 'conversations.reply');
  return run(deps, caller, conversationId, {
    type: 'AddNote',
    noteId: randomUUID(),
    text: body.text,
    authorId: caller.principal.userId,
  });
}

export function addLabel(
  deps: AgentCommandDeps,
  caller: Caller,
  conversationId: string,
  body: { label: string },
): Promise<CommandOutcome> {
  requirePermission(caller.principal, 'conversations.reply');
  return run(deps, caller, conversationId, {
    type: 'AddLabel',
    label: body.label,
    by: caller.principal.userId,
  });
}

export function removeLabel(
  deps: AgentCommandDeps,
  caller: Caller,
  conversationId: string,
  label: string,
): Promise<CommandOutcome> {
  requirePermission(caller.principal, 'conversations.reply');
  return run(deps, caller, conversationId, { type: 'RemoveLabel', label, by: caller.principal.userId });
}

/**
 * Gives the conversation back to its chatbot: unassigned, the bot on again (the next customer message
 * can trigger it), and the published flow named in `flowId` started at once.
 */
export function handBackToBot(
  deps: AgentCommandDeps,
  caller: Caller,
  conversationId: string,
  body: { flowId?: string | null },
): Promise<CommandOutcome> {
  requirePermission(caller.principal, 'conversations.assign');
  return run(deps, caller, conversationId, {
    type: 'HandBackToBot',
    by: caller.principal.userId,
    runId: randomUUID(),
    flowId: body.flowId ?? null,
  });
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
