import type { OutboundContent } from '../../conversation/messageContent.ts';
import { parseAnswer } from '../answers.ts';
import type { NodeOf } from '../flowDefinition.ts';
import { maxReplyButtons } from '../flowDefinition.ts';
import type { NodeContext, NodeExecutor } from './nodeExecutor.ts';
import { next } from './nodeExecutor.ts';

/**
 * Asks, then waits for the answer. A valid answer sets the variable and goes on (a choice to its
 * option's node when it names one); an invalid one gets the retry prompt up to `retry.max` times, then
 * goes to `onInvalid` (or, without one, to a human). No answer before the timeout takes its branch.
 */
export const questionNode: NodeExecutor<'question'> = {
  enter(node, context) {
    context.send(prompt(node, context.render(node.text)));
    return {
      kind: 'wait',
      waiting: { kind: 'answer', nodeId: node.id, retries: 0, timeoutAt: timeoutAt(node, context) },
    };
  },
  resume(node, waiting, input, context) {
    if (input.kind === 'timeout') return next(node.timeout?.next);
    if (input.kind !== 'answer' || waiting.kind !== 'answer') return next(node.next);
    const value = parseAnswer(node.input, input.content);
    if (value !== undefined) {
      context.set(node.variable, value);
      if (node.input.kind === 'choice') {
        return next(node.input.options.find((option) => option.id === value)?.next ?? node.next);
      }
      return next(node.next);
    }
    const retries = waiting.retries + 1;
    if (node.retry && retries <= node.retry.max) {
      context.send(prompt(node, context.render(node.retry.text)));
      return { kind: 'wait', waiting: { ...waiting, retries, timeoutAt: timeoutAt(node, context) } };
    }
    if (node.onInvalid !== undefined) return next(node.onInvalid);
    return {
      kind: 'stop',
      reason: 'invalid_answer',
      detail: `no valid answer to '${node.id}' after ${retries} ${retries === 1 ? 'try' : 'tries'}`,
      queueId: null,
      assigneeId: null,
    };
  },
};

function timeoutAt(node: NodeOf<'question'>, context: NodeContext): string | null {
  if (!node.timeout) return null;
  return new Date(Date.parse(context.env.now) + node.timeout.seconds * 1000).toISOString();
}

/** A choice becomes reply buttons (up to three) or a list; anything else a text. */
function prompt(node: NodeOf<'question'>, text: string): OutboundContent {
  const { input } = node;
  if (input.kind !== 'choice') return { type: 'text', text };
  const body = { text: text.slice(0, 1024) };
  // Reply buttons when they fit (three at most, titles of 20 characters at most), else a list.
  const fits =
    input.options.length <= maxReplyButtons && input.options.every((option) => option.title.length <= 20);
  const style = input.style ?? (fits ? 'buttons' : 'list');
  if (style === 'buttons') {
    return {
      type: 'interactive',
      interactive: {
        type: 'button',
        body,
        action: {
          buttons: input.options.map((option) => ({
            type: 'reply',
            reply: { id: option.id, title: option.title },
          })),
        },
      },
    };
  }
  return {
    type: 'interactive',
    interactive: {
      type: 'list',
      body,
      action: {
        button: input.buttonText ?? 'Choose',
        sections: [
          {
            title: (input.buttonText ?? 'Options').slice(0, 24),
            rows: input.options.map((option) => ({
              id: option.id,
              title: option.title,
              ...(option.description === undefined ? {} : { description: option.description }),
            })),
          },
        ],
      },
    },
  };
}
