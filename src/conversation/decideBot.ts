import { AppError } from '../errors/catalogue.ts';
import { deterministicId } from '../eventsourcing/deterministicId.ts';
import { answerText } from '../flow/answers.ts';
import { type BotPrepared, botEnvironment } from '../flow/botPreparation.ts';
import { runFlow } from '../flow/flowExecutor.ts';
import type { FlowInput, FlowRun, FlowStopReason } from '../flow/flowRun.ts';
import { isOpen, triggeredChatbot } from '../flow/triggers.ts';
import type { ConversationCommand } from './conversationCommands.ts';
import { type ConversationState, insideCustomerServiceWindow } from './conversationState.ts';
import type { ConversationDraft } from './decideConversation.ts';
import type { InboundContent } from './messageContent.ts';

/**
 * The bot's part of a conversation's decisions, pure like the rest: which message starts a run,
 * feeding answers, API results and timeouts to the run, and stopping it when humans take over.
 * `session` is the bot's state as this turn's earlier drafts left it (one webhook can carry several
 * messages); every function updates it as it adds drafts.
 */
export type BotSession = {
  run: FlowRun | null;
  paused: boolean;
  assigneeId: string | null;
  queueId: string | null;
  /** Where bot messages go (a conversation starting in this turn has no state yet). */
  conversationId: string;
  channelId: string;
  waId: string;
  /** The customer's latest message: bot messages go out only within 24 hours of it. */
  lastInboundAt: string | null;
};

export const botSession = (
  state: ConversationState,
  starting?: { conversationId: string; channelId: string; waId: string },
): BotSession => ({
  run: state.bot.run && { ...state.bot.run, variables: { ...state.bot.run.variables } },
  paused: state.bot.paused,
  assigneeId: state.assigneeId,
  queueId: state.queueId,
  conversationId: starting?.conversationId ?? state.conversationId,
  channelId: starting?.channelId ?? state.channelId,
  waId: starting?.waId ?? state.contact.waId,
  lastInboundAt: state.lastInboundAt,
});

/** Message types the bot never answers: they say nothing to a flow. */
const ignored = new Set<InboundContent['type']>(['reaction', 'system', 'unsupported']);

/** A customer message: the answer a waiting run expects, or a trigger for a new run. */
export function botOnMessage(
  session: BotSession,
  message: { messageId: string; content: InboundContent },
  newSession: boolean,
  prepared: BotPrepared | undefined,
): ConversationDraft[] {
  if (!prepared || ignored.has(message.content.type)) return [];
  const text = answerText(message.content);
  const run = session.run;
  if (run) {
    // A run waiting on its API call lets the message pass: the flow reads `message.text` later.
    if (run.waiting?.kind !== 'answer') return [];
    return advance(session, prepared, { kind: 'answer', content: message.content }, text);
  }
  if (session.paused || session.assigneeId !== null) return [];
  const triggered = triggeredChatbot(prepared.chatbots, text, newSession);
  if (!triggered) return [];
  const { chatbot, trigger } = triggered;
  const closedFlowId = chatbot.businessHours?.closedFlowId;
  const flowId =
    closedFlowId && chatbot.businessHours && !isOpen(chatbot.businessHours, prepared.now)
      ? closedFlowId
      : chatbot.flowId;
  return start(session, prepared, {
    runId: deterministicId(`${session.conversationId}/run/${message.messageId}`),
    chatbotId: chatbot.id,
    flowId,
    trigger: { type: trigger.type, value: trigger.type === 'keyword' ? trigger.value : null },
    text,
  });
}

/** The worker's news for a waiting run; stale news (another turn, another run) changes nothing. */
export function botOnResume(
  command: Extract<ConversationCommand, { type: 'ResumeFlow' }>,
  state: ConversationState,
  prepared: BotPrepared | undefined,
): ConversationDraft[] {
  const run = state.bot.run;
  if (!prepared || run?.runId !== command.runId || run.turn !== command.turn || !run.waiting) return [];
  const { input } = command;
  if (input.kind === 'api_result') {
    if (run.waiting.kind !== 'api' || run.waiting.requestId !== input.requestId) return [];
  } else if (
    run.waiting.kind !== 'answer' ||
    run.waiting.timeoutAt === null ||
    Date.parse(command.now) < Date.parse(run.waiting.timeoutAt)
  ) {
    return [];
  }
  return advance(botSession(state), prepared, input, state.bot.lastText);
}

/** An agent hands the conversation back: unassigned, the bot on again, and the flow named started. */
export function botOnHandBack(
  command: Extract<ConversationCommand, { type: 'HandBackToBot' }>,
  state: ConversationState,
  prepared: BotPrepared | undefined,
): ConversationDraft[] {
  const session = botSession(state);
  const drafts: ConversationDraft[] = [];
  if (state.assigneeId !== null) {
    drafts.push({
      type: 'ConversationAssigned',
      data: { assigneeId: null, queueId: state.queueId, by: command.by },
    });
    session.assigneeId = null;
  }
  if (command.flowId !== null && !prepared?.published.has(command.flowId)) {
    throw new AppError('flow.not_published', `Flow ${command.flowId} has no published version to start`);
  }
  // A run in progress gives way to the flow named; it ends before the bot is turned on again.
  if (command.flowId !== null) {
    drafts.push(
      ...botStop(session, 'agent_takeover', `handed back by ${command.by} to flow ${command.flowId}`),
    );
  }
  if (session.paused) {
    drafts.push({ type: 'BotResumed', data: { by: command.by } });
    session.paused = false;
  }
  if (command.flowId === null || !prepared) return drafts;
  const chatbotId = prepared.chatbots.find((chatbot) => chatbot.flowId === command.flowId)?.id ?? null;
  drafts.push(
    ...start(session, prepared, {
      runId: command.runId,
      chatbotId,
      flowId: command.flowId,
      trigger: { type: 'handback', value: null },
      text: state.bot.lastText,
    }),
  );
  return drafts;
}

/** Ends a run in progress because humans stepped in (or the conversation was resolved). */
export function botStop(
  session: BotSession,
  reason: FlowStopReason,
  detail: string | null,
): ConversationDraft[] {
  if (!session.run) return [];
  const runId = session.run.runId;
  session.run = null;
  if (reason !== 'completed' && reason !== 'resolved') session.paused = true;
  return [
    { type: 'FlowEnded', data: { runId, reason, detail: detail === null ? null : detail.slice(0, 2000) } },
  ];
}

function start(
  session: BotSession,
  prepared: BotPrepared,
  how: {
    runId: string;
    chatbotId: string | null;
    flowId: string;
    trigger: { type: 'keyword' | 'default' | 'handback'; value: string | null };
    text: string | null;
  },
): ConversationDraft[] {
  const version = prepared.published.get(how.flowId);
  // A chatbot whose flow lost its published version triggers nothing (the chatbot routes refuse it).
  if (version === undefined) return [];
  session.run = {
    runId: how.runId,
    chatbotId: how.chatbotId,
    flow: { flowId: how.flowId, version },
    variables: {},
    waiting: null,
    turn: 0,
    history: [],
  };
  const started: ConversationDraft = {
    type: 'FlowRunStarted',
    data: { runId: how.runId, chatbotId: how.chatbotId, flowId: how.flowId, version, trigger: how.trigger },
  };
  return [started, ...advance(session, prepared, { kind: 'start' }, how.text)];
}

/** One turn of the run in `session`: its messages queued in order, its step recorded, its end if it ended. */
function advance(
  session: BotSession,
  prepared: BotPrepared,
  input: FlowInput,
  text: string | null,
): ConversationDraft[] {
  const run = session.run as FlowRun;
  const turn = runFlow(run, input, botEnvironment(prepared, run.chatbotId), text);
  // A turn the customer did not start (a timeout, an API answer) may come after the 24-hour window:
  // Meta would refuse its messages, so humans take over instead (a template is theirs to send).
  if (turn.messages.length > 0 && !insideCustomerServiceWindow(session.lastInboundAt, prepared.now)) {
    turn.messages = [];
    turn.outcome = {
      kind: 'stop',
      reason: 'outside_window',
      detail: `the customer last wrote at ${session.lastInboundAt}, more than 24 hours ago`,
      queueId: null,
      assigneeId: null,
    };
  }
  const number = run.turn + 1;
  const drafts: ConversationDraft[] = turn.messages.map((content, i) => {
    const messageId = deterministicId(`${run.runId}/${number}/message/${i}`);
    return {
      id: deterministicId(`${session.conversationId}/queued/${messageId}`),
      type: 'MessageQueued',
      data: {
        messageId,
        clientMessageId: null,
        channelId: session.channelId,
        to: session.waId,
        content,
        replyTo: null,
        author: { kind: 'bot', id: run.chatbotId },
      },
    };
  });
  const waiting = turn.outcome.kind === 'wait' ? turn.outcome.waiting : null;
  drafts.push({
    type: 'FlowAdvanced',
    data: { runId: run.runId, turn: number, ...turn.flow, steps: turn.steps, set: turn.set, waiting },
  });
  Object.assign(run.variables, turn.set);
  run.turn = number;
  run.flow = turn.flow;
  run.waiting = waiting;
  const { outcome } = turn;
  if (outcome.kind === 'end') drafts.push(...botStop(session, 'completed', null));
  if (outcome.kind === 'stop') {
    const assigneeId = outcome.assigneeId ?? session.assigneeId;
    const queueId = outcome.queueId ?? session.queueId;
    if (assigneeId !== session.assigneeId || queueId !== session.queueId) {
      drafts.push({ type: 'ConversationAssigned', data: { assigneeId, queueId, by: 'bot' } });
      session.assigneeId = assigneeId;
      session.queueId = queueId;
    }
    drafts.push(...botStop(session, outcome.reason, outcome.detail));
  }
  return drafts;
}
