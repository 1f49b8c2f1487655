import type { ApiRequest } from './apiCall.ts';

/**
 * Secrets an organization keeps for its flows' API calls (an API key, a bearer token), written
 * `{{secret.NAME}}` in an api_call's URL, headers or body. Decide never sees their values: the request
 * recorded in the conversation's events holds a marker in their place, and the flow worker swaps the
 * values in just before the call. Markers are delimited by two private-use characters that every
 * other interpolated value is stripped of, so a customer's answer cannot forge one and make the worker
 * reveal a secret.
 */
const open = '\uE000';
const close = '\uE001';
const marker = /\uE000secret(-json)?:([A-Za-z_][A-Za-z0-9_]{0,63})\uE001/g;

export const secretPrefix = 'secret.';

/** In a JSON body's strings the value is put in escaped, so a quote in a secret cannot break the JSON. */
export const secretMarker = (name: string, within: 'text' | 'json' = 'text'): string =>
  `${open}secret${within === 'json' ? '-json' : ''}:${name}${close}`;

/** A value interpolated into a request: whatever it holds, it cannot name a secret. */
export const withoutMarkers = (text: string): string =>
  text.includes(open) || text.includes(close) ? text.replaceAll(open, '').replaceAll(close, '') : text;

/** The secrets a recorded request names, each once. */
export function secretsIn(request: ApiRequest): string[] {
  const texts = [request.url, ...Object.values(request.headers), request.body ?? ''];
  return [...new Set(texts.flatMap((text) => Array.from(text.matchAll(marker), (match) => match[2] ?? '')))];
}

/** The request with every marker replaced by its secret's value. */
export function withSecrets(request: ApiRequest, values: ReadonlyMap<string, string>): ApiRequest {
  const fill = (text: string) =>
    text.replace(marker, (_, json: string | undefined, name: string) => {
      const value = values.get(name) ?? '';
      return json ? JSON.stringify(value).slice(1, -1) : value;
    });
  return {
    ...request,
    url: fill(request.url),
    headers: Object.fromEntries(Object.entries(request.headers).map(([key, value]) => [key, fill(value)])),
    body: request.body === null ? null : fill(request.body),
  };
}
