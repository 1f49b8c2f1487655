import type { Logger } from '../log/logger.ts';

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS';

/** What a handler sees. Everything is copied out of uWS up front, so it stays valid across awaits. */
export type HttpRequest = {
  readonly method: string;
  /** The path as received, percent-encoded, without the query string. */
  readonly path: string;
  /** Path parameters, percent-decoded, named as in the route pattern (`:id` → `params.id`). */
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  /** Lower-cased names; repeated headers are joined with `, `. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly requestId: string;
  /** Carries the request id on every line. */
  readonly log: Logger;
  readonly remoteAddress: string;
  /** Aborted when the client goes away, so long handlers can stop early. */
  readonly signal: AbortSignal;
  /**
   * The body parsed as JSON and, when the route declares `body`, validated against that schema.
   * Throws the AppError to answer (415, 400, 422). Lazy so a handler can check a signature or a
   * token over `rawBody()` first.
   */
  json<T = unknown>(): T;
  /** The exact bytes received (webhook signatures are computed over them). */
  rawBody(): Buffer;
};

/** Objects are sent as JSON; strings and Buffers as-is with the `content-type` given in `headers`. */
export type HttpResult = {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
};

export type Handler = (req: HttpRequest) => Promise<HttpResult>;

/** A route is data: the server dispatches it, and the OpenAPI document is generated from it. */
export type Route = {
  /**
   * Who may call it: 'public', or the permission (src/identity/permissions.ts) the caller must hold.
   * Required, so no route can forget to say; protected handlers are built by identity's `secured`.
   */
  access: 'public' | string;
  method: HttpMethod;
  /** `/api/v1/channels/:id`: static segments and `:name` parameters. */
  path: string;
  handler: Handler;
  /** Schema id (path under schemas/, e.g. `channels/createChannel`) the JSON body must match. */
  body?: string;
  /** The body may be left out: an empty body then reads as `{}` (and is checked as such). */
  optionalBody?: true;
  /** Schema id of the success response body, for the OpenAPI document. */
  response?: string;
  /** Success status, for the OpenAPI document (default 200). */
  status?: number;
  summary?: string;
};
