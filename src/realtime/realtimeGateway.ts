import { STATUS_CODES } from 'node:http';
import { decodeJwt } from 'jose';
import type { Registry } from 'prom-client';
import type { DatabasePool } from 'slonik';
import type { Config } from '../config/config.ts';
import type { AgentCommandDeps } from '../conversation/agentCommands.ts';
import type { ConversationActors } from '../conversation/conversationActor.ts';
import { AppError } from '../errors/catalogue.ts';
import type { EventStore } from '../eventstore/eventStore.ts';
import { encodeResult } from '../http/encodeResult.ts';
import { problemFor } from '../http/problem.ts';
import { requestIdFrom } from '../http/requestId.ts';
import uWS, { type HttpResponse, type TemplatedApp, type WebSocket } from '../http/uws.ts';
import type { Authenticator } from '../identity/authenticator.ts';
import type { Logger } from '../log/logger.ts';
import type { SchemaRegistry } from '../schemas/schemaRegistry.ts';
import type { DeltaBus } from './delta.ts';
import { type Connection, type Peer, RealtimeHub, type Session } from './realtimeHub.ts';
import { createRealtimeMetrics } from './realtimeMetrics.ts';

export type RealtimeGatewayOptions = {
  /** The HTTP server's uWS app (httpServer.ts): `/ws` is served on the same port. */
  app: TemplatedApp;
  config: Pick<Config, 'WS_MAX_BUFFER_BYTES' | 'WS_IDLE_TIMEOUT_SECONDS' | 'WS_AUTH_RECHECK_SECONDS'>;
  logger: Logger;
  pool: DatabasePool;
  store: Pick<EventStore, 'readStream' | 'readAll'>;
  authenticator: Pick<Authenticator, 'fromToken' | 'recheck'>;
  bus: DeltaBus;
  conversations: ConversationActors;
  /** Command answers wait for the conversation read models, as over HTTP. */
  projections: AgentCommandDeps['projections'];
  registry: SchemaRegistry;
  metricsRegistry: Registry;
  /** True once the HTTP server is draining: upgrades are refused with 503. */
  isShuttingDown(): boolean;
};

export type RealtimeGateway = {
  /** Closes every socket with 1001 (going away); call before the HTTP server's close. */
  close(): Promise<void>;
};

/** Largest frame a client may send; a bigger one closes the socket with 1009. */
export const maxFrameBytes = 64 * 1024;
/**
 * uWS's own limit, above ours so that a frame between the two gets a clean 1009 from us: uWS drops a
 * frame over its limit without a close code (1006 for the client).
 */
const hardFrameBytes = 4 * maxFrameBytes;
/**
 * How far past WS_MAX_BUFFER_BYTES uWS may buffer for a socket before it stops writing to it.
 * Natively published frames are only checked against our limit once uWS has written them (after
 * the batch of deltas), so uWS's limit must leave room for a batch, or it would skip frames for a
 * slow subscriber (a gap). With closeOnBackpressureLimit a socket over uWS's limit is also closed,
 * never left with a frame skipped.
 */
const backpressureHeadroom = 4 * 1024 * 1024;

type SocketData = { session: Session; connection?: Connection; closed: boolean };

/**
 * The agent-console WebSocket on `GET /ws` (CONTRACT.md), on the HTTP server's uWS app; the topics,
 * commands and rechecks are in realtimeHub.ts.
 *
 * Upgrade: the access token comes as the subprotocol `bearer.<token>` next to `pytake.v1` (answered
 * with `pytake.v1`; browsers cannot set headers) or as `?access_token=`. It is authenticated like
 * any request (the user is read again, a revoked session refused) before the upgrade: a bad,
 * expired or revoked token gets 401 and a problem+json body, a draining server 503.
 */
export function createRealtimeGateway(options: RealtimeGatewayOptions): RealtimeGateway {
  const { app, config, logger, authenticator } = options;
  const metrics = createRealtimeMetrics(options.metricsRegistry);
  const hub = new RealtimeHub({
    config,
    logger,
    pool: options.pool,
    store: options.store,
    authenticator,
    bus: options.bus,
    commands: { pool: options.pool, conversations: options.conversations, projections: options.projections },
    registry: options.registry,
    metrics,
    publish: (topic, frame) => {
      app.publish(topic, frame);
      return app.numSubscribers(topic);
    },
  });

  const authenticate = async (token: string): Promise<Session> => {
    const principal = await authenticator.fromToken(token);
    // fromToken has verified the signature and expiry: only the expiry is read here.
    const { exp } = decodeJwt(token);
    return { token, principal, expiresAt: typeof exp === 'number' ? exp * 1000 : Number.POSITIVE_INFINITY };
  };

  app.ws<SocketData>('/ws', {
    compression: uWS.DISABLED,
    maxPayloadLength: hardFrameBytes,
    idleTimeout: idleTimeoutSeconds(config.WS_IDLE_TIMEOUT_SECONDS),
    // Pings keep a live but quiet console connected (its pongs count as activity); a dead one is
    // closed after the idle timeout.
    sendPingsAutomatically: true,
    maxBackpressure: config.WS_MAX_BUFFER_BYTES + backpressureHeadroom,
    closeOnBackpressureLimit: 1,

    upgrade: (res, req, context) => {
      // 1. Copy what is needed out of the request: it is invalid after the first await.
      const key = req.getHeader('sec-websocket-key');
      const extensions = req.getHeader('sec-websocket-extensions');
      const offered = req
        .getHeader('sec-websocket-protocol')
        .split(',')
        .map((protocol) => protocol.trim())
        .filter((protocol) => protocol !== '');
      const requestId = requestIdFrom(req.getHeader('x-request-id') || undefined);
      const token =
        offered.find((protocol) => protocol.startsWith('bearer.'))?.slice('bearer.'.length) ||
        req.getQuery('access_token') ||
        '';
      // Never echo the bearer protocol: it is the secret.
      const protocol = offered.includes('pytake.v1') ? 'pytake.v1' : '';
      if (options.isShuttingDown() || hub.isStopped) {
        refuse(
          res,
          new AppError('http.shutting_down', 'The server is shutting down; retry on another node'),
          requestId,
        );
        return;
      }
      if (token === '') {
        refuse(
          res,
          new AppError('auth.missing_token', 'Send the subprotocol bearer.<access token> or ?access_token='),
          requestId,
        );
        return;
      }
      // 2. Authenticate; the client may leave meanwhile.
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });
      authenticate(token).then(
        (session) => {
          if (aborted) return;
          if (options.isShuttingDown() || hub.isStopped) {
            refuse(res, new AppError('http.shutting_down', 'The server is shutting down'), requestId);
            return;
          }
          // 3. Upgrade, corked since this runs after an await.
          res.cork(() => {
            res.upgrade<SocketData>({ session, closed: false }, key, protocol, extensions, context);
          });
        },
        (error: unknown) => {
          if (aborted) return;
          if (!(error instanceof AppError)) logger.error({ err: error }, 'websocket authentication failed');
          refuse(res, error, requestId);
        },
      );
    },

    open: (ws) => {
      const data = ws.getUserData();
      data.connection = hub.open(peerOf(ws, data), data.session);
      logger.debug({ userId: data.session.principal.userId }, 'websocket opened');
    },

    message: (ws, message, isBinary) => {
      const { connection } = ws.getUserData();
      if (!connection) return;
      if (isBinary) hub.binary(connection);
      else if (message.byteLength > maxFrameBytes) hub.tooBig(connection, maxFrameBytes);
      // Copied now: uWS reuses the buffer after this callback.
      else hub.message(connection, Buffer.from(message).toString('utf8'));
    },

    drain: (ws) => {
      const { connection } = ws.getUserData();
      if (connection) hub.drained(connection);
    },

    close: (ws, code) => {
      const data = ws.getUserData();
      data.closed = true;
      if (data.connection) hub.closed(data.connection);
      logger.debug({ userId: data.session.principal.userId, code }, 'websocket closed');
    },
  });

  hub.start();
  return { close: () => hub.close() };
}

/** A uWS socket is invalid once closed: every call checks first. */
function peerOf(ws: WebSocket<SocketData>, data: SocketData): Peer {
  return {
    send: (frame) => {
      if (!data.closed) ws.send(frame, false);
    },
    cork: (sends) => {
      if (!data.closed) ws.cork(sends);
    },
    bufferedAmount: () => (data.closed ? 0 : ws.getBufferedAmount()),
    end: (code, reason) => {
      if (!data.closed) ws.end(code, reason);
    },
    subscribe: (topic) => {
      if (!data.closed) ws.subscribe(topic);
    },
    unsubscribe: (topic) => {
      if (!data.closed) ws.unsubscribe(topic);
    },
  };
}

/** The upgrade refused with a problem+json answer (401 for a bad token, 503 when draining). */
function refuse(res: HttpResponse, error: unknown, requestId: string): void {
  const { status, headers, payload } = encodeResult(problemFor(error, requestId));
  res.cork(() => {
    res.writeStatus(`${status} ${STATUS_CODES[status] ?? ''}`);
    for (const [name, value] of Object.entries(headers)) res.writeHeader(name, value);
    res.writeHeader('x-request-id', requestId);
    res.end(payload ?? '', true);
  });
}

/** uWS counts idle time in 4-second ticks and refuses less than 8 seconds. */
export function idleTimeoutSeconds(seconds: number): number {
  return Math.min(960, Math.max(8, Math.round(seconds / 4) * 4));
}
