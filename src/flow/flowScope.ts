import { memoize } from '../lang/memoize.ts';
import { evaluateExpression, parseExpression, type Value } from './expression.ts';
import type { BotEnvironment } from './flowRun.ts';

/**
 * What names mean inside a run: the run's variables first, then `contact.name`, `contact.waId`,
 * `contact.<attribute>`, `message.text` (the customer's latest message) and `business.open`.
 */
export function flowLookup(
  variables: Readonly<Record<string, Value>>,
  env: BotEnvironment,
  messageText: string | null,
): (name: string) => Value | undefined {
  return (name) => {
    if (Object.hasOwn(variables, name)) return variables[name];
    if (name === 'message.text') return messageText;
    if (name === 'business.open') return env.businessOpen;
    if (name === 'contact.name') return env.contact.name;
    if (name === 'contact.waId') return env.contact.waId;
    if (name.startsWith('contact.')) {
      const attribute = name.slice('contact.'.length);
      return Object.hasOwn(env.contact.attributes, attribute) ? env.contact.attributes[attribute] : undefined;
    }
    return undefined;
  };
}

/** null, false, 0, '' and 'false' are false; everything else is true. */
export const isTruthy = (value: Value | undefined): boolean =>
  !(
    value === undefined ||
    value === null ||
    value === false ||
    value === 0 ||
    value === '' ||
    value === 'false'
  );

/** Expressions were checked when the flow was saved; each is parsed once per process. */
const parsed = memoize(parseExpression, 10_000);

export const evaluate = (source: string, lookup: (name: string) => Value | undefined): Value =>
  evaluateExpression(parsed(source), lookup);
