import { isTruthy } from '../expression.ts';
import { evaluate } from '../flowScope.ts';
import { type NodeExecutor, next } from './nodeExecutor.ts';

/** The first branch whose expression holds wins; otherwise `else`. */
export const conditionNode: NodeExecutor<'condition'> = {
  enter(node, context) {
    for (const branch of node.branches) {
      if (isTruthy(evaluate(branch.when, context.lookup))) return next(branch.next);
    }
    return next(node.else);
  },
};
