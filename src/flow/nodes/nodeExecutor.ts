import type { OutboundContent } from '../../conversation/messageContent.ts';
import type { Value } from '../expression.ts';
import type { FlowNode, FlowNodeType } from '../flowDefinition.ts';
import type { BotEnvironment, FlowInput, FlowTurn, Waiting } from '../flowRun.ts';

/** What a node may read and do during a step. */
export type NodeContext = {
  env: BotEnvironment;
  /** A variable, a contact field, `message.text`, `business.open`; undefined when unknown. */
  lookup(name: string): Value | undefined;
  /** `{{name}}` interpolation with the same lookup. */
  render(template: string): string;
  send(content: OutboundContent): void;
  set(name: string, value: Value): void;
  /** A fresh id, the same on every replay of this turn. */
  newId(): string;
};

export type NodeOutcome =
  /** Go on to this node; undefined: the flow ends here. */
  | { kind: 'next'; to: string | undefined }
  | { kind: 'jump'; flowId: string }
  | { kind: 'wait'; waiting: Waiting }
  | Extract<FlowTurn['outcome'], { kind: 'stop' }>;

/**
 * One per node type. `enter` runs the node when the flow reaches it; `resume` when what it waits for
 * arrives (an answer, an API result, a timeout). Pure: everything comes through the context.
 */
export type NodeExecutor<Type extends FlowNodeType> = {
  enter(node: Extract<FlowNode, { type: Type }>, context: NodeContext): NodeOutcome;
  resume?(
    node: Extract<FlowNode, { type: Type }>,
    waiting: Waiting,
    input: Exclude<FlowInput, { kind: 'start' }>,
    context: NodeContext,
  ): NodeOutcome;
};

export const next = (to: string | undefined): NodeOutcome => ({ kind: 'next', to });
