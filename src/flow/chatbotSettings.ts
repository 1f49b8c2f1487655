import type { FieldError } from '../errors/catalogue.ts';
import type { BusinessHours, ChatbotTrigger } from './chatbot.ts';
import { RegexError, safeRegex } from './safeRegex.ts';

/**
 * What a chatbot's JSON schema cannot check: regex triggers compile, the time zone is one this
 * server knows, every opening slot ends after it starts. Paths are JSON pointers into the body.
 */
export function chatbotSettingErrors(settings: {
  triggers?: readonly ChatbotTrigger[];
  businessHours?: BusinessHours | null;
}): FieldError[] {
  const errors: FieldError[] = [];
  settings.triggers?.forEach((trigger, i) => {
    if (trigger.type !== 'keyword' || trigger.match !== 'regex') return;
    const problem = regexProblem(trigger.value);
    if (problem) errors.push({ path: `/triggers/${i}/value`, message: problem });
  });
  const hours = settings.businessHours;
  if (hours) {
    if (!isTimeZone(hours.timezone)) {
      errors.push({
        path: '/businessHours/timezone',
        message: 'must be an IANA time zone (America/Sao_Paulo)',
      });
    }
    hours.weekly.forEach((slot, i) => {
      // Zero-padded HH:MM compares as text.
      if (slot.to <= slot.from) {
        errors.push({ path: `/businessHours/weekly/${i}/to`, message: 'must be after from' });
      }
    });
  }
  return errors;
}

/** The trigger runs on the flows' linear-time engine: it must compile there. */
function regexProblem(source: string): string | null {
  try {
    safeRegex(source);
    return null;
  } catch (error) {
    if (!(error instanceof RegexError)) throw error;
    return `is not a regular expression this server runs: ${error.message}`;
  }
}

function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}
