import type { ConversationCommand } from '../conversation/conversationCommands.ts';
import type { ConversationState } from '../conversation/conversationState.ts';
import type { Chatbot } from './chatbot.ts';
import type { Value } from './expression.ts';
import type { FlowCatalog } from './flowCatalog.ts';
import type { FlowDefinition } from './flowDefinition.ts';
import type { BotEnvironment, FlowRef } from './flowRun.ts';
import { isOpen } from './triggers.ts';

/**
 * What a bot turn reads, loaded before the conversation actor decides (decide does no I/O): the
 * channel's chatbots, every flow version the turn could reach (the run's, the chatbots', and the
 * published versions behind each `jump_to_flow`), the contact, and the clock.
 */
export type BotPrepared = {
  now: string;
  maxSteps: number;
  chatbots: readonly Chatbot[];
  definitions: ReadonlyMap<string, FlowDefinition>;
  published: ReadonlyMap<string, number>;
  contact: { name: string | null; waId: string; attributes: Record<string, Value> };
};

export type BotPreparer = (
  command: ConversationCommand,
  state: ConversationState,
  organizationId: string,
) => Promise<BotPrepared | undefined>;

/** Flows one turn may load, jumps included: a bound on what a hostile chain of jumps costs. */
const maxFlowsPerTurn = 50;

const refKey = (ref: FlowRef) => `${ref.flowId}@${ref.version}`;

/** The environment of a run of `chatbotId` (its business hours decide `business.open`). */
export function botEnvironment(prepared: BotPrepared, chatbotId: string | null): BotEnvironment {
  const hours = prepared.chatbots.find((chatbot) => chatbot.id === chatbotId)?.businessHours ?? null;
  return {
    now: prepared.now,
    maxSteps: prepared.maxSteps,
    definition: (ref) => prepared.definitions.get(refKey(ref)),
    published: (flowId) => prepared.published.get(flowId),
    contact: prepared.contact,
    businessOpen: hours ? isOpen(hours, prepared.now) : null,
  };
}

export function botPreparer(deps: { catalog: FlowCatalog; maxSteps: number; now?: () => Date }): BotPreparer {
  const { catalog } = deps;
  return async (command, state, organizationId) => {
    const channelId = command.type === 'ReceiveWebhook' ? command.channelId : state.channelId;
    const starts = startingPoints(command, state);
    if (starts === undefined) return undefined;
    const chatbots = await catalog.chatbotsFor(organizationId, channelId);
    const refs: FlowRef[] = [...starts.refs];
    const flowIds = [...starts.flowIds];
    if (starts.triggers) {
      if (chatbots.length === 0 && refs.length === 0) return undefined;
      for (const chatbot of chatbots) {
        flowIds.push(chatbot.flowId);
        if (chatbot.businessHours?.closedFlowId) flowIds.push(chatbot.businessHours.closedFlowId);
      }
    }
    const definitions = new Map<string, FlowDefinition>();
    const published = new Map<string, number>();
    const todo = [...refs];
    const publish = async (flowId: string) => {
      if (published.has(flowId)) return;
      const version = await catalog.publishedVersion(organizationId, flowId);
      if (version === null) return;
      published.set(flowId, version);
      todo.push({ flowId, version });
    };
    for (const flowId of flowIds) await publish(flowId);
    for (let ref = todo.pop(); ref !== undefined && definitions.size < maxFlowsPerTurn; ref = todo.pop()) {
      if (definitions.has(refKey(ref))) continue;
      const definition = await catalog.definition(organizationId, ref.flowId, ref.version);
      if (!definition) continue;
      definitions.set(refKey(ref), definition);
      for (const node of definition.nodes) if (node.type === 'jump_to_flow') await publish(node.flowId);
    }
    const waId = command.type === 'ReceiveWebhook' ? command.contact.waId : state.contact.waId;
    const profileName =
      command.type === 'ReceiveWebhook' ? (command.contact.name ?? state.contact.name) : state.contact.name;
    return {
      now: (deps.now?.() ?? new Date()).toISOString(),
      maxSteps: deps.maxSteps,
      chatbots,
      definitions,
      published,
      contact: await contactOf(catalog, organizationId, waId, profileName),
    };
  };
}

/**
 * Whether a command may run the bot, and from which flows: undefined when it cannot (no new customer
 * message, a run that is not this one, humans in charge), so most turns load nothing.
 */
function startingPoints(
  command: ConversationCommand,
  state: ConversationState,
): { refs: FlowRef[]; flowIds: string[]; triggers: boolean } | undefined {
  const run = state.bot.run;
  switch (command.type) {
    case 'ReceiveWebhook': {
      if (!command.messages.some((message) => !state.inbound.has(message.waMessageId))) return undefined;
      const triggers = !state.bot.paused && state.assigneeId === null;
      if (!run && !triggers) return undefined;
      return { refs: run ? [run.flow] : [], flowIds: [], triggers };
    }
    case 'ResumeFlow':
      return run?.runId === command.runId ? { refs: [run.flow], flowIds: [], triggers: false } : undefined;
    case 'HandBackToBot':
      return command.flowId === null ? undefined : { refs: [], flowIds: [command.flowId], triggers: false };
    default:
      return undefined;
  }
}

async function contactOf(
  catalog: FlowCatalog,
  organizationId: string,
  waId: string,
  profileName: string | null,
): Promise<BotPrepared['contact']> {
  const known = await catalog.contact(organizationId, waId);
  return { name: known?.name ?? profileName, waId, attributes: known?.attributes ?? {} };
}
