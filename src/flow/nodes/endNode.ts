import { type NodeExecutor, next } from './nodeExecutor.ts';

/** The run ends; the bot stays on, so the next message can trigger it again. */
export const endNode: NodeExecutor<'end'> = {
  enter: () => next(undefined),
};
