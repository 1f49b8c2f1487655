import type { InboundContent } from '../conversation/messageContent.ts';
import { foldCase, type Value } from './expression.ts';
import type { ChoiceOption, QuestionInput } from './flowDefinition.ts';

/** What the customer's message says as text: a typed text, or the title of a button or list reply. */
export function answerText(content: InboundContent): string | null {
  switch (content.type) {
    case 'text':
      return content.text;
    case 'interactive':
      return content.interactive.kind === 'nfm_reply' ? null : content.interactive.title;
    case 'button':
      return content.button.text;
    default:
      return null;
  }
}

/** Case and accents ignored: "Sí" answers "si". */
export const fold = (text: string): string => foldCase(text).trim();

/**
 * The value an answer gives the question's variable, or undefined when it does not answer it.
 * Numbers become numbers, emails lower case, phones `+` and digits, dates YYYY-MM-DD, and a choice
 * the id of the option picked (by reply id, title, or its number in the list).
 */
export function parseAnswer(input: QuestionInput, content: InboundContent): Value | undefined {
  if (input.kind === 'choice') return chosenOption(input.options, content)?.id;
  const text = answerText(content)?.trim();
  if (!text) return undefined;
  switch (input.kind) {
    case 'text':
      return text;
    case 'number': {
      if (!/^[-+]?\d+([.,]\d+)?$/.test(text)) return undefined;
      return Number(text.replace(',', '.'));
    }
    case 'email':
      return /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/.test(text) && text.length <= 254
        ? text.toLowerCase()
        : undefined;
    case 'phone': {
      if (!/^\+?[\d\s().-]+$/.test(text)) return undefined;
      const digits = text.replace(/\D/g, '');
      return digits.length >= 7 && digits.length <= 15 ? `+${digits}` : undefined;
    }
    case 'date':
      return parseDate(text);
    default:
      return unknownKind(input);
  }
}

const unknownKind = (_input: never): undefined => undefined;

export function chosenOption(options: ChoiceOption[], content: InboundContent): ChoiceOption | undefined {
  if (content.type === 'interactive' && content.interactive.kind !== 'nfm_reply') {
    const { id } = content.interactive;
    const byId = options.find((option) => option.id === id);
    if (byId) return byId;
  }
  const text = answerText(content);
  if (text === null) return undefined;
  const folded = fold(text);
  const byTitle = options.find((option) => fold(option.title) === folded);
  if (byTitle) return byTitle;
  // Customers who cannot use the buttons (old clients, typed replies) answer with the number.
  return /^\d{1,2}$/.test(folded) ? options[Number(folded) - 1] : undefined;
}

/** YYYY-MM-DD, or DD/MM/YYYY and DD-MM-YYYY (the day first, as most of WhatsApp's users write it). */
function parseDate(text: string): string | undefined {
  const iso = /^(\d{4})-(\d{1,2})-(\d{1,2})$/.exec(text);
  const dayFirst = /^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$/.exec(text);
  const [year, month, day] = iso
    ? [iso[1], iso[2], iso[3]]
    : dayFirst
      ? [dayFirst[3], dayFirst[2], dayFirst[1]]
      : [];
  if (year === undefined || month === undefined || day === undefined) return undefined;
  const date = new Date(Date.UTC(Number(year), Number(month) - 1, Number(day)));
  if (date.getUTCMonth() !== Number(month) - 1 || date.getUTCDate() !== Number(day)) return undefined;
  return date.toISOString().slice(0, 10);
}
