import type { Value } from './expression.ts';

/** `{{ name }}` or `{{contact.name}}`: a dotted name, spaces allowed inside the braces. */
const placeholder = /\{\{\s*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*\}\}/g;

/**
 * Replaces each placeholder with its variable: unknown and null render empty, numbers and booleans
 * as String() writes them. One pass: a value that itself holds `{{…}}` (a customer's message) stays
 * text. Braces around anything but a name (`{{ not a name }}`) are left as written.
 */
export function interpolate(template: string, lookup: (name: string) => Value | undefined): string {
  if (!template.includes('{{')) return template;
  return template.replace(placeholder, (_, name: string) => String(lookup(name) ?? ''));
}

/** The names a template refers to, each once, in order of appearance. */
export function templateVariables(template: string): string[] {
  if (!template.includes('{{')) return [];
  return [...new Set(Array.from(template.matchAll(placeholder), (match) => match[1] ?? ''))];
}
