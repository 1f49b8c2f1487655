import type { InboundContent, OutboundContent } from '../conversation/messageContent.ts';
import type { ApiOutcome, ApiRequest } from './apiCall.ts';
import type { Value } from './expression.ts';
import type { FlowDefinition, FlowNodeType } from './flowDefinition.ts';

/** A flow version: runs keep the version they entered, whatever is published later. */
export type FlowRef = { flowId: string; version: number };

/** What a run waits for between turns. */
export type Waiting =
  | { kind: 'answer'; nodeId: string; retries: number; timeoutAt: string | null }
  | { kind: 'api'; nodeId: string; requestId: string; request: ApiRequest };

/**
 * What a run waits for, as agents see it (deltas, bot-runs): a pending API request stays out, since its
 * URL, headers and body may hold the business's own credentials, put there for the server only.
 */
export function waitingForAgents<W extends { kind: string; request?: unknown }>(
  waiting: W | null,
): Omit<W, 'request'> | null {
  if (waiting === null) return null;
  const { request: _hidden, ...shown } = waiting;
  return shown;
}

export type Step = { flowId: string; version: number; nodeId: string; type: FlowNodeType };

/** A bot's run through a flow, held in the conversation's state. */
export type FlowRun = {
  runId: string;
  chatbotId: string | null;
  flow: FlowRef;
  variables: Record<string, Value>;
  waiting: Waiting | null;
  /** Turns taken; a timer or an API answer names the turn it belongs to, so a stale one is ignored. */
  turn: number;
  /** The latest steps, oldest first (bounded: see maxHistory). */
  history: Step[];
};

export const maxHistory = 50;

/** What wakes a run. */
export type FlowInput =
  | { kind: 'start' }
  | { kind: 'answer'; content: InboundContent }
  | { kind: 'api_result'; requestId: string; outcome: ApiOutcome }
  | { kind: 'timeout' };

/** Why a run stopped; every reason but `completed` and `resolved` leaves the conversation to humans. */
export type FlowStopReason =
  | 'completed'
  | 'handoff'
  | 'step_limit'
  | 'invalid_answer'
  | 'flow_unavailable'
  /** A node failed at run time (a definition that slipped past validation). */
  | 'error'
  /** The turn had messages to send but the customer last wrote more than 24 hours ago. */
  | 'outside_window'
  | 'agent_takeover'
  | 'resolved';

/** Everything a turn may read besides the run: loaded before the actor's turn (see botPreparation.ts). */
export type BotEnvironment = {
  now: string;
  maxSteps: number;
  definition(ref: FlowRef): FlowDefinition | undefined;
  /** The published version of a flow a `jump_to_flow` names. */
  published(flowId: string): number | undefined;
  contact: { name: string | null; waId: string; attributes: Record<string, Value> };
  businessOpen: boolean | null;
};

/** A turn's result: the steps taken, the messages to send in order, and where the run is. */
export type FlowTurn = {
  steps: Step[];
  messages: OutboundContent[];
  /** Variables this turn set. */
  set: Record<string, Value>;
  flow: FlowRef;
  outcome:
    | { kind: 'wait'; waiting: Waiting }
    | { kind: 'end' }
    | {
        kind: 'stop';
        reason: Exclude<FlowStopReason, 'completed' | 'agent_takeover' | 'resolved'>;
        detail: string | null;
        queueId: string | null;
        assigneeId: string | null;
      };
};
