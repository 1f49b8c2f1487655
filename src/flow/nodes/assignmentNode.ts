import { evaluate } from '../flowScope.ts';
import { type NodeExecutor, next } from './nodeExecutor.ts';

/** Every expression reads the variables as they were before the node: `a = b, b = a` swaps. */
export const assignmentNode: NodeExecutor<'assignment'> = {
  enter(node, context) {
    const values = Object.entries(node.set).map(
      ([name, expression]) => [name, evaluate(expression, context.lookup)] as const,
    );
    for (const [name, value] of values) context.set(name, value);
    return next(node.next);
  },
};
