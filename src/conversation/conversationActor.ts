import type { DatabasePool } from 'slonik';
import type { ActorBehaviour, ActorSystem } from '../actors/actorSystem.ts';
import type { LeaderLock } from '../db/leaderLock.ts';
import { deterministicId } from '../eventsourcing/deterministicId.ts';
import type { BotPrepared, BotPreparer } from '../flow/botPreparation.ts';
import { memoize } from '../lang/memoize.ts';
import type { Logger } from '../log/logger.ts';
import type { ProjectionRunner } from '../projection/projectionRunner.ts';
import type { ConversationCommand } from './conversationCommands.ts';
import { conversationEventOf } from './conversationEvents.ts';
import { type ConversationState, evolveConversation, initialConversationState } from './conversationState.ts';
import { decideConversation } from './decideConversation.ts';

/**
 * The conversation's behaviour for the actor runtime: its rules are in decide and evolve. With a
 * `prepareBot`, the channel's chatbots run in the conversation's turns (without one, none does).
 */
export function conversationBehaviour(
  prepareBot?: BotPreparer,
): ActorBehaviour<ConversationCommand, ConversationState> {
  return {
    category: 'conversation',
    initialState: initialConversationState,
    evolve: (state, event) =>
      evolveConversation(state, conversationEventOf(event), event.metadata.organizationId),
    ...(prepareBot && {
      prepare: (command, state, context) => prepareBot(command, state, context.organizationId),
    }),
    decide: (command, state, context, prepared) =>
      decideConversation(command, state, context.organizationId, prepared as BotPrepared | undefined),
  };
}

/**
 * Where conversation commands go: the local actor system, or (with REDIS_URL) a router that sends
 * each command to the node holding the conversation's lease.
 */
export type ConversationActors = Pick<ActorSystem<ConversationCommand, ConversationState>, 'send'>;

/** What a background worker that sends commands to conversations (snooze waker, flow worker) uses. */
export type ConversationWorkerDeps = {
  pool: DatabasePool;
  conversations: ConversationActors;
  projections: ProjectionRunner;
  leader: LeaderLock;
  logger: Logger;
};

/**
 * One conversation per organization, WhatsApp number and customer: its id is derived from the three,
 * so every node and every redelivery finds the same stream without a lookup.
 */
export const conversationIdFor = (organizationId: string, channelId: string, waId: string): string =>
  recentIds(`conversation/${organizationId}/${channelId}/${waId}`);

// A SHA-1 per webhook adds up on the ingest path; the same customers write again and again.
const recentIds = memoize(deterministicId, 100_000);
