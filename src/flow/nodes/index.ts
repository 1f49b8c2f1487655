import type { FlowNode, FlowNodeType } from '../flowDefinition.ts';
import { apiCallNode } from './apiCallNode.ts';
import { assignmentNode } from './assignmentNode.ts';
import { conditionNode } from './conditionNode.ts';
import { endNode } from './endNode.ts';
import { handoffNode } from './handoffNode.ts';
import { jumpToFlowNode } from './jumpToFlowNode.ts';
import { mediaNode } from './mediaNode.ts';
import type { NodeExecutor } from './nodeExecutor.ts';
import { questionNode } from './questionNode.ts';
import { textNode } from './textNode.ts';

const executors: { [Type in FlowNodeType]: NodeExecutor<Type> } = {
  text: textNode,
  media: mediaNode,
  question: questionNode,
  condition: conditionNode,
  api_call: apiCallNode,
  assignment: assignmentNode,
  handoff: handoffNode,
  jump_to_flow: jumpToFlowNode,
  end: endNode,
};

/** The executor of a node's type (one table, so a new type without one does not compile). */
export const executorFor = <Node extends FlowNode>(node: Node): NodeExecutor<Node['type']> =>
  executors[node.type] as NodeExecutor<Node['type']>;
