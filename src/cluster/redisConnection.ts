import { Redis } from 'ioredis';
import type { Logger } from '../log/logger.ts';

/**
 * A Redis connection for the cluster's traffic. Commands fail fast while it is down (no offline
 * queue, a timeout on every reply) rather than piling up: every caller has a fallback — a delta bus
 * reports a possible loss, a router runs the command locally. It reconnects on its own, every
 * 100 ms to 2 s. Resolves once connected; a Redis that cannot be reached fails start-up.
 */
export async function connectRedis(
  url: string,
  options: { name: string; logger: Logger; commandTimeoutMs?: number },
): Promise<Redis> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectionName: options.name,
    enableOfflineQueue: false,
    // Subscriptions are renewed by `keepSubscribed`, which knows when they are active again.
    autoResubscribe: false,
    maxRetriesPerRequest: 1,
    commandTimeout: options.commandTimeoutMs ?? 2000,
    retryStrategy: (attempt) => Math.min(attempt * 100, 2000),
  });
  // One warning per outage, not one per reconnection attempt.
  let down = false;
  redis.on('error', (error: Error) => {
    if (down) return;
    down = true;
    options.logger.warn({ err: error, connection: options.name }, 'redis connection lost');
  });
  redis.on('ready', () => {
    if (!down) return;
    down = false;
    options.logger.info({ connection: options.name }, 'redis connection back');
  });
  try {
    await redis.connect();
  } catch (error) {
    redis.disconnect();
    // The URL may carry a password: name the variable, never its value.
    throw new Error(`REDIS_URL: cannot connect to Redis (${(error as Error).message})`);
  }
  return redis;
}

/**
 * Subscribes to `channels` now and again after every reconnection; `onResubscribed` runs once the
 * subscriptions are active again, so anything published after it is delivered (what was published
 * while the connection was down is lost: Redis pub/sub keeps nothing).
 */
export async function keepSubscribed(
  redis: Redis,
  channels: string[],
  logger: Logger,
  onResubscribed: () => void,
): Promise<void> {
  await redis.subscribe(...channels);
  redis.on('ready', () => {
    redis.subscribe(...channels).then(onResubscribed, (error: unknown) => {
      logger.warn({ err: error, channels }, 'redis resubscription failed; reconnecting');
      redis.disconnect(true);
    });
  });
}

/** Closes politely (QUIT), or drops the socket when Redis does not answer. */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === 'end') return;
  try {
    await redis.quit();
  } catch {
    redis.disconnect();
  }
}
