import type { NodeExecutor } from './nodeExecutor.ts';

/** The bot stops and the conversation waits for a human, in the queue or with the agent named. */
export const handoffNode: NodeExecutor<'handoff'> = {
  enter(node, context) {
    if (node.text !== undefined) {
      const text = context.render(node.text);
      if (text.trim() !== '') context.send({ type: 'text', text });
    }
    return {
      kind: 'stop',
      reason: 'handoff',
      detail: null,
      queueId: node.queueId ?? null,
      assigneeId: node.assigneeId ?? null,
    };
  },
};
