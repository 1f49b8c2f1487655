import { readFileSync } from 'node:fs';
import type { Counter, Histogram } from 'prom-client';
import type { Config } from '../config/config.ts';
import { AppError } from '../errors/catalogue.ts';
import type { Logger } from '../log/logger.ts';
import { createMetrics, type Metrics } from '../observability/metrics.ts';
import type { SchemaRegistry } from '../schemas/schemaRegistry.ts';
import { createRequest } from './createRequest.ts';
import { renderDocsPage } from './docsPage.ts';
import { type EncodedResponse, encodeResult } from './encodeResult.ts';
import { ClientGoneError, Exchange } from './exchange.ts';
import { buildOpenApiDocument } from './openApi.ts';
import { problemFor } from './problem.ts';
import type { ReadinessChecks } from './readiness.ts';
import { requestIdFrom } from './requestId.ts';
import type { Route } from './route.ts';
import { Router } from './router.ts';
import { systemRoutes } from './systemRoutes.ts';
import uWS, { type HttpRequest, type HttpResponse, type TemplatedApp, type us_listen_socket } from './uws.ts';

export type HttpServerOptions = {
  config: Pick<Config, 'HOST' | 'PORT' | 'HTTP_BODY_LIMIT_BYTES' | 'SHUTDOWN_TIMEOUT_MS'>;
  logger: Logger;
  registry: SchemaRegistry;
  /** The application's routes; /healthz, /readyz, /metrics, /openapi.json and /docs are added. */
  routes: readonly Route[];
  readinessChecks?: ReadinessChecks;
  /** Pass the instance other capabilities register their metrics on; a fresh one otherwise. */
  metrics?: Metrics;
};

export type HttpServer = {
  /** The uWS app, for the WebSocket gateway to register `/ws` on. Nothing else should touch it. */
  readonly app: TemplatedApp;
  readonly metrics: Metrics;
  /** True once close() was called: new requests get 503 and the gateway should refuse upgrades. */
  readonly shuttingDown: boolean;
  /** Resolves with the bound port (useful with PORT=0). */
  listen(): Promise<number>;
  /**
   * Graceful stop: 1. close the listen socket; 2. answer requests arriving on open connections with
   * 503 and `Connection: close`; 3. wait up to SHUTDOWN_TIMEOUT_MS for in-flight requests; 4. close
   * every remaining socket. Stores are closed by the caller afterwards.
   */
  close(): Promise<void>;
};

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

// Any other method is counted under one label, so a client cannot grow the metrics' cardinality.
const knownMethods = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
/** nginx's convention for "the client closed the connection before the answer". */
const clientClosedStatus = 499;

export function createHttpServer(options: HttpServerOptions): HttpServer {
  const { config, logger, registry, readinessChecks = {} } = options;
  const metrics = options.metrics ?? createMetrics();
  const routes = [...systemRoutes({ metrics, readinessChecks, docs: () => docs }), ...options.routes];
  const unknownSchemas = routes
    .flatMap((route) => [route.body, route.response])
    .filter((id): id is string => id !== undefined && !registry.has(id));
  if (unknownSchemas.length > 0) {
    throw new Error(`routes reference unknown schemas: ${unknownSchemas.join(', ')}`);
  }
  const router = new Router(routes);
  const openApi = buildOpenApiDocument(routes, registry.schemas, { title: 'PyTake', version });
  const docs = { openApi, html: renderDocsPage(openApi) };

  const app = uWS.App();
  let listenSocket: us_listen_socket | undefined;
  let shuttingDown = false;
  let inFlight = 0;
  let onIdle: (() => void) | undefined;

  app.any('/*', (res, req) => {
    // Last resort: a failure in the pipeline itself must not become an unhandled rejection (a crash).
    handle(res, req).catch((error: unknown) => logger.error({ err: error }, 'http pipeline failed'));
  });

  // prom-client hashes label objects on every call: the hot path keeps each series' child instead.
  const series = new Map<string, { count: Counter.Internal; duration: Histogram.Internal<string> }>();
  function requestMetrics(method: string, route: string, status: number) {
    const key = `${method} ${route} ${status}`;
    let children = series.get(key);
    if (!children) {
      children = {
        count: metrics.http.requestsTotal.labels({ method, route, status: String(status) }),
        duration: metrics.http.requestDuration.labels({ method, route }),
      };
      series.set(key, children);
    }
    return children;
  }

  const noBody = Buffer.alloc(0);

  async function handle(res: HttpResponse, uReq: HttpRequest): Promise<void> {
    const started = performance.now();
    // 1. Copy everything out of uWS's request now: it is invalid once this callback returns.
    const method = uReq.getCaseSensitiveMethod();
    const path = uReq.getUrl();
    const query = new URLSearchParams(uReq.getQuery() ?? '');
    const headers = readHeaders(uReq);
    const requestId = requestIdFrom(headers['x-request-id']);
    const exchange = new Exchange(
      res,
      headers['content-length'] !== undefined || 'transfer-encoding' in headers,
    );
    // Made on first use: most requests log nothing below the configured level.
    let child: Logger | undefined;
    const log = () => {
      child ??= logger.child({ requestId });
      return child;
    };
    inFlight += 1;
    metrics.http.requestsInFlight.inc();
    try {
      // 2. Route, read the body, run the handler; dispatch runs synchronously up to its first await.
      const { route, response } = await dispatch({ method, path, query, headers, requestId, log, exchange });
      // 3. Answer, unless the client is gone, then account for the request.
      response.headers['x-request-id'] = requestId;
      response.headers['x-content-type-options'] = 'nosniff';
      const sent = exchange.send(response, { head: method === 'HEAD', close: shuttingDown });
      const status = sent ? response.status : clientClosedStatus;
      const durationMs = performance.now() - started;
      const methodLabel = knownMethods.has(method) ? method : 'OTHER';
      const measured = requestMetrics(methodLabel, route, status);
      measured.count.inc();
      measured.duration.observe(durationMs / 1000);
      if (logger.isLevelEnabled('info')) {
        const remoteAddress = exchange.remoteAddress;
        log().info(
          { method, path, route, status, durationMs: Math.round(durationMs * 10) / 10, remoteAddress },
          sent ? 'request completed' : 'client went away before the response',
        );
      }
    } finally {
      inFlight -= 1;
      metrics.http.requestsInFlight.dec();
      if (inFlight === 0) onIdle?.();
    }
  }

  /** The response to send, and the route pattern that labels the request's metrics. */
  async function dispatch(request: {
    method: string;
    path: string;
    query: URLSearchParams;
    headers: Record<string, string>;
    requestId: string;
    log: () => Logger;
    exchange: Exchange;
  }): Promise<{ route: string; response: EncodedResponse }> {
    const { method, path, headers, requestId, log, exchange } = request;
    let pattern = 'unmatched';
    try {
      if (shuttingDown) {
        throw new AppError('http.shutting_down', 'The server is shutting down; retry on another node');
      }
      const match = router.match(method, path);
      if (match.kind === 'not_found') throw new AppError('http.not_found', `No route for ${method} ${path}`);
      if (match.kind === 'method_not_allowed') {
        pattern = match.pattern;
        const allow = match.allow.join(', ');
        throw new AppError('http.method_not_allowed', `${method} is not allowed on ${path}`, [], { allow });
      }
      const { route, params } = match;
      pattern = route.path;
      // Most GETs have no body: no reader to set up and no tick to wait.
      const rawBody = exchange.expectsBody
        ? await exchange.readBody(config.HTTP_BODY_LIMIT_BYTES, headers['content-length'])
        : noBody;
      const result = await route.handler(createRequest({ ...request, params, rawBody, route, registry }));
      return { route: pattern, response: encodeResult(result) };
    } catch (error) {
      logError(log(), error);
      return { route: pattern, response: encodeProblem(error, requestId, log()) };
    }
  }

  let closing: Promise<void> | undefined;
  return {
    app,
    metrics,
    get shuttingDown() {
      return shuttingDown;
    },
    listen: () =>
      new Promise((resolve, reject) => {
        app.listen(config.HOST, config.PORT, (socket) => {
          if (!socket) {
            reject(
              new Error(`cannot listen on ${config.HOST}:${config.PORT} (address in use or not available)`),
            );
            return;
          }
          listenSocket = socket;
          const port = uWS.us_socket_local_port(socket);
          logger.info({ host: config.HOST, port }, 'http server listening');
          resolve(port);
        });
      }),
    close() {
      closing ??= (async () => {
        shuttingDown = true;
        if (listenSocket) uWS.us_listen_socket_close(listenSocket);
        listenSocket = undefined;
        if (inFlight > 0) {
          logger.info({ inFlight }, 'http server draining');
          let timer: NodeJS.Timeout | undefined;
          await new Promise<void>((resolve) => {
            onIdle = resolve;
            timer = setTimeout(resolve, config.SHUTDOWN_TIMEOUT_MS);
          });
          clearTimeout(timer);
          if (inFlight > 0) {
            logger.warn({ inFlight }, 'shutdown timeout: closing connections with requests in flight');
          }
        }
        // Not in v20.30's typings, but in both builds: closes every socket of the app, idle
        // keep-alive connections and WebSockets included, aborting what is still in flight.
        (app as TemplatedApp & { close(): void }).close();
        logger.info('http server closed');
      })();
      return closing;
    },
  };
}

function readHeaders(req: HttpRequest): Record<string, string> {
  const headers: Record<string, string> = {};
  req.forEach((name, value) => {
    const previous = headers[name];
    // RFC 9110 joins repeated fields with commas; cookies are the one exception.
    headers[name] = previous === undefined ? value : `${previous}${name === 'cookie' ? '; ' : ', '}${value}`;
  });
  return headers;
}

/** A handler's AppError may carry headers that cannot be sent; then it is answered as a bug. */
function encodeProblem(error: unknown, requestId: string, log: Logger): EncodedResponse {
  try {
    return encodeResult(problemFor(error, requestId));
  } catch (encodingError) {
    log.error({ err: encodingError }, 'cannot send the error response');
    return encodeResult(problemFor(undefined, requestId));
  }
}

function logError(log: Logger, error: unknown): void {
  if (error instanceof ClientGoneError) return;
  if (!(error instanceof AppError)) log.error({ err: error }, 'unhandled error in request handler');
  else if (error.status >= 500) log.warn({ code: error.code, detail: error.message }, 'request failed');
}
