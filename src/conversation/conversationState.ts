import { answerText } from '../flow/answers.ts';
import { type FlowRun, maxHistory } from '../flow/flowRun.ts';
import type { ConversationEvent, DeliveryStatus } from './conversationEvents.ts';
import type { MetaError } from './messageContent.ts';

/** Meta answers 131047 to a free-form message past this; templates are exempt. */
export const customerServiceWindowMs = 24 * 60 * 60 * 1000;

/** Whether a free-form message may go to a customer whose last message came at `lastInboundAt`. */
export function insideCustomerServiceWindow(lastInboundAt: string | null, now: string): boolean {
  if (lastInboundAt === null) return false;
  return Date.parse(now) - Date.parse(lastInboundAt) <= customerServiceWindowMs;
}

export type ConversationStatus = 'open' | 'pending' | 'resolved' | 'snoozed';
export type OutboundStatus = 'queued' | DeliveryStatus | 'failed';

export type OutboundMessage = {
  status: OutboundStatus;
  waMessageId: string | null;
  attempts: number;
  /** An attempt was recorded with no outcome after it: the Graph API may or may not have it. */
  inDoubt: boolean;
};

export type HeldStatus = { status: DeliveryStatus | 'failed'; at: string; errors: MetaError[] };

/**
 * What decide needs to know about a conversation. Owned by one actor and updated in place by
 * `evolve` (one event costs O(1) however long the conversation is); `decide` only reads it.
 */
export type ConversationState = {
  started: boolean;
  conversationId: string;
  organizationId: string;
  channelId: string;
  contact: { waId: string; name: string | null };
  status: ConversationStatus;
  snoozedUntil: string | null;
  assigneeId: string | null;
  queueId: string | null;
  labels: Set<string>;
  /** The 24-hour customer-service window runs from here. */
  lastInboundAt: string | null;
  inbound: Set<string>;
  outbound: Map<string, OutboundMessage>;
  /** Queue order of outbound messages not yet sent or failed: the sender takes the first. */
  unsent: string[];
  byWaMessageId: Map<string, string>;
  byClientMessageId: Map<string, string>;
  heldStatuses: Map<string, HeldStatus[]>;
  notes: Set<string>;
  bot: BotState;
};

/** The chatbot's side of a conversation. */
export type BotState = {
  /** The flow run in progress, if any. */
  run: FlowRun | null;
  /** Humans have it (a handoff, an agent took over, a stopped run): no trigger starts a run until an agent hands back or the conversation is resolved. */
  paused: boolean;
  /** The customer's latest message as text: `{{message.text}}` in turns an answer did not start. */
  lastText: string | null;
};

export const initialConversationState = (): ConversationState => ({
  started: false,
  conversationId: '',
  organizationId: '',
  channelId: '',
  contact: { waId: '', name: null },
  status: 'open',
  snoozedUntil: null,
  assigneeId: null,
  queueId: null,
  labels: new Set(),
  lastInboundAt: null,
  inbound: new Set(),
  outbound: new Map(),
  unsent: [],
  byWaMessageId: new Map(),
  byClientMessageId: new Map(),
  heldStatuses: new Map(),
  notes: new Set(),
  bot: { run: null, paused: false, lastText: null },
});

const settle = (state: ConversationState, messageId: string) => {
  state.unsent = state.unsent.filter((id) => id !== messageId);
};

export function evolveConversation(
  state: ConversationState,
  event: ConversationEvent,
  organizationId: string,
): ConversationState {
  switch (event.type) {
    case 'ConversationStarted':
      state.started = true;
      state.conversationId = event.data.conversationId;
      state.organizationId = organizationId;
      state.channelId = event.data.channelId;
      state.contact = { ...event.data.contact };
      return state;
    case 'ContactProfileChanged':
      state.contact.name = event.data.name;
      return state;
    case 'MessageReceived':
      state.inbound.add(event.data.waMessageId);
      if (state.lastInboundAt === null || event.data.sentAt > state.lastInboundAt) {
        state.lastInboundAt = event.data.sentAt;
      }
      state.bot.lastText = answerText(event.data.content) ?? state.bot.lastText;
      return state;
    case 'MessageQueued':
      state.outbound.set(event.data.messageId, {
        status: 'queued',
        waMessageId: null,
        attempts: 0,
        inDoubt: false,
      });
      state.unsent.push(event.data.messageId);
      if (event.data.clientMessageId !== null) {
        state.byClientMessageId.set(event.data.clientMessageId, event.data.messageId);
      }
      return state;
    case 'MessageSendAttempted': {
      const message = state.outbound.get(event.data.messageId);
      if (message) {
        message.attempts = event.data.attempt;
        message.inDoubt = true;
      }
      return state;
    }
    case 'MessageSendDeferred': {
      const message = state.outbound.get(event.data.messageId);
      if (message) message.inDoubt = false;
      return state;
    }
    case 'MessageSent': {
      const message = state.outbound.get(event.data.messageId);
      if (message) {
        message.waMessageId = event.data.waMessageId;
        message.inDoubt = false;
        if (message.status === 'queued') message.status = 'sent';
      }
      state.byWaMessageId.set(event.data.waMessageId, event.data.messageId);
      // Held statuses are applied by the decision that recorded MessageSent (or add nothing).
      state.heldStatuses.delete(event.data.waMessageId);
      settle(state, event.data.messageId);
      return state;
    }
    case 'MessageStatusUpdated': {
      const message = state.outbound.get(event.data.messageId);
      if (message) message.status = event.data.status;
      state.heldStatuses.delete(event.data.waMessageId);
      return state;
    }
    case 'MessageFailed': {
      const message = state.outbound.get(event.data.messageId);
      if (message) {
        message.status = 'failed';
        message.inDoubt = false;
      }
      if (event.data.waMessageId !== null) state.heldStatuses.delete(event.data.waMessageId);
      settle(state, event.data.messageId);
      return state;
    }
    case 'MessageStatusDeferred': {
      const held = state.heldStatuses.get(event.data.waMessageId) ?? [];
      held.push({ status: event.data.status, at: event.data.at, errors: event.data.errors });
      state.heldStatuses.set(event.data.waMessageId, held);
      return state;
    }
    case 'ConversationAssigned':
      state.assigneeId = event.data.assigneeId;
      state.queueId = event.data.queueId;
      return state;
    case 'ConversationResolved':
      state.status = 'resolved';
      state.snoozedUntil = null;
      // The next conversation with this customer starts with the bot on.
      state.bot.paused = false;
      return state;
    case 'ConversationReopened':
      state.status = 'open';
      state.snoozedUntil = null;
      return state;
    case 'ConversationSnoozed':
      state.status = 'snoozed';
      state.snoozedUntil = event.data.until;
      return state;
    case 'ConversationMarkedPending':
      state.status = 'pending';
      state.snoozedUntil = null;
      return state;
    case 'NoteAdded':
      state.notes.add(event.data.noteId);
      return state;
    case 'LabelAdded':
      state.labels.add(event.data.label);
      return state;
    case 'LabelRemoved':
      state.labels.delete(event.data.label);
      return state;
    case 'FlowRunStarted':
      state.bot.run = {
        runId: event.data.runId,
        chatbotId: event.data.chatbotId,
        flow: { flowId: event.data.flowId, version: event.data.version },
        variables: {},
        waiting: null,
        turn: 0,
        history: [],
      };
      return state;
    case 'FlowAdvanced': {
      const run = state.bot.run;
      if (run?.runId !== event.data.runId) return state;
      run.turn = event.data.turn;
      run.flow = { flowId: event.data.flowId, version: event.data.version };
      Object.assign(run.variables, event.data.set);
      run.waiting = event.data.waiting;
      run.history.push(...event.data.steps);
      if (run.history.length > maxHistory) run.history.splice(0, run.history.length - maxHistory);
      return state;
    }
    case 'FlowEnded':
      if (state.bot.run?.runId === event.data.runId) state.bot.run = null;
      if (event.data.reason !== 'completed' && event.data.reason !== 'resolved') state.bot.paused = true;
      return state;
    case 'BotResumed':
      state.bot.paused = false;
      return state;
    default:
      // Exhaustive for the compiler; at run time an event type newer than this code (a rolling
      // deploy) is passed over rather than breaking the conversation.
      return unknownEvent(event, state);
  }
}

const unknownEvent = (_event: never, state: ConversationState): ConversationState => state;
