import type { RecordedEvent } from '../eventstore/eventStore.ts';
import type { ChatbotSettings } from './chatbot.ts';
import type { FlowDefinition } from './flowDefinition.ts';

/**
 * A flow's stream (`flow-<flowId>`) holds its saved versions and publications; a chatbot's stream
 * (`chatbot-<chatbotId>`) its settings. Schemas: schemas/events/{FlowDraftSaved,FlowPublished,
 * ChatbotCreated,ChatbotUpdated}.v1.json.
 */
export type FlowDraftSaved = { flowId: string; version: number; name: string; definition: FlowDefinition };
export type FlowPublished = { flowId: string; version: number };
export type ChatbotCreated = ChatbotSettings & { chatbotId: string };
/** The number a chatbot answers on never changes. */
export type ChatbotUpdated = Partial<Omit<ChatbotSettings, 'channelId'>>;

export const flowEventTypes = ['FlowDraftSaved', 'FlowPublished'] as const;
export const chatbotEventTypes = ['ChatbotCreated', 'ChatbotUpdated'] as const;

export const flowStream = (flowId: string): string => `flow-${flowId}`;
export const chatbotStream = (chatbotId: string): string => `chatbot-${chatbotId}`;

/** What deciding about a flow needs; the definitions stay in the events. */
export type FlowState = {
  organizationId: string;
  name: string;
  latestVersion: number;
  publishedVersion: number | null;
};

export function evolveFlow(state: FlowState | undefined, event: RecordedEvent): FlowState | undefined {
  if (event.type === 'FlowDraftSaved') {
    const data = event.data as FlowDraftSaved;
    return {
      organizationId: state?.organizationId ?? event.metadata.organizationId,
      name: data.name,
      latestVersion: data.version,
      publishedVersion: state?.publishedVersion ?? null,
    };
  }
  if (event.type === 'FlowPublished' && state) {
    return { ...state, publishedVersion: (event.data as FlowPublished).version };
  }
  return state;
}

export type ChatbotState = { organizationId: string };

export function evolveChatbot(
  state: ChatbotState | undefined,
  event: RecordedEvent,
): ChatbotState | undefined {
  if (event.type === 'ChatbotCreated') return { organizationId: event.metadata.organizationId };
  return state;
}
