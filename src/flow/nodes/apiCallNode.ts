import type { ApiRequest } from '../apiCall.ts';
import type { Value } from '../expression.ts';
import { secretMarker, secretPrefix, withoutMarkers } from '../flowSecrets.ts';
import { interpolate } from '../interpolate.ts';
import { type NodeContext, type NodeExecutor, next } from './nodeExecutor.ts';

const defaultTimeoutMs = 10_000;
/** A mapped object or array is kept as JSON text, cut here. */
const maxMappedText = 1000;

/**
 * Builds the request (every string interpolated; `{{secret.NAME}}` as a marker the worker fills in,
 * see flowSecrets.ts) and waits: the call is made off the actor's turn (flowWorker.ts) and its outcome
 * comes back as an input. 2xx maps response fields to variables and goes on; anything else (refused,
 * failed, timed out, non-2xx) takes `onError`. Either way `api.status` and `api.error` say what happened.
 */
export const apiCallNode: NodeExecutor<'api_call'> = {
  enter(node, context) {
    const { method, url, headers = {}, body, timeoutMs = defaultTimeoutMs } = node.request;
    const render = requestRenderer(context, 'text');
    const request: ApiRequest = {
      method,
      url: render(url),
      headers: Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, render(value)])),
      body:
        body === undefined
          ? null
          : typeof body === 'string'
            ? render(body)
            : JSON.stringify(renderStrings(body, requestRenderer(context, 'json'))),
      timeoutMs,
    };
    return { kind: 'wait', waiting: { kind: 'api', nodeId: node.id, requestId: context.newId(), request } };
  },
  resume(node, _waiting, input, context) {
    if (input.kind !== 'api_result') return next(node.onError);
    const { outcome } = input;
    context.set('api.status', outcome.status);
    context.set('api.error', outcome.ok ? null : outcome.error);
    if (!outcome.ok) return next(node.onError);
    for (const [variable, pointer] of Object.entries(node.map ?? {})) {
      context.set(variable, asValue(atPointer(outcome.body, pointer)));
    }
    return next(node.next);
  },
};

/** Interpolation for a request: secrets become markers, and no other value can carry one. */
function requestRenderer(context: NodeContext, within: 'text' | 'json'): (template: string) => string {
  return (template) =>
    interpolate(template, (name) => {
      if (name.startsWith(secretPrefix)) return secretMarker(name.slice(secretPrefix.length), within);
      const value = context.lookup(name);
      return typeof value === 'string' ? withoutMarkers(value) : value;
    });
}

function renderStrings(value: unknown, render: (template: string) => string): unknown {
  if (typeof value === 'string') return render(value);
  if (Array.isArray(value)) return value.map((item) => renderStrings(item, render));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, renderStrings(item, render)]));
  }
  return value;
}

/** RFC 6901; undefined where the pointer leads nowhere. */
export function atPointer(document: unknown, pointer: string): unknown {
  if (pointer === '') return document;
  let current = document;
  for (const raw of pointer.slice(1).split('/')) {
    const token = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (Array.isArray(current) && /^(0|[1-9]\d*)$/.test(token)) current = current[Number(token)];
    else if (current !== null && typeof current === 'object' && Object.hasOwn(current, token)) {
      current = (current as Record<string, unknown>)[token];
    } else return undefined;
  }
  return current;
}

function asValue(value: unknown): Value {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  return JSON.stringify(value).slice(0, maxMappedText);
}
