import { fold } from './answers.ts';
import type { BusinessHours, Chatbot, ChatbotTrigger, Weekday } from './chatbot.ts';
import { safeRegex } from './safeRegex.ts';

export type Triggered = { chatbot: Chatbot; trigger: ChatbotTrigger };

/**
 * Which chatbot a customer's message starts: the first keyword trigger it matches (chatbots oldest
 * first), else — on a new or reopened conversation only — the first default trigger.
 */
export function triggeredChatbot(
  chatbots: readonly Chatbot[],
  text: string | null,
  newSession: boolean,
): Triggered | undefined {
  if (text !== null) {
    for (const chatbot of chatbots) {
      for (const trigger of chatbot.triggers) {
        if (trigger.type === 'keyword' && keywordMatches(trigger, text)) return { chatbot, trigger };
      }
    }
  }
  if (!newSession) return undefined;
  for (const chatbot of chatbots) {
    const trigger = chatbot.triggers.find((candidate) => candidate.type === 'default');
    if (trigger) return { chatbot, trigger };
  }
  return undefined;
}

/** Exact and contains ignore case and accents; a regex is RE2-safe and case-insensitive. */
function keywordMatches(trigger: Extract<ChatbotTrigger, { type: 'keyword' }>, text: string): boolean {
  switch (trigger.match ?? 'exact') {
    case 'exact':
      return fold(text) === fold(trigger.value);
    case 'contains':
      return fold(text).includes(fold(trigger.value));
    case 'regex':
      return safeRegex(trigger.value).test(text);
    default:
      return false;
  }
}

/** Whether `now` falls in the opening hours, read in the business's own time zone. */
export function isOpen(hours: BusinessHours, now: string): boolean {
  const parts = Object.fromEntries(
    formatterFor(hours.timezone)
      .formatToParts(new Date(now))
      .map((part) => [part.type, part.value]),
  );
  // en-US short weekdays (Sun, Mon, …) lower-cased are the Weekday names.
  const day = parts.weekday?.toLowerCase() as Weekday | undefined;
  // hourCycle h23 gives 00-23; some ICU versions still say 24 at midnight.
  const time = `${String(Number(parts.hour) % 24).padStart(2, '0')}:${parts.minute}`;
  return hours.weekly.some((slot) => slot.day === day && slot.from <= time && time < slot.to);
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}
