import { type NodeExecutor, next } from './nodeExecutor.ts';

/** WhatsApp's limit on a text message body. */
const maxText = 4096;

export const textNode: NodeExecutor<'text'> = {
  enter(node, context) {
    const text = context.render(node.text).slice(0, maxText);
    // A text that renders empty (only unknown variables) would be refused by the Graph API.
    if (text.trim() !== '') context.send({ type: 'text', text });
    return next(node.next);
  },
};
