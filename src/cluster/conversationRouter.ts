import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { Counter, type Registry } from 'prom-client';
import type { TurnResult } from '../actors/actorSystem.ts';
import type { ConversationActors } from '../conversation/conversationActor.ts';
import type { ConversationCommand } from '../conversation/conversationCommands.ts';
import { AppError, type ErrorCode, errorCatalogue, type FieldError } from '../errors/catalogue.ts';
import type { CommandContext } from '../eventsourcing/commandHandler.ts';
import type { Logger } from '../log/logger.ts';
import { ActorLeases } from './actorLeases.ts';
import { closeRedis, connectRedis, keepSubscribed } from './redisConnection.ts';

/** The local actor system, as the router uses it: runs commands, and tells when an actor leaves memory. */
export type LocalActors = ConversationActors & { onPassivate(listener: (key: string) => void): () => void };

export type ConversationRouterOptions = {
  local: LocalActors;
  nodeId: string;
  /** Starts every key and channel: `pytake:` in production, a unique one per test file. */
  prefix: string;
  /** ACTOR_LEASE_SECONDS × 1000. */
  leaseMs: number;
  logger: Logger;
  metricsRegistry?: Registry;
  /** How long the owner has to acknowledge a forwarded command before it counts as hung (5 s). */
  ackTimeoutMs?: number;
  /** How long an acknowledged command may take before the caller gets a retryable 503 (60 s). */
  resultTimeoutMs?: number;
  /** While waiting on an acknowledged command, how often the owner is checked to be alive (1 s). */
  livenessCheckMs?: number;
};

/**
 * The messages between nodes. A request goes to `<prefix>node:<owner>:commands`; the owner answers
 * on `<prefix>node:<from>:replies`, first `accepted` (it is alive and has the command), then
 * `result` or `error`. Positions and revisions travel as decimal strings.
 */
export type ForwardedCommand = {
  id: string;
  from: string;
  key: string;
  command: ConversationCommand;
  context: CommandContext;
  /** The sender's clock (ms since the epoch): after this, the sender has given up and run it itself. */
  expiresAt: number;
};

export type EncodedResult = { position: string | null; revision: string; events: number };
export type EncodedError = {
  /** null: not an AppError (a bug or an outage on the owner), a 500 wherever it surfaces. */
  code: string | null;
  message: string;
  errors: FieldError[];
  headers: Record<string, string>;
};
export type CommandReply =
  | { id: string; type: 'accepted' }
  | { id: string; type: 'result'; result: EncodedResult }
  | { id: string; type: 'error'; error: EncodedError };

/** How a forwarded command ended, seen from the node that sent it. */
type Forwarded =
  | { kind: 'reply'; reply: CommandReply & { type: 'result' | 'error' } }
  /** The owner is dead (no subscriber, or it went away) or hung (no acknowledgement). */
  | { kind: 'unreachable'; reason: 'no_receiver' | 'no_answer' | 'gone' }
  /** Redis could not take the request. */
  | { kind: 'redis_failed' }
  /** The owner accepted it but its answer never came (timeout, or our subscriber reconnected). */
  | { kind: 'unanswered' };

type Pending = { accepted(): void; settle(outcome: Forwarded): void };

/** Takeovers or forwards to a third node before giving up on routing and running the command here. */
const maxHops = 3;

/**
 * Sends each conversation's commands to the node holding its lease, so one node usually owns a
 * conversation (its actor's state stays warm, turns do not conflict). A conversation nobody holds is
 * claimed and run here; one held by another node is forwarded to it over Redis and its answer —
 * result or AppError, same code and headers — returned as if it ran here. An owner with no
 * subscriber (a killed process: PUBLISH reaches nobody) is taken over at once; one that does not
 * acknowledge within `ackTimeoutMs` (hung) is taken over then. When Redis itself fails, the command
 * runs here: the lease only routes, the actors' expected revisions keep every turn correct.
 */
export class ConversationRouter implements ConversationActors {
  readonly leases: ActorLeases;
  private readonly local: LocalActors;
  private readonly pending = new Map<string, Pending>();
  /** Per conversation, until the command before is on its way (queued here or published). */
  private readonly dispatching = new Map<string, Promise<void>>();
  /** Forwarded commands running here, answered before shutdown. */
  private readonly serving = new Set<Promise<void>>();
  private readonly commandsChannel: string;
  private readonly repliesChannel: string;
  private readonly metrics;
  private readonly ackTimeoutMs: number;
  private readonly resultTimeoutMs: number;
  private readonly livenessCheckMs: number;
  private closed = false;

  constructor(
    private readonly redis: Redis,
    private readonly subscriber: Redis,
    private readonly options: ConversationRouterOptions,
  ) {
    this.local = options.local;
    this.leases = new ActorLeases(redis, {
      nodeId: options.nodeId,
      prefix: options.prefix,
      category: 'conversation',
      leaseMs: options.leaseMs,
      logger: options.logger,
      metricsRegistry: options.metricsRegistry,
    });
    this.commandsChannel = this.channel(options.nodeId, 'commands');
    this.repliesChannel = this.channel(options.nodeId, 'replies');
    this.ackTimeoutMs = options.ackTimeoutMs ?? 5000;
    this.resultTimeoutMs = options.resultTimeoutMs ?? 60_000;
    this.livenessCheckMs = options.livenessCheckMs ?? 1000;
    this.metrics = routerMetrics(options.metricsRegistry);
  }

  get nodeId(): string {
    return this.options.nodeId;
  }

  /** Listens for commands and replies, and starts renewing leases. */
  async start(): Promise<void> {
    this.local.onPassivate((key) => this.leases.release(key));
    this.subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.repliesChannel) this.receiveReply(message);
      else if (channel === this.commandsChannel) this.serve(message);
    });
    await keepSubscribed(
      this.subscriber,
      [this.commandsChannel, this.repliesChannel],
      this.options.logger,
      () => {
        // Replies published while we were away are lost: their callers get a retryable 503.
        for (const pending of this.pending.values()) pending.settle({ kind: 'unanswered' });
      },
    );
    this.leases.start();
  }

  send(key: string, command: ConversationCommand, context: CommandContext): Promise<TurnResult> {
    const before = this.dispatching.get(key);
    if (this.closed || (before === undefined && this.leases.holds(key))) {
      return this.local.send(key, command, context);
    }
    // Commands for one conversation leave in the order they were sent, wherever they go.
    let onItsWay!: () => void;
    const gate = new Promise<void>((resolve) => {
      onItsWay = resolve;
    });
    this.dispatching.set(key, gate);
    let dispatched = false;
    const dispatch = () => {
      if (dispatched) return;
      dispatched = true;
      onItsWay();
      if (this.dispatching.get(key) === gate) this.dispatching.delete(key);
    };
    const route = async () => {
      try {
        await before;
        return await this.route(key, command, context, dispatch);
      } finally {
        dispatch();
      }
    };
    return route();
  }

  /**
   * Stops taking forwarded commands (their senders find no receiver and take over), answers the
   * ones running, gives every lease up and closes the connections.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.run(() => this.subscriber.unsubscribe(this.commandsChannel)).catch(() => undefined);
    await Promise.race([
      Promise.allSettled(this.serving),
      new Promise((resolve) => setTimeout(resolve, 5000).unref()),
    ]);
    for (const pending of this.pending.values()) pending.settle({ kind: 'unanswered' });
    await this.leases.stop();
    await Promise.all([closeRedis(this.subscriber), closeRedis(this.redis)]);
  }

  /**
   * 1. Claim the lease (or learn its owner). 2. Ours: run here. 3. Another node's: forward, and
   * return its answer. 4. Owner dead or hung: take its lease over (only if it still names that
   * owner) and go back to 2 with whoever holds it now.
   */
  private async route(
    key: string,
    command: ConversationCommand,
    context: CommandContext,
    dispatch: () => void,
  ): Promise<TurnResult> {
    const runHere = () => {
      const turn = this.local.send(key, command, context);
      dispatch();
      return turn;
    };
    let owner: string;
    try {
      owner = await this.leases.claim(key);
    } catch (error) {
      return this.fallBack(error, runHere);
    }
    for (let hop = 0; owner !== this.nodeId && hop < maxHops; hop += 1) {
      const outcome = await this.forward(owner, key, command, context, dispatch);
      switch (outcome.kind) {
        case 'reply':
          return decodeReply(outcome.reply);
        case 'redis_failed':
          return runHere();
        case 'unanswered':
          throw new AppError(
            'service.unavailable',
            `conversation ${key}: node ${owner} took the command but its answer was lost`,
            [],
            { 'retry-after': '1' },
          );
        case 'unreachable': {
          const dead = owner;
          let tookOver: boolean;
          try {
            ({ owner, tookOver } = await this.leases.takeOver(key, dead));
          } catch (error) {
            return this.fallBack(error, runHere);
          }
          if (tookOver) {
            this.metrics.takeovers.inc({ reason: outcome.reason });
            this.options.logger.info({ key, from: dead, reason: outcome.reason }, 'conversation taken over');
          }
          break;
        }
        default:
          outcome satisfies never;
      }
    }
    // A lease moving from node to node faster than a command can follow: run it here.
    return runHere();
  }

  private fallBack(error: unknown, runHere: () => Promise<TurnResult>): Promise<TurnResult> {
    this.metrics.localFallbacks.inc();
    this.options.logger.warn({ err: error }, 'redis unavailable: conversation command runs on this node');
    return runHere();
  }

  private async forward(
    owner: string,
    key: string,
    command: ConversationCommand,
    context: CommandContext,
    dispatch: () => void,
  ): Promise<Forwarded> {
    const id = randomUUID();
    const ownerChannel = this.channel(owner, 'commands');
    const request: ForwardedCommand = {
      id,
      from: this.nodeId,
      key,
      command,
      context,
      expiresAt: Date.now() + this.ackTimeoutMs,
    };
    const timers: NodeJS.Timeout[] = [];
    const outcome = new Promise<Forwarded>((resolve) => {
      const settle = (result: Forwarded) => {
        if (!this.pending.delete(id)) return;
        for (const timer of timers) clearTimeout(timer);
        resolve(result);
      };
      const accepted = () => {
        clearTimeout(timers[0]);
        timers.push(
          setTimeout(() => settle({ kind: 'unanswered' }), this.resultTimeoutMs),
          setTimeout(() => void this.checkAlive(ownerChannel, id), this.livenessCheckMs),
        );
      };
      this.pending.set(id, { accepted, settle });
      timers.push(setTimeout(() => settle({ kind: 'unreachable', reason: 'no_answer' }), this.ackTimeoutMs));
    });
    const published = this.run(() => this.redis.publish(ownerChannel, encode(request)));
    dispatch();
    this.metrics.forwarded.inc();
    published.then(
      (receivers) => {
        if (receivers === 0) this.pending.get(id)?.settle({ kind: 'unreachable', reason: 'no_receiver' });
      },
      (error: unknown) => {
        this.options.logger.warn({ err: error, owner }, 'conversation command not forwarded');
        this.pending.get(id)?.settle({ kind: 'redis_failed' });
      },
    );
    return outcome;
  }

  /** While an accepted command runs on its owner: is the owner's subscriber still there? */
  private async checkAlive(ownerChannel: string, id: string): Promise<void> {
    if (!this.pending.has(id)) return;
    try {
      const answer = await this.run(() => this.redis.call('PUBSUB', 'NUMSUB', ownerChannel));
      // [channel, count] (RESP2), or a map of channel → count (RESP3 servers may answer either).
      const subscribers = answer instanceof Map ? answer.get(ownerChannel) : (answer as unknown[])[1];
      if (Number(subscribers) === 0) {
        this.pending.get(id)?.settle({ kind: 'unreachable', reason: 'gone' });
        return;
      }
    } catch {
      // Redis unreachable: the result timeout still bounds the wait.
    }
    const pending = this.pending.get(id);
    if (!pending) return;
    const timer = setTimeout(() => void this.checkAlive(ownerChannel, id), this.livenessCheckMs);
    timer.unref();
  }

  private receiveReply(message: string): void {
    const reply = parse(message);
    if (!isReply(reply)) {
      this.metrics.unreadable.inc();
      return;
    }
    const pending = this.pending.get(reply.id);
    if (!pending) return;
    if (reply.type === 'accepted') pending.accepted();
    else pending.settle({ kind: 'reply', reply });
  }

  /** A command another node forwarded here: acknowledge, run, answer. */
  private serve(message: string): void {
    const request = parse(message);
    if (!isForwardedCommand(request)) {
      this.metrics.unreadable.inc();
      this.options.logger.warn({ bytes: message.length }, 'unreadable forwarded command');
      return;
    }
    // Its sender has taken the conversation over and run the command itself (this node was hung).
    if (Date.now() > request.expiresAt) return;
    const replyTo = this.channel(request.from, 'replies');
    this.reply(replyTo, { id: request.id, type: 'accepted' });
    // The sender saw this node's lease; if it lapsed meanwhile, take it again when free.
    if (!this.leases.holds(request.key)) this.leases.claim(request.key).catch(() => undefined);
    const served = this.local
      .send(request.key, request.command, request.context)
      .then(
        (result) => this.reply(replyTo, { id: request.id, type: 'result', result: encodeResult(result) }),
        (error: unknown) => {
          if (!(error instanceof AppError)) {
            this.options.logger.error({ err: error, key: request.key }, 'forwarded command failed');
          }
          this.reply(replyTo, { id: request.id, type: 'error', error: encodeError(error) });
        },
      )
      .finally(() => this.serving.delete(served));
    this.serving.add(served);
  }

  private reply(channel: string, reply: CommandReply): void {
    this.run(() => this.redis.publish(channel, encode(reply))).catch((error: unknown) => {
      // The sender gets no answer: it times out with a retryable 503, and a retry finds the command done.
      this.options.logger.warn({ err: error }, 'reply to a forwarded command not sent');
    });
  }

  private channel(nodeId: string, kind: 'commands' | 'replies'): string {
    return `${this.options.prefix}node:${nodeId}:${kind}`;
  }

  /** Turns a synchronous refusal (connection down, no offline queue) into a rejection. */
  private async run<T>(command: () => Promise<T>): Promise<T> {
    return command();
  }
}

/** Connects the router's two Redis connections (commands and leases; subscriptions) and starts it. */
export async function createConversationRouter(
  url: string,
  options: ConversationRouterOptions,
): Promise<ConversationRouter> {
  const name = (role: string) => `${options.prefix}${options.nodeId}:${role}`;
  const redis = await connectRedis(url, { name: name('actors'), logger: options.logger });
  const subscriber = await connectRedis(url, { name: name('actors-sub'), logger: options.logger }).catch(
    async (error: unknown) => {
      await closeRedis(redis);
      throw error;
    },
  );
  const router = new ConversationRouter(redis, subscriber, options);
  try {
    await router.start();
  } catch (error) {
    await router.close();
    throw error;
  }
  return router;
}

/** JSON with bigints as decimal strings. */
export function encode(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) => (typeof item === 'bigint' ? item.toString() : item));
}

function parse(message: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(message);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Nodes of one deployment trust each other; this only keeps a garbled message from throwing. */
function isForwardedCommand(value: Record<string, unknown> | undefined): value is ForwardedCommand {
  return (
    value !== undefined &&
    typeof value.id === 'string' &&
    typeof value.from === 'string' &&
    typeof value.key === 'string' &&
    typeof value.expiresAt === 'number' &&
    isObject(value.command) &&
    typeof value.command.type === 'string' &&
    isObject(value.context) &&
    typeof value.context.organizationId === 'string'
  );
}

function isReply(value: Record<string, unknown> | undefined): value is CommandReply {
  if (value === undefined || typeof value.id !== 'string') return false;
  if (value.type === 'accepted') return true;
  if (value.type === 'result') {
    return isObject(value.result) && typeof value.result.revision === 'string';
  }
  return value.type === 'error' && isObject(value.error) && typeof value.error.message === 'string';
}

export function encodeResult(result: TurnResult): EncodedResult {
  return {
    position: result.position === null ? null : String(result.position),
    revision: String(result.revision),
    events: result.events,
  };
}

export function encodeError(error: unknown): EncodedError {
  if (error instanceof AppError) {
    return { code: error.code, message: error.message, errors: error.errors, headers: error.headers };
  }
  return {
    code: null,
    message: error instanceof Error ? error.message : String(error),
    errors: [],
    headers: {},
  };
}

/** The owner's answer, as if the command had run here: a TurnResult, or the same AppError thrown. */
export function decodeReply(reply: CommandReply & { type: 'result' | 'error' }): TurnResult {
  if (reply.type === 'result') {
    return {
      position: reply.result.position === null ? null : BigInt(reply.result.position),
      revision: BigInt(reply.result.revision),
      events: reply.result.events,
    };
  }
  const { code, message, errors, headers } = reply.error;
  if (code !== null && code in errorCatalogue) {
    throw new AppError(code as ErrorCode, message, errors ?? [], headers ?? {});
  }
  throw new Error(`forwarded command failed on its owner: ${message}`);
}

function routerMetrics(registry: Registry | undefined) {
  const registers = registry ? [registry] : [];
  return {
    forwarded: new Counter({
      name: 'actor_commands_forwarded_total',
      help: 'Conversation commands sent to the node holding their lease',
      registers,
    }),
    takeovers: new Counter({
      name: 'actor_lease_takeovers_total',
      help: 'Conversations taken over from a node found dead (no_receiver, gone) or hung (no_answer)',
      labelNames: ['reason'],
      registers,
    }),
    localFallbacks: new Counter({
      name: 'actor_commands_local_fallback_total',
      help: 'Conversation commands run on this node because Redis could not be asked who owns them',
      registers,
    }),
    unreadable: new Counter({
      name: 'actor_forwarded_unreadable_total',
      help: 'Forwarded commands dropped because they could not be read',
      registers,
    }),
  };
}
