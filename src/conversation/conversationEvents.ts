import type { RecordedEvent } from '../eventstore/eventStore.ts';
import type { Value } from '../flow/expression.ts';
import type { FlowStopReason, Step, Waiting } from '../flow/flowRun.ts';
import type { InboundMessage } from '../whatsapp/normaliseMessage.ts';
import type { InboundContent, MetaError, OutboundContent } from './messageContent.ts';

/**
 * Everything that can happen to a conversation, past tense. Schemas: schemas/events/<Type>.v1.json.
 * A conversation is one customer (wa_id) on one WhatsApp number of one organization; its stream is
 * `conversation-<conversationId>` and lives for ever: resolving and reopening are events in it.
 */
export type Author = { kind: 'agent' | 'bot' | 'system'; id: string | null };
export type DeliveryStatus = 'sent' | 'delivered' | 'read';

export type ConversationEvent =
  | {
      type: 'ConversationStarted';
      data: { conversationId: string; channelId: string; contact: { waId: string; name: string | null } };
    }
  | { type: 'ContactProfileChanged'; data: { name: string } }
  | {
      type: 'MessageReceived';
      data: {
        messageId: string;
        waMessageId: string;
        /** When the customer sent it, by Meta's clock. */
        sentAt: string;
        content: InboundContent;
        context: InboundMessage['context'] | null;
        referral: Record<string, unknown> | null;
      };
    }
  | {
      type: 'MessageQueued';
      data: {
        messageId: string;
        /** The sender's idempotency key: the same key never queues a second message. */
        clientMessageId: string | null;
        channelId: string;
        to: string;
        content: OutboundContent;
        replyTo: string | null;
        author: Author;
      };
    }
  | { type: 'MessageSendAttempted'; data: { messageId: string; attempt: number } }
  | {
      type: 'MessageSendDeferred';
      data: { messageId: string; attempt: number; error: MetaError; retryAt: string };
    }
  /** The Graph API accepted the message and gave it its wamid. */
  | { type: 'MessageSent'; data: { messageId: string; waMessageId: string } }
  | {
      type: 'MessageStatusUpdated';
      data: { messageId: string; waMessageId: string; status: DeliveryStatus; at: string };
    }
  | {
      type: 'MessageFailed';
      data: { messageId: string; waMessageId: string | null; error: MetaError; at: string };
    }
  /** A status for a wamid this conversation has not recorded yet: applied when MessageSent comes. */
  | {
      type: 'MessageStatusDeferred';
      data: { waMessageId: string; status: DeliveryStatus | 'failed'; at: string; errors: MetaError[] };
    }
  | { type: 'ConversationAssigned'; data: { assigneeId: string | null; queueId: string | null; by: string } }
  | { type: 'ConversationResolved'; data: { by: string } }
  | {
      type: 'ConversationReopened';
      data: { reason: 'customer_message' | 'agent' | 'snooze_ended'; by: string | null };
    }
  | { type: 'ConversationSnoozed'; data: { until: string; by: string } }
  | { type: 'ConversationMarkedPending'; data: { by: string } }
  | { type: 'NoteAdded'; data: { noteId: string; text: string; authorId: string } }
  | { type: 'LabelAdded'; data: { label: string; by: string } }
  | { type: 'LabelRemoved'; data: { label: string; by: string } }
  /** A chatbot's trigger (or an agent handing back) started a run of a published flow version. */
  | {
      type: 'FlowRunStarted';
      data: {
        runId: string;
        chatbotId: string | null;
        flowId: string;
        version: number;
        trigger: { type: 'keyword' | 'default' | 'handback'; value: string | null };
      };
    }
  /** One bot turn: the nodes it went through, the variables it set, and what the run waits for now. */
  | {
      type: 'FlowAdvanced';
      data: {
        runId: string;
        turn: number;
        flowId: string;
        version: number;
        steps: Step[];
        set: Record<string, Value>;
        waiting: Waiting | null;
      };
    }
  | { type: 'FlowEnded'; data: { runId: string; reason: FlowStopReason; detail: string | null } }
  /** An agent gave the conversation back to its chatbot. */
  | { type: 'BotResumed'; data: { by: string } };

export type ConversationEventType = ConversationEvent['type'];

export const conversationEventTypes: readonly ConversationEventType[] = [
  'ConversationStarted',
  'ContactProfileChanged',
  'MessageReceived',
  'MessageQueued',
  'MessageSendAttempted',
  'MessageSendDeferred',
  'MessageSent',
  'MessageStatusUpdated',
  'MessageFailed',
  'MessageStatusDeferred',
  'ConversationAssigned',
  'ConversationResolved',
  'ConversationReopened',
  'ConversationSnoozed',
  'ConversationMarkedPending',
  'NoteAdded',
  'LabelAdded',
  'LabelRemoved',
  'FlowRunStarted',
  'FlowAdvanced',
  'FlowEnded',
  'BotResumed',
];

export const conversationStream = (conversationId: string) => `conversation-${conversationId}`;

/**
 * A recorded event of a conversation stream, seen as the union above. No copy: the recorded event
 * already carries `type` and `data`, checked against their schema when they were appended.
 */
export const conversationEventOf = (recorded: RecordedEvent): ConversationEvent =>
  recorded as unknown as ConversationEvent;
