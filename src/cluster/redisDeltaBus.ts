import type { Redis } from 'ioredis';
import { Counter, type Registry } from 'prom-client';
import type { Logger } from '../log/logger.ts';
import type { ConversationDelta, DeltaBus, DeltaListener } from '../realtime/delta.ts';
import { closeRedis, connectRedis, keepSubscribed } from './redisConnection.ts';

export type RedisDeltaBusOptions = {
  /** Starts every channel name: `pytake:` in production, a unique one per test file. */
  prefix: string;
  /** Names this node in the loss notices it publishes and in Redis' client list. */
  nodeId: string;
  logger: Logger;
  metricsRegistry?: Registry;
};

/**
 * What travels on `<prefix>deltas`: one projected batch as a JSON array of deltas (their hop times
 * with them: stamped published before, received after), or a notice that a node failed to publish
 * some (every node's listeners then re-check what they serve).
 */
type LossNotice = { possibleLoss: string };

/**
 * Deltas between nodes through Redis pub/sub, on one channel. Each node publishes through one
 * connection of its own, so its batches arrive in the order it published them; every node —
 * the publisher included — hears them on its subscriber connection, so a node's own deltas reach its
 * listeners once, by the same road as everyone else's.
 *
 * Pub/sub keeps nothing: a message published while a subscriber is away is lost to it. So when the
 * subscriber comes back, and when this node could not publish (its notice goes out once Redis takes
 * it again), `onPossibleLoss` listeners are told to re-check against the store. A publish never
 * throws into the projector.
 */
export class RedisDeltaBus implements DeltaBus {
  private readonly listeners = new Set<DeltaListener>();
  private readonly lossListeners = new Set<() => void>();
  private readonly channel: string;
  private readonly metrics;
  /** A publish failed and no loss notice has gone out since. */
  private unpublished = false;
  private closed = false;

  constructor(
    private readonly publisher: Redis,
    private readonly subscriber: Redis,
    private readonly options: RedisDeltaBusOptions,
  ) {
    this.channel = `${options.prefix}deltas`;
    this.metrics = busMetrics(options.metricsRegistry);
  }

  /** Subscribes; deltas published before this resolves are not delivered here. */
  async start(): Promise<void> {
    this.subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.channel) this.receive(message);
    });
    this.publisher.on('ready', () => this.announceLoss());
    await keepSubscribed(this.subscriber, [this.channel], this.options.logger, () => {
      this.options.logger.warn({ channel: this.channel }, 'delta subscriber reconnected: deltas may be lost');
      this.possibleLoss();
    });
  }

  publish(deltas: readonly ConversationDelta[]): void {
    if (deltas.length === 0 || this.closed) return;
    const publishedAt = Date.now();
    for (const { hops } of deltas) if (hops) hops.publishedAt = publishedAt;
    this.send(JSON.stringify(deltas)).then(
      () => {
        this.metrics.published.inc(deltas.length);
        if (this.unpublished) this.announceLoss();
      },
      (error: unknown) => {
        this.metrics.errors.inc({ kind: 'publish' });
        if (!this.unpublished) {
          this.options.logger.warn({ err: error, deltas: deltas.length }, 'deltas not published to Redis');
        }
        this.unpublished = true;
      },
    );
  }

  subscribe(listener: DeltaListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onPossibleLoss(listener: () => void): () => void {
    this.lossListeners.add(listener);
    return () => this.lossListeners.delete(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    this.lossListeners.clear();
    await Promise.all([closeRedis(this.subscriber), closeRedis(this.publisher)]);
  }

  private send(message: string): Promise<number> {
    // Synchronous failures (the connection is down and there is no offline queue) become rejections.
    try {
      return this.publisher.publish(this.channel, message);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** After a failed publish: tells every node, through Redis, once it takes messages again. */
  private announceLoss(): void {
    if (!this.unpublished || this.closed) return;
    this.unpublished = false;
    const notice: LossNotice = { possibleLoss: this.options.nodeId };
    this.send(JSON.stringify(notice)).catch(() => {
      this.unpublished = true;
    });
  }

  private receive(message: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(message);
    } catch {
      parsed = undefined;
    }
    if (isLossNotice(parsed)) {
      this.options.logger.warn({ node: parsed.possibleLoss }, 'a node could not publish deltas');
      this.possibleLoss();
      return;
    }
    if (!isDeltaBatch(parsed)) {
      // Never the content: deltas carry customers' messages.
      this.metrics.errors.inc({ kind: 'parse' });
      this.options.logger.warn({ channel: this.channel, bytes: message.length }, 'unreadable delta message');
      return;
    }
    this.metrics.received.inc(parsed.length);
    const receivedAt = Date.now();
    for (const { hops } of parsed) if (hops) hops.receivedAt = receivedAt;
    for (const listener of this.listeners) {
      try {
        listener(parsed);
      } catch (error) {
        this.metrics.errors.inc({ kind: 'listener' });
        this.options.logger.error({ err: error }, 'delta listener failed');
      }
    }
  }

  private possibleLoss(): void {
    this.metrics.losses.inc();
    for (const listener of this.lossListeners) {
      try {
        listener();
      } catch (error) {
        this.metrics.errors.inc({ kind: 'listener' });
        this.options.logger.error({ err: error }, 'possible-loss listener failed');
      }
    }
  }
}

/** Connects a publisher and a subscriber to `url` and subscribes. */
export async function createRedisDeltaBus(
  url: string,
  options: RedisDeltaBusOptions,
): Promise<RedisDeltaBus> {
  const name = (role: string) => `${options.prefix}${options.nodeId}:${role}`;
  const publisher = await connectRedis(url, { name: name('deltas-pub'), logger: options.logger });
  const subscriber = await connectRedis(url, { name: name('deltas-sub'), logger: options.logger }).catch(
    async (error: unknown) => {
      await closeRedis(publisher);
      throw error;
    },
  );
  const bus = new RedisDeltaBus(publisher, subscriber, options);
  try {
    await bus.start();
  } catch (error) {
    await bus.close();
    throw error;
  }
  return bus;
}

function isLossNotice(value: unknown): value is LossNotice {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    typeof (value as LossNotice).possibleLoss === 'string'
  );
}

function isDeltaBatch(value: unknown): value is ConversationDelta[] {
  return (
    Array.isArray(value) &&
    value.every(
      (delta: Partial<ConversationDelta> | null) =>
        typeof delta === 'object' &&
        delta !== null &&
        typeof delta.organizationId === 'string' &&
        typeof delta.conversationId === 'string' &&
        typeof delta.position === 'string' &&
        typeof delta.event === 'object' &&
        delta.event !== null,
    )
  );
}

function busMetrics(registry: Registry | undefined) {
  const registers = registry ? [registry] : [];
  return {
    published: new Counter({
      name: 'redis_deltas_published_total',
      help: 'Conversation deltas this node published to Redis',
      registers,
    }),
    received: new Counter({
      name: 'redis_deltas_received_total',
      help: 'Conversation deltas this node received from Redis (its own included)',
      registers,
    }),
    errors: new Counter({
      name: 'redis_bus_errors_total',
      help: 'Delta bus failures: publish (Redis refused or unreachable), parse (unreadable message), listener',
      labelNames: ['kind'],
      registers,
    }),
    losses: new Counter({
      name: 'redis_bus_possible_losses_total',
      help: 'Times the listeners were told deltas may have been lost (a reconnection or a failed publish)',
      registers,
    }),
  };
}
