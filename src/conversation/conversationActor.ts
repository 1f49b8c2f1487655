import type { ActorBehaviour } from '../actors/actorSystem.ts';
import { deterministicId } from '../eventsourcing/deterministicId.ts';
import type { ConversationCommand } from './conversationCommands.ts';
import type { ConversationEvent } from './conversationEvents.ts';
import { type ConversationState, evolveConversation, initialConversationState } from './conversationState.ts';
import { decideConversation } from './decideConversation.ts';

/** The conversation's behaviour for the actor runtime: its rules are in decide and evolve. */
export const conversationBehaviour: ActorBehaviour<ConversationCommand, ConversationState> = {
  category: 'conversation',
  initialState: initialConversationState,
  evolve: (state, event) =>
    evolveConversation(
      state,
      { type: event.type, data: event.data } as ConversationEvent,
      event.metadata.organizationId,
    ),
  decide: (command, state, context) => decideConversation(command, state, context.organizationId),
};

/**
 * One conversation per organization, WhatsApp number and customer: its id is derived from the three,
 * so every node and every redelivery finds the same stream without a lookup.
 */
export const conversationIdFor = (organizationId: string, channelId: string, waId: string) =>
  deterministicId(`conversation/${organizationId}/${channelId}/${waId}`);
