import type { NodeExecutor } from './nodeExecutor.ts';

/** Continues at the published start of another flow (the executor resolves the version). */
export const jumpToFlowNode: NodeExecutor<'jump_to_flow'> = {
  enter: (node) => ({ kind: 'jump', flowId: node.flowId }),
};
