import { AppError } from '../errors/catalogue.ts';
import { deterministicId } from '../eventsourcing/deterministicId.ts';
import type { BotPrepared } from '../flow/botPreparation.ts';
import { assertNever } from '../lang/assertNever.ts';
import type { InboundStatus } from '../whatsapp/normaliseMessage.ts';
import type { ConversationCommand, Visibility } from './conversationCommands.ts';
import type { ConversationEvent, DeliveryStatus } from './conversationEvents.ts';
import {
  type ConversationState,
  type HeldStatus,
  insideCustomerServiceWindow,
  type OutboundStatus,
} from './conversationState.ts';
import { botOnHandBack, botOnMessage, botOnResume, botSession, botStop } from './decideBot.ts';
import type { MetaError } from './messageContent.ts';

/** An event to append; `id` is set where a redelivered command must produce the very same event. */
export type ConversationDraft = ConversationEvent & { id?: string };

/** wamids a conversation keeps statuses for before seeing them; past this, such statuses are dropped. */
export const maxHeldStatuses = 100;

const rank: Record<OutboundStatus, number> = { queued: 0, sent: 1, delivered: 2, read: 3, failed: 4 };

/**
 * The conversation's rules, pure: given its state and a command, the events that follow. Refusals
 * throw an AppError; a command that changes nothing (a redelivery, a repeated resolve) returns [].
 * `bot` is what the chatbot's turn reads, loaded beforehand when the command may run it.
 */
export function decideConversation(
  command: ConversationCommand,
  state: ConversationState,
  organizationId: string,
  bot?: BotPrepared,
): ConversationDraft[] {
  if (command.type === 'ReceiveWebhook') return receiveWebhook(command, state, bot);
  if (!state.started || state.organizationId !== organizationId) throw noSuchConversation();
  switch (command.type) {
    case 'RecordSendAttempt': {
      const message = state.outbound.get(command.messageId);
      if (!message || !state.unsent.includes(command.messageId) || command.attempt !== message.attempts + 1) {
        return [];
      }
      return [
        { type: 'MessageSendAttempted', data: { messageId: command.messageId, attempt: command.attempt } },
      ];
    }
    case 'RecordSendOutcome':
      return recordSendOutcome(command, state);
    case 'EndSnooze':
      // A later snooze, or anything that already ended this one, leaves nothing to do.
      if (state.status !== 'snoozed' || state.snoozedUntil === null) return [];
      if (Date.parse(state.snoozedUntil) !== Date.parse(command.until)) return [];
      if (Date.parse(command.now) < Date.parse(command.until)) return [];
      return [{ type: 'ConversationReopened', data: { reason: 'snooze_ended', by: null } }];
    case 'ResumeFlow':
      return botOnResume(command, state, bot);
    default:
      break;
  }
  if (!visible(state, command.visibility)) throw noSuchConversation();
  switch (command.type) {
    case 'SendMessage': {
      const known =
        state.outbound.has(command.messageId) ||
        (command.clientMessageId !== null && state.byClientMessageId.has(command.clientMessageId));
      if (known) return [];
      if (
        command.content.type !== 'template' &&
        !insideCustomerServiceWindow(state.lastInboundAt, command.now)
      ) {
        throw new AppError(
          'outside_customer_service_window',
          `The customer last wrote at ${state.lastInboundAt}, more than 24 hours ago: send a template instead`,
        );
      }
      const queued: ConversationDraft = {
        id: deterministicId(`${state.conversationId}/queued/${command.messageId}`),
        type: 'MessageQueued',
        data: {
          messageId: command.messageId,
          clientMessageId: command.clientMessageId,
          channelId: state.channelId,
          to: state.contact.waId,
          content: command.content,
          replyTo: command.replyTo,
          author: command.author,
        },
      };
      // An agent writing to the customer takes the conversation from its bot.
      const taken =
        command.author.kind === 'agent'
          ? botStop(botSession(state), 'agent_takeover', `agent ${command.author.id} replied`)
          : [];
      return [queued, ...taken];
    }
    case 'Assign': {
      const assigneeId = command.assigneeId === undefined ? state.assigneeId : command.assigneeId;
      const queueId = command.queueId === undefined ? state.queueId : command.queueId;
      if (state.assigneeId === assigneeId && state.queueId === queueId) return [];
      const assigned: ConversationDraft = {
        type: 'ConversationAssigned',
        data: { assigneeId, queueId, by: command.by },
      };
      const taken =
        assigneeId !== null
          ? botStop(botSession(state), 'agent_takeover', `assigned to ${assigneeId} by ${command.by}`)
          : [];
      return [assigned, ...taken];
    }
    case 'Resolve':
      if (state.status === 'resolved') return [];
      return [
        ...botStop(botSession(state), 'resolved', `resolved by ${command.by}`),
        { type: 'ConversationResolved', data: { by: command.by } },
      ];
    case 'HandBackToBot':
      return botOnHandBack(command, state, bot);
    case 'Reopen':
      return state.status === 'open'
        ? []
        : [{ type: 'ConversationReopened', data: { reason: 'agent', by: command.by } }];
    case 'Snooze':
      if (command.until <= command.now) {
        throw new AppError(
          'http.validation_failed',
          'A conversation can only be snoozed until a future time',
          [{ path: '/until', message: 'must be in the future' }],
        );
      }
      if (state.status === 'snoozed' && state.snoozedUntil === command.until) return [];
      return [{ type: 'ConversationSnoozed', data: { until: command.until, by: command.by } }];
    case 'MarkPending':
      return state.status === 'pending'
        ? []
        : [{ type: 'ConversationMarkedPending', data: { by: command.by } }];
    case 'AddNote':
      if (state.notes.has(command.noteId)) return [];
      return [
        {
          type: 'NoteAdded',
          data: { noteId: command.noteId, text: command.text, authorId: command.authorId },
        },
      ];
    case 'AddLabel':
      return state.labels.has(command.label)
        ? []
        : [{ type: 'LabelAdded', data: { label: command.label, by: command.by } }];
    case 'RemoveLabel':
      return state.labels.has(command.label)
        ? [{ type: 'LabelRemoved', data: { label: command.label, by: command.by } }]
        : [];
    default:
      return assertNever(command);
  }
}

const noSuchConversation = () => new AppError('http.not_found', 'No such conversation');

function visible(state: ConversationState, visibility: Visibility): boolean {
  if (visibility.all) return true;
  if (state.assigneeId === visibility.userId) return true;
  return state.queueId !== null && visibility.queueIds.includes(state.queueId);
}

/**
 * 1. Start the conversation (or note a new profile name). 2. Record each message not seen before,
 * oldest first, reopening a resolved or snoozed conversation. 3. Move statuses forward.
 */
function receiveWebhook(
  command: Extract<ConversationCommand, { type: 'ReceiveWebhook' }>,
  state: ConversationState,
  bot: BotPrepared | undefined,
): ConversationDraft[] {
  const { conversationId } = command;
  const drafts: ConversationDraft[] = [];
  // Statuses alone never start a conversation: every message PyTake sends belongs to a started one.
  if (!state.started && command.messages.length === 0) return [];
  if (!state.started) {
    drafts.push({
      id: deterministicId(`${conversationId}/started`),
      type: 'ConversationStarted',
      data: { conversationId, channelId: command.channelId, contact: command.contact },
    });
  } else if (command.contact.name !== null && command.contact.name !== state.contact.name) {
    drafts.push({ type: 'ContactProfileChanged', data: { name: command.contact.name } });
  }

  let status = state.status;
  const session = botSession(state, {
    conversationId,
    channelId: command.channelId,
    waId: command.contact.waId,
  });
  const seen = new Set<string>();
  const messages = [...command.messages].sort((a, b) =>
    a.sentAt < b.sentAt ? -1 : a.sentAt > b.sentAt ? 1 : 0,
  );
  for (const message of messages) {
    if (state.inbound.has(message.waMessageId) || seen.has(message.waMessageId)) continue;
    seen.add(message.waMessageId);
    // A new conversation (its first message, however many the webhook carries), or one the customer
    // reopens after it was resolved, is a new session for the bot (its default trigger).
    const newSession = (!state.started && seen.size === 1) || status === 'resolved';
    if (status === 'resolved' || status === 'snoozed') {
      drafts.push({ type: 'ConversationReopened', data: { reason: 'customer_message', by: null } });
      status = 'open';
    }
    // The message's id is its event's: both derive from the wamid, and one hash serves both.
    const messageId = deterministicId(`${conversationId}/received/${message.waMessageId}`);
    drafts.push({
      id: messageId,
      type: 'MessageReceived',
      data: {
        messageId,
        waMessageId: message.waMessageId,
        sentAt: message.sentAt,
        content: message.content,
        context: message.context ?? null,
        referral: message.referral ?? null,
      },
    });
    if (session.lastInboundAt === null || message.sentAt > session.lastInboundAt) {
      session.lastInboundAt = message.sentAt;
    }
    drafts.push(...botOnMessage(session, { messageId, content: message.content }, newSession, bot));
  }

  drafts.push(...applyStatuses(command.statuses, state, conversationId));
  return drafts;
}

/**
 * Statuses only move forward (sent < delivered < read; failed ends it unless the message was already
 * delivered). Within one body they are applied by rank, so `read` before `delivered` still ends at read.
 */
function applyStatuses(
  statuses: InboundStatus[],
  state: ConversationState,
  conversationId: string,
): ConversationDraft[] {
  const drafts: ConversationDraft[] = [];
  const current = new Map<string, OutboundStatus>();
  const held = new Map<string, HeldStatus[]>();
  const recovered = new Map<string, string>();
  const ordered = [...statuses].sort((a, b) => rank[a.status] - rank[b.status]);
  for (const status of ordered) {
    let messageId = state.byWaMessageId.get(status.waMessageId) ?? recovered.get(status.waMessageId);
    // A status naming our message id (biz_opaque_callback_data) for a message whose Graph answer was
    // lost in a crash: it tells us Meta has it, and its wamid.
    if (messageId === undefined && status.callbackData !== undefined) {
      const message = state.outbound.get(status.callbackData);
      if (message && message.waMessageId === null && state.unsent.includes(status.callbackData)) {
        messageId = status.callbackData;
        recovered.set(status.waMessageId, messageId);
        current.set(messageId, 'sent');
        drafts.push({ type: 'MessageSent', data: { messageId, waMessageId: status.waMessageId } });
      }
    }
    if (messageId === undefined) {
      // Statuses of messages sent outside PyTake would otherwise pile up for ever.
      if (state.heldStatuses.size + held.size >= maxHeldStatuses) continue;
      const already = [
        ...(state.heldStatuses.get(status.waMessageId) ?? []),
        ...(held.get(status.waMessageId) ?? []),
      ];
      if (already.some((h) => h.status === status.status)) continue;
      held.set(status.waMessageId, [...(held.get(status.waMessageId) ?? []), toHeld(status)]);
      drafts.push({
        id: deterministicId(`${conversationId}/held/${status.waMessageId}/${status.status}`),
        type: 'MessageStatusDeferred',
        data: {
          waMessageId: status.waMessageId,
          status: status.status,
          at: status.at,
          errors: status.errors,
        },
      });
      continue;
    }
    const before = current.get(messageId) ?? state.outbound.get(messageId)?.status ?? 'queued';
    const draft = statusDraft(conversationId, messageId, status.waMessageId, before, toHeld(status));
    if (draft) {
      current.set(messageId, draft.type === 'MessageFailed' ? 'failed' : draft.data.status);
      drafts.push(draft);
    }
  }
  return drafts;
}

function recordSendOutcome(
  command: Extract<ConversationCommand, { type: 'RecordSendOutcome' }>,
  state: ConversationState,
): ConversationDraft[] {
  const { messageId, outcome } = command;
  if (!state.unsent.includes(messageId)) return [];
  switch (outcome.kind) {
    case 'sent': {
      const drafts: ConversationDraft[] = [
        { type: 'MessageSent', data: { messageId, waMessageId: outcome.waMessageId } },
      ];
      // Statuses that arrived before the Graph API's answer was recorded.
      let before: OutboundStatus = 'sent';
      const held = [...(state.heldStatuses.get(outcome.waMessageId) ?? [])].sort(
        (a, b) => rank[a.status] - rank[b.status],
      );
      for (const status of held) {
        const draft = statusDraft(state.conversationId, messageId, outcome.waMessageId, before, status);
        if (draft) {
          before = draft.type === 'MessageFailed' ? 'failed' : draft.data.status;
          drafts.push(draft);
        }
      }
      return drafts;
    }
    case 'failed':
      return [
        {
          type: 'MessageFailed',
          data: { messageId, waMessageId: null, error: outcome.error, at: outcome.at },
        },
      ];
    case 'deferred':
      return [
        {
          type: 'MessageSendDeferred',
          data: { messageId, attempt: outcome.attempt, error: outcome.error, retryAt: outcome.retryAt },
        },
      ];
    default:
      return assertNever(outcome);
  }
}

function statusDraft(
  conversationId: string,
  messageId: string,
  waMessageId: string,
  before: OutboundStatus,
  status: HeldStatus,
): Extract<ConversationDraft, { type: 'MessageFailed' | 'MessageStatusUpdated' }> | undefined {
  const id = deterministicId(`${conversationId}/status/${waMessageId}/${status.status}`);
  if (status.status === 'failed') {
    if (before === 'failed' || before === 'delivered' || before === 'read') return undefined;
    return {
      id,
      type: 'MessageFailed',
      data: { messageId, waMessageId, error: status.errors[0] ?? unknownFailure, at: status.at },
    };
  }
  if (before === 'failed' || rank[status.status] <= rank[before]) return undefined;
  return {
    id,
    type: 'MessageStatusUpdated',
    data: { messageId, waMessageId, status: status.status as DeliveryStatus, at: status.at },
  };
}

const unknownFailure: MetaError = { code: 0, title: 'Meta reported the message failed without an error' };

const toHeld = (status: InboundStatus): HeldStatus => ({
  status: status.status,
  at: status.at,
  errors: status.errors,
});
