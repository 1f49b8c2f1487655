import { AppError } from '../errors/catalogue.ts';
import type { Logger } from '../log/logger.ts';
import type { SchemaRegistry } from '../schemas/schemaRegistry.ts';
import type { Exchange } from './exchange.ts';
import { parseJsonBody } from './jsonBody.ts';
import type { HttpRequest, Route } from './route.ts';

type RequestParts = {
  method: string;
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  headers: Record<string, string>;
  requestId: string;
  log: () => Logger;
  exchange: Exchange;
  rawBody: Buffer;
  route: Route;
  registry: SchemaRegistry;
};

/** The handler's view of a request whose head and body have been copied out of uWS. */
export function createRequest(parts: RequestParts): HttpRequest {
  const { exchange, rawBody, route, headers, registry } = parts;
  // Parsed once, on first use; a failure is remembered and thrown again on every call.
  let parsed: { value: unknown } | { error: unknown } | undefined;
  const parse = (): { value: unknown } | { error: unknown } => {
    try {
      const value =
        route.optionalBody && rawBody.length === 0 ? {} : parseJsonBody(rawBody, headers['content-type']);
      const errors = route.body === undefined ? [] : registry.validate(route.body, value);
      if (errors.length === 0) return { value };
      const detail = `The request body does not match ${route.body}: ${errors.length} error(s)`;
      return { error: new AppError('http.validation_failed', detail, errors) };
    } catch (error) {
      return { error };
    }
  };
  return {
    method: parts.method,
    path: parts.path,
    params: parts.params,
    query: parts.query,
    headers,
    requestId: parts.requestId,
    get log() {
      return parts.log();
    },
    remoteAddress: exchange.remoteAddress,
    get signal() {
      return exchange.signal;
    },
    rawBody: () => rawBody,
    json<T>(): T {
      parsed ??= parse();
      if ('error' in parsed) throw parsed.error;
      return parsed.value as T;
    },
  };
}
