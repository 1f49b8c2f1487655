import { randomUUID } from 'node:crypto';
import type { DatabasePool } from 'slonik';
import type { Config } from '../config/config.ts';
import {
  type AgentCommandDeps,
  addNote,
  assignConversation,
  reopenConversation,
  resolveConversation,
  type SendMessageBody,
  sendMessage,
} from '../conversation/agentCommands.ts';
import type { Visibility } from '../conversation/conversationCommands.ts';
import { findConversation, visibilityOf } from '../conversation/conversationQueries.ts';
import { AppError } from '../errors/catalogue.ts';
import { type EventStore, streamId } from '../eventstore/eventStore.ts';
import type { Authenticator, Principal } from '../identity/authenticator.ts';
import type { Logger } from '../log/logger.ts';
import type { SchemaRegistry } from '../schemas/schemaRegistry.ts';
import { readConversationAfter } from './conversationHistory.ts';
import { ConversationRelay, type RelayMember } from './conversationRelay.ts';
import type { ConversationDelta, DeltaBus } from './delta.ts';
import { recordWritten } from './deltaTiming.ts';
import {
  ackFrame,
  type ClientFrame,
  type CommandFrame,
  errorFrame,
  parseClientFrame,
  parseTopic,
  pongFrame,
  subscribedFrame,
} from './frames.ts';
import { InboxFanout, type InboxItem, type InboxMember } from './inboxFanout.ts';
import type { RealtimeMetrics } from './realtimeMetrics.ts';

/**
 * WebSocket close codes the gateway uses. 4401 is PyTake's own (the 4000–4999 range is for
 * applications): the session ended — token expired, logout, user deleted — and the client should
 * get a new access token (refresh, or log in) before it reconnects.
 */
export const closeCodes = {
  goingAway: 1001,
  policyViolation: 1008,
  tooBig: 1009,
  tryAgainLater: 1013,
  sessionEnded: 4401,
} as const;

/** One socket as the hub sees it; the uWS binding (realtimeGateway.ts) provides it. */
export interface Peer {
  send(frame: string): void;
  /** The frames sent inside `sends` leave together: one write to the socket rather than one each. */
  cork(sends: () => void): void;
  bufferedAmount(): number;
  /** Sends a close frame; the binding then calls `hub.closed`. */
  end(code: number, reason: string): void;
  /** Native pub/sub (the inbox of users who see their whole organization). */
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
}

/** Who opened the socket, as authenticated at the upgrade. */
export type Session = { token: string; principal: Principal; expiresAt: number };

export type RealtimeHubDeps = {
  config: Pick<Config, 'WS_MAX_BUFFER_BYTES' | 'WS_AUTH_RECHECK_SECONDS'>;
  logger: Logger;
  pool: DatabasePool;
  store: Pick<EventStore, 'readStream' | 'readAll'>;
  authenticator: Pick<Authenticator, 'fromToken' | 'recheck'>;
  bus: DeltaBus;
  commands: AgentCommandDeps;
  registry: SchemaRegistry;
  metrics: RealtimeMetrics;
  /** Publishes on a native topic; answers how many sockets it went to. */
  publish(topic: string, frame: string): number;
};

/** Conversation topics one socket may hold. */
const maxConversationTopics = 500;
/** Subscribe, unsubscribe and ping frames waiting their turn on one socket. */
const maxQueuedFrames = 1000;
/** Commands of one socket running at once; more are refused until some finish. */
const maxCommandsInFlight = 64;
/** Rechecks of visibility run this many at a time, so thousands of sockets do not take the pool. */
const recheckConcurrency = 8;
/**
 * Deltas whose frames are held and written together: fewer writes, while the first delta of a large
 * batch (a projector catching up) does not wait for the last.
 */
const deltasPerWrite = 100;
/** After a possible loss, at most this many events of `$all` are read to find changed inbox items. */
const maxLossScan = 10_000;

type ConversationSubscription = {
  conversationId: string;
  relay: ConversationRelay | undefined;
  member: RelayMember;
};

class Connection implements InboxMember {
  open = true;
  /** `everything`: the organization's native topic; `restricted`: filtered per delta. */
  inbox: 'everything' | 'restricted' | undefined;
  /** For a user without conversations.read_unassigned: their queues, loaded on first need. */
  queueIds: ReadonlySet<string> = new Set();
  queuesLoaded = false;
  readonly conversations = new Map<string, ConversationSubscription>();
  /** Subscribe/unsubscribe/ping are handled one after another, in the order received. */
  chain: Promise<void> = Promise.resolve();
  queued = 0;
  commands = 0;

  constructor(
    readonly peer: Peer,
    public token: string,
    public principal: Principal,
    public expiresAt: number,
    readonly send: (frame: string) => void,
  ) {}

  get userId(): string {
    return this.principal.userId;
  }

  get organizationId(): string {
    return this.principal.organizationId;
  }

  get seesEverything(): boolean {
    return this.principal.permissions.includes('conversations.read_unassigned');
  }

  get mayRead(): boolean {
    return this.principal.permissions.includes('conversations.read');
  }

  visibility(): Visibility {
    return this.seesEverything
      ? { all: true }
      : { all: false, userId: this.userId, queueIds: [...this.queueIds] };
  }
}

/**
 * The agent consoles' side of realtime, without the socket library: connections, topics, commands,
 * the periodic session recheck and the recovery after a possible loss on the bus.
 *
 * Backpressure: a socket whose unsent data passes WS_MAX_BUFFER_BYTES is closed with 1013, checked
 * after every send from JS (for deltas from the bus, after each socket's frames of up to 100 deltas,
 * written together) and, for frames published natively, just after uWS has written them (a check
 * scheduled with setImmediate per batch of deltas) and again on every recheck. A conversation
 * catch-up pauses at half that limit until the socket drains. No timer exists per socket.
 */
export class RealtimeHub {
  private readonly connections = new Set<Connection>();
  private readonly relays = new Map<string, ConversationRelay>();
  private readonly everythingByOrganization = new Map<string, Set<Connection>>();
  private readonly inbox: InboxFanout;
  /** Position of the last delta received from the bus (in bus order); null before the first. */
  private newest: string | null = null;
  /**
   * While a batch of deltas from the bus is handed out: each socket's frames, the frames for native
   * topics and the deltas written, sent and timed together once the batch is through.
   */
  private batch:
    | { frames: Map<Connection, string[]>; published: [string, string][]; written: ConversationDelta[] }
    | undefined;
  private readonly pendingChecks = new Set<string>();
  private checkScheduled = false;
  private recheckTimer: NodeJS.Timeout | undefined;
  private rechecking: Promise<void> | undefined;
  private unsubscribe: (() => void)[] = [];
  private stopped = false;

  constructor(private readonly deps: RealtimeHubDeps) {
    this.inbox = new InboxFanout((topic, frame) => {
      if (this.batch) this.batch.published.push([topic, frame]);
      else this.deps.metrics.framesSent.inc(this.deps.publish(topic, frame));
    });
  }

  start(): void {
    this.unsubscribe.push(
      this.deps.bus.subscribe((deltas) => this.receive(deltas)),
      this.deps.bus.onPossibleLoss(() => this.recoverFromLoss()),
    );
    this.recheckTimer = setInterval(() => {
      void this.recheck();
    }, this.deps.config.WS_AUTH_RECHECK_SECONDS * 1000);
    this.recheckTimer.unref();
  }

  /** Closes every socket with 1001 (going away) and stops listening to the bus. */
  async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.recheckTimer);
    for (const unsubscribe of this.unsubscribe) unsubscribe();
    for (const connection of [...this.connections]) {
      this.end(connection, closeCodes.goingAway, 'server shutting down');
    }
    await this.rechecking;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  open(peer: Peer, session: Session): Connection {
    const connection: Connection = new Connection(
      peer,
      session.token,
      session.principal,
      session.expiresAt,
      (frame) => this.sendTo(connection, frame),
    );
    this.connections.add(connection);
    this.deps.metrics.connections.inc();
    return connection;
  }

  /** A text frame from the client. */
  message(connection: Connection, text: string): void {
    if (!connection.open) return;
    const parsed = parseClientFrame(this.deps.registry, text);
    if ('error' in parsed) {
      this.sendTo(connection, errorFrame(parsed.error, parsed.id === undefined ? {} : { id: parsed.id }));
      return;
    }
    const frame = parsed.frame;
    if (frame.op === 'command') {
      if (connection.commands >= maxCommandsInFlight) {
        const busy = new AppError('service.unavailable', `At most ${maxCommandsInFlight} commands at once`);
        this.sendTo(connection, errorFrame(busy, { id: frame.id }));
        return;
      }
      connection.commands += 1;
      void this.command(connection, frame).finally(() => {
        connection.commands -= 1;
      });
      return;
    }
    if (connection.queued >= maxQueuedFrames) {
      this.end(connection, closeCodes.policyViolation, 'too many frames waiting');
      return;
    }
    connection.queued += 1;
    connection.chain = connection.chain
      .then(() => this.handle(connection, frame))
      .catch((error: unknown) => {
        // A read model or store that cannot be reached: the client may try again.
        this.deps.logger.error({ err: error }, 'websocket frame failed');
        const failed =
          error instanceof AppError ? error : new AppError('service.unavailable', 'Try again shortly');
        this.sendTo(connection, errorFrame(failed, 'topic' in frame ? { topic: frame.topic } : {}));
      })
      .finally(() => {
        connection.queued -= 1;
      });
  }

  binary(connection: Connection): void {
    this.sendTo(connection, errorFrame(new AppError('invalid_frame', 'Frames are JSON text, not binary')));
  }

  tooBig(connection: Connection, limit: number): void {
    this.end(connection, closeCodes.tooBig, `frames are limited to ${limit} bytes`);
  }

  drained(connection: Connection): void {
    for (const subscription of connection.conversations.values()) {
      subscription.relay?.drained(subscription.member);
    }
  }

  /** The socket is closed (by either side): forget it. Idempotent. */
  closed(connection: Connection): void {
    if (!connection.open) return;
    connection.open = false;
    this.connections.delete(connection);
    this.deps.metrics.connections.dec();
    this.detachInbox(connection);
    for (const subscription of [...connection.conversations.values()]) {
      this.removeConversation(connection, subscription);
    }
  }

  private end(connection: Connection, code: number, reason: string): void {
    if (!connection.open) return;
    connection.peer.end(code, reason);
    this.closed(connection);
  }

  private sendTo(connection: Connection, frame: string): void {
    if (!connection.open) return;
    if (this.batch) {
      const frames = this.batch.frames.get(connection);
      if (frames) frames.push(frame);
      else this.batch.frames.set(connection, [frame]);
      return;
    }
    connection.peer.send(frame);
    this.deps.metrics.framesSent.inc();
    this.checkBackpressure(connection);
  }

  private checkBackpressure(connection: Connection): void {
    if (connection.open && connection.peer.bufferedAmount() > this.deps.config.WS_MAX_BUFFER_BYTES) {
      this.deps.metrics.closedSlow.inc();
      this.deps.logger.info(
        { userId: connection.userId, buffered: connection.peer.bufferedAmount() },
        'websocket too slow: closed with 1013',
      );
      this.end(connection, closeCodes.tryAgainLater, 'too slow: unsent data over the limit');
    }
  }

  /** Natively published frames are written by uWS after this turn: check those sockets then. */
  private scheduleCheck(organizationIds: Iterable<string>): void {
    for (const organizationId of organizationIds) this.pendingChecks.add(organizationId);
    if (this.checkScheduled || this.pendingChecks.size === 0) return;
    this.checkScheduled = true;
    setImmediate(() => {
      this.checkScheduled = false;
      for (const organizationId of this.pendingChecks) {
        for (const connection of [...(this.everythingByOrganization.get(organizationId) ?? [])]) {
          this.checkBackpressure(connection);
        }
      }
      this.pendingChecks.clear();
    });
  }

  // ── Deltas from the bus ─────────────────────────────────────────────────────────────────────

  private receive(deltas: readonly ConversationDelta[]): void {
    for (let from = 0; from < deltas.length; from += deltasPerWrite) {
      this.handOut(deltas.slice(from, from + deltasPerWrite));
    }
  }

  /**
   * 1. Each delta goes to its conversation's relay and to the inbox; the frames are held meanwhile (a
   * socket often gets several: its inbox and its conversation topics). 2. Each socket's frames are
   * written in one go (a write per frame costs a system call each), then its backpressure checked;
   * 3. the native topics' frames are published, after the conversation frames, so that a console has
   * an event before the inbox item it changed; 4. the deltas written are timed.
   */
  private handOut(deltas: readonly ConversationDelta[]): void {
    const published = new Set<string>();
    const batch: NonNullable<typeof this.batch> = { frames: new Map(), published: [], written: [] };
    this.batch = batch;
    try {
      for (const delta of deltas) {
        this.newest = delta.position;
        this.relays.get(delta.conversationId)?.receive(delta);
        const routed = this.inbox.route(delta);
        if (routed === 'published') published.add(delta.organizationId);
        if (routed !== null) this.written(delta);
      }
    } finally {
      this.batch = undefined;
      let sent = 0;
      for (const [connection, frames] of batch.frames) {
        if (!connection.open) continue;
        connection.peer.cork(() => {
          for (const frame of frames) connection.peer.send(frame);
        });
        sent += frames.length;
        this.checkBackpressure(connection);
      }
      for (const [topic, frame] of batch.published) sent += this.deps.publish(topic, frame);
      this.deps.metrics.framesSent.inc(sent);
      const now = Date.now();
      for (const delta of batch.written) recordWritten(this.deps.metrics, delta.hops, now);
      this.scheduleCheck(published);
    }
  }

  /** A delta’s frame went to a socket: its timing, once per delta on this node. */
  private written(delta: ConversationDelta): void {
    if (this.batch) this.batch.written.push(delta);
    else recordWritten(this.deps.metrics, delta.hops, Date.now());
  }

  /**
   * The bus may have lost deltas (its subscriber reconnected). 1. Every relay reads its conversation
   * past the last position it forwarded and forwards what it missed. 2. The inbox: `$all` is read
   * past the last delta received before the signal (at most 10,000 events), and each conversation of
   * a followed organization that changed there is read from the read model and sent again, as a
   * delta's item would have been; items at or below what a socket got are dropped as usual. An item
   * the projection has not caught up with is skipped: its own delta is still to come.
   */
  private recoverFromLoss(): void {
    for (const relay of this.relays.values()) relay.verify();
    const after = this.newest;
    if (after === null) return;
    this.resendInbox(BigInt(after)).catch((error: unknown) =>
      this.deps.logger.error({ err: error }, 'inbox recovery after a possible loss failed'),
    );
  }

  private async resendInbox(after: bigint): Promise<void> {
    const changed = new Map<
      string,
      { organizationId: string; events: Map<string, { type: string; occurredAt: string }> }
    >();
    let cursor = after;
    for (let scanned = 0; scanned < maxLossScan; ) {
      const events = await this.deps.store.readAll({
        after: cursor,
        maxCount: 1000,
        filter: { categories: ['conversation'] },
      });
      const last = events.at(-1);
      if (!last) break;
      for (const event of events) {
        const organizationId = event.metadata.organizationId;
        if (!this.inbox.follows(organizationId)) continue;
        const conversationId = streamId(event.streamName);
        let entry = changed.get(conversationId);
        if (!entry) {
          entry = { organizationId, events: new Map() };
          changed.set(conversationId, entry);
        }
        entry.events.set(String(event.position), {
          type: event.type,
          occurredAt: event.metadata.occurredAt,
        });
      }
      scanned += events.length;
      cursor = last.position;
    }
    const published = new Set<string>();
    for (const [conversationId, { organizationId, events }] of changed) {
      const item = (await findConversation(this.deps.pool, organizationId, conversationId, {
        all: true,
      })) as InboxItem | null;
      const event = item ? events.get(item.position) : undefined;
      if (item && event && this.inbox.resend(organizationId, item, event)) published.add(organizationId);
    }
    this.scheduleCheck(published);
  }

  // ── Frames ──────────────────────────────────────────────────────────────────────────────────

  private async handle(connection: Connection, frame: Exclude<ClientFrame, CommandFrame>): Promise<void> {
    if (!connection.open) return;
    switch (frame.op) {
      case 'ping':
        this.sendTo(connection, pongFrame);
        return;
      case 'unsubscribe':
        this.unsubscribeTopic(connection, frame.topic);
        return;
      case 'subscribe':
        await this.subscribe(connection, frame.topic, frame.after);
        return;
    }
  }

  private async subscribe(connection: Connection, name: string, after: string | undefined): Promise<void> {
    const topic = parseTopic(name);
    if (!connection.mayRead) {
      this.forbid(connection, name, 'This requires the conversations.read permission');
      return;
    }
    if (topic.kind === 'inbox') {
      if (!connection.inbox) {
        if (!connection.seesEverything) await this.loadQueues(connection);
        if (!connection.open) return;
        if (!connection.inbox) this.attachInbox(connection);
      }
      this.sendTo(connection, subscribedFrame('inbox', this.newest));
      return;
    }
    const { conversationId } = topic;
    const existing = connection.conversations.get(conversationId);
    if (existing) this.removeConversation(connection, existing);
    if (connection.conversations.size >= maxConversationTopics) {
      this.sendTo(
        connection,
        errorFrame(
          new AppError('invalid_frame', `At most ${maxConversationTopics} conversation topics per socket`),
          {
            topic: name,
          },
        ),
      );
      return;
    }
    if (!connection.seesEverything) await this.loadQueues(connection);
    if (!connection.open) return;
    const item = await findConversation(
      this.deps.pool,
      connection.organizationId,
      conversationId,
      connection.visibility(),
    );
    if (!connection.open) return;
    if (!item) {
      // The same answer for another tenant's conversation, one that does not exist, and one not visible.
      this.forbid(connection, name, 'No such conversation for this user');
      return;
    }
    const subscription: ConversationSubscription = {
      conversationId,
      relay: undefined,
      member: {
        send: (frame) => this.sendTo(connection, frame),
        congested: () => connection.peer.bufferedAmount() > this.deps.config.WS_MAX_BUFFER_BYTES / 2,
        fail: (error) => {
          if (connection.conversations.get(conversationId) !== subscription) return;
          this.removeConversation(connection, subscription);
          this.sendTo(connection, errorFrame(error, { topic: name }));
        },
      },
    };
    connection.conversations.set(conversationId, subscription);
    this.deps.metrics.subscriptions.inc({ kind: 'conversation' });
    this.sendTo(connection, subscribedFrame(name, item.position));
    if (!connection.open) return;
    let relay = this.relays.get(conversationId);
    if (!relay) {
      relay = new ConversationRelay(conversationId, {
        read: (position) => readConversationAfter(this.deps.store, conversationId, position),
        onForwarded: (delta) => this.written(delta),
        onRepair: () => this.deps.metrics.gapRepairs.inc(),
        onEmpty: (empty) => {
          if (this.relays.get(conversationId) === empty) this.relays.delete(conversationId);
        },
        onError: (error) =>
          this.deps.logger.warn({ err: error, conversationId }, 'conversation catch-up read failed'),
      });
      this.relays.set(conversationId, relay);
    }
    subscription.relay = relay;
    relay.join(subscription.member, after === undefined ? BigInt(item.position) : BigInt(after));
  }

  private unsubscribeTopic(connection: Connection, name: string): void {
    const topic = parseTopic(name);
    if (topic.kind === 'inbox') {
      this.detachInbox(connection);
      return;
    }
    const subscription = connection.conversations.get(topic.conversationId);
    if (subscription) this.removeConversation(connection, subscription);
  }

  private forbid(connection: Connection, topic: string, message: string): void {
    this.sendTo(connection, errorFrame(new AppError('forbidden', message), { topic }));
  }

  private attachInbox(connection: Connection): void {
    if (connection.seesEverything) {
      connection.inbox = 'everything';
      connection.peer.subscribe(this.inbox.addEverything(connection.organizationId));
      let sockets = this.everythingByOrganization.get(connection.organizationId);
      if (!sockets) {
        sockets = new Set();
        this.everythingByOrganization.set(connection.organizationId, sockets);
      }
      sockets.add(connection);
    } else {
      connection.inbox = 'restricted';
      this.inbox.addRestricted(connection.organizationId, connection);
    }
    this.deps.metrics.subscriptions.inc({ kind: 'inbox' });
  }

  private detachInbox(connection: Connection): void {
    const organizationId = connection.organizationId;
    if (connection.inbox === 'everything') {
      this.inbox.removeEverything(organizationId);
      if (connection.open) connection.peer.unsubscribe(InboxFanout.topicOf(organizationId));
      const sockets = this.everythingByOrganization.get(organizationId);
      sockets?.delete(connection);
      if (sockets?.size === 0) this.everythingByOrganization.delete(organizationId);
    } else if (connection.inbox === 'restricted') {
      this.inbox.removeRestricted(organizationId, connection);
    } else {
      return;
    }
    connection.inbox = undefined;
    this.deps.metrics.subscriptions.dec({ kind: 'inbox' });
  }

  private removeConversation(connection: Connection, subscription: ConversationSubscription): void {
    if (connection.conversations.get(subscription.conversationId) !== subscription) return;
    connection.conversations.delete(subscription.conversationId);
    subscription.relay?.leave(subscription.member);
    this.deps.metrics.subscriptions.dec({ kind: 'conversation' });
  }

  /** The user's queues, read once per socket, and again on every recheck (once per user then). */
  private async loadQueues(connection: Connection, round?: Map<string, Promise<Visibility>>): Promise<void> {
    if (connection.queuesLoaded && !round) return;
    let visibility = round?.get(connection.userId);
    if (!visibility) {
      visibility = visibilityOf(this.deps.pool, connection.principal);
      round?.set(connection.userId, visibility);
    }
    const { queueIds } = (await visibility) as Visibility & { queueIds?: readonly string[] };
    connection.queueIds = new Set(queueIds ?? []);
    connection.queuesLoaded = true;
  }

  // ── Commands ────────────────────────────────────────────────────────────────────────────────

  /**
   * Runs a command as its HTTP route would (agentCommands.ts), for the user as they are now: the
   * token is checked again first, like any HTTP request's.
   */
  private async command(connection: Connection, frame: CommandFrame): Promise<void> {
    const { id } = frame;
    let principal: Principal;
    try {
      principal = await this.deps.authenticator.fromToken(connection.token);
    } catch (error) {
      if (error instanceof AppError && error.code.startsWith('auth.')) {
        this.end(connection, closeCodes.sessionEnded, 'session ended');
      } else {
        this.replyError(connection, id, error);
      }
      return;
    }
    connection.principal = principal;
    const caller = { principal, correlationId: randomUUID() };
    const deps = this.deps.commands;
    const conversationId = frame.conversationId.toLowerCase();
    try {
      let result: unknown;
      switch (frame.type) {
        case 'SendMessage':
          result = await sendMessage(
            deps,
            caller,
            conversationId,
            frame.message as unknown as SendMessageBody,
          );
          break;
        case 'Assign':
          result = await assignConversation(deps, caller, conversationId, {
            ...(frame.assigneeId === undefined ? {} : { assigneeId: frame.assigneeId }),
            ...(frame.queueId === undefined ? {} : { queueId: frame.queueId }),
          });
          break;
        case 'Resolve':
          result = await resolveConversation(deps, caller, conversationId);
          break;
        case 'Reopen':
          result = await reopenConversation(deps, caller, conversationId);
          break;
        case 'AddNote':
          result = await addNote(deps, caller, conversationId, { text: frame.text as string });
          break;
      }
      this.sendTo(connection, ackFrame(id, result));
    } catch (error) {
      this.replyError(connection, id, error);
    }
  }

  private replyError(connection: Connection, id: string, error: unknown): void {
    if (!(error instanceof AppError)) {
      this.deps.logger.error({ err: error }, 'websocket command failed');
    }
    const appError =
      error instanceof AppError
        ? error
        : new AppError('internal.unexpected', 'An unexpected error occurred; the log has the details');
    this.sendTo(connection, errorFrame(appError, { id }));
  }

  // ── Periodic recheck ────────────────────────────────────────────────────────────────────────

  /**
   * Every WS_AUTH_RECHECK_SECONDS, for all sockets at once: 1. an expired token closes its socket
   * with 4401; 2. the sessions are read again in batches (authenticator.recheck) — a revoked session
   * or a deleted user closes its sockets with 4401, a role change takes effect; 3. for users limited
   * to their own and their queues' conversations, the queues are read again, the inbox filter follows,
   * and each conversation topic is authorised again (a now-hidden one ends with a `forbidden` error);
   * a user who lost conversations.read loses every topic; 4. backpressure is checked on every socket.
   */
  recheck(): Promise<void> {
    this.rechecking ??= this.recheckOnce()
      .catch((error: unknown) => this.deps.logger.error({ err: error }, 'websocket recheck failed'))
      .finally(() => {
        this.rechecking = undefined;
      });
    return this.rechecking;
  }

  private async recheckOnce(): Promise<void> {
    const now = Date.now();
    const bySession = new Map<string, Connection[]>();
    for (const connection of [...this.connections]) {
      if (connection.expiresAt <= now) {
        this.end(connection, closeCodes.sessionEnded, 'token expired');
        continue;
      }
      const list = bySession.get(connection.principal.sessionId);
      if (list) list.push(connection);
      else bySession.set(connection.principal.sessionId, [connection]);
    }
    if (bySession.size === 0) return;
    const sessions = [...bySession.values()].map((list) => (list[0] as Connection).principal);
    const current = await this.deps.authenticator.recheck(sessions);
    const toReview: Connection[] = [];
    for (const [sessionId, list] of bySession) {
      const principal = current.get(sessionId);
      for (const connection of list) {
        if (!connection.open) continue;
        if (!principal) {
          this.end(connection, closeCodes.sessionEnded, 'session ended');
          continue;
        }
        const before = connection.principal;
        connection.principal = principal;
        const changed = before.permissions.join() !== principal.permissions.join();
        if (changed || !connection.seesEverything) toReview.push(connection);
      }
    }
    const round = new Map<string, Promise<Visibility>>();
    await forEachLimited(toReview, recheckConcurrency, (connection) =>
      this.review(connection, round).catch((error: unknown) =>
        this.deps.logger.warn({ err: error, userId: connection.userId }, 'websocket review failed'),
      ),
    );
    for (const connection of [...this.connections]) this.checkBackpressure(connection);
  }

  /** Applies the user's current permissions and queues to the socket's topics. */
  private async review(connection: Connection, round: Map<string, Promise<Visibility>>): Promise<void> {
    if (!connection.open || (!connection.inbox && connection.conversations.size === 0)) return;
    if (!connection.mayRead) {
      if (connection.inbox) {
        this.detachInbox(connection);
        this.forbid(connection, 'inbox', 'This requires the conversations.read permission');
      }
      for (const subscription of [...connection.conversations.values()]) {
        this.removeConversation(connection, subscription);
        this.forbid(connection, `conversation:${subscription.conversationId}`, 'No longer visible');
      }
      return;
    }
    if (!connection.seesEverything) await this.loadQueues(connection, round);
    if (!connection.open) return;
    const wanted = connection.seesEverything ? 'everything' : 'restricted';
    if (connection.inbox && connection.inbox !== wanted) {
      this.detachInbox(connection);
      this.attachInbox(connection);
    }
    if (connection.seesEverything) return;
    for (const subscription of [...connection.conversations.values()]) {
      const item = await findConversation(
        this.deps.pool,
        connection.organizationId,
        subscription.conversationId,
        connection.visibility(),
      );
      if (
        !item &&
        connection.open &&
        connection.conversations.get(subscription.conversationId) === subscription
      ) {
        this.removeConversation(connection, subscription);
        this.forbid(
          connection,
          `conversation:${subscription.conversationId}`,
          'The conversation is no longer visible to this user',
        );
      }
    }
  }
}

export type { Connection };

async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
