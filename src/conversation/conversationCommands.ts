import type { ApiOutcome } from '../flow/apiCall.ts';
import type { InboundMessage, InboundStatus } from '../whatsapp/normaliseMessage.ts';
import type { Author } from './conversationEvents.ts';
import type { MetaError, OutboundContent } from './messageContent.ts';

/**
 * Who may act on a conversation: everyone in the organization with `conversations.read_unassigned`,
 * otherwise only its assignee and the agents of its queue. Checked by decide so that the check and
 * the state it reads are the same turn's.
 */
export type Visibility = { all: true } | { all: false; userId: string; queueIds: readonly string[] };

/** Commands a conversation actor accepts, imperative. Times and ids come with the command. */
export type ConversationCommand =
  | {
      type: 'ReceiveWebhook';
      conversationId: string;
      channelId: string;
      contact: { waId: string; name: string | null };
      messages: InboundMessage[];
      statuses: InboundStatus[];
    }
  | {
      type: 'SendMessage';
      visibility: Visibility;
      messageId: string;
      clientMessageId: string | null;
      content: OutboundContent;
      replyTo: string | null;
      author: Author;
      now: string;
    }
  | { type: 'RecordSendAttempt'; messageId: string; attempt: number }
  /** From the timer worker: the snooze set until `until` is over (if it is still that snooze). */
  | { type: 'EndSnooze'; until: string; now: string }
  | {
      type: 'RecordSendOutcome';
      messageId: string;
      outcome:
        | { kind: 'sent'; waMessageId: string }
        | { kind: 'failed'; error: MetaError; at: string }
        | { kind: 'deferred'; attempt: number; error: MetaError; retryAt: string };
    }
  /** An absent field keeps its value; null clears it. */
  | {
      type: 'Assign';
      visibility: Visibility;
      assigneeId?: string | null;
      queueId?: string | null;
      by: string;
    }
  | { type: 'Resolve'; visibility: Visibility; by: string }
  | { type: 'Reopen'; visibility: Visibility; by: string }
  | { type: 'Snooze'; visibility: Visibility; until: string; now: string; by: string }
  | { type: 'MarkPending'; visibility: Visibility; by: string }
  | { type: 'AddNote'; visibility: Visibility; noteId: string; text: string; authorId: string }
  | { type: 'AddLabel'; visibility: Visibility; label: string; by: string }
  | { type: 'RemoveLabel'; visibility: Visibility; label: string; by: string }
  /** From the flow worker: what a waiting run waited for (an API's answer, or its question's timeout). */
  | {
      type: 'ResumeFlow';
      runId: string;
      turn: number;
      input: { kind: 'api_result'; requestId: string; outcome: ApiOutcome } | { kind: 'timeout' };
      now: string;
    }
  /** The conversation goes back to the bot: unassigned, its chatbot on again, and a flow started when named. */
  | { type: 'HandBackToBot'; visibility: Visibility; by: string; runId: string; flowId: string | null };
