import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { connectRedis } from '../../src/cluster/redisConnection.ts';
import { testLogger } from './database.ts';

/** The Redis the cluster tests use: PYTAKE_TEST_REDIS_URL, else the machine's own. */
export const redisUrl = process.env.PYTAKE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * Why the Redis tests cannot run here, or undefined when they can. Without a Redis they are skipped on
 * a developer's machine, but fail in CI (CI set) or when PYTAKE_TEST_REDIS_URL names one.
 */
export async function redisUnavailable(): Promise<string | undefined> {
  const probe = new Redis(redisUrl, {
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
  });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    await probe.ping();
    return undefined;
  } catch (error) {
    if (process.env.CI || process.env.PYTAKE_TEST_REDIS_URL) throw error;
    return `no Redis at ${redisUrl} (${(error as Error).message})`;
  } finally {
    probe.disconnect();
  }
}

/** A key and channel prefix of this test file's own: parallel files never see each other's keys. */
export const testPrefix = (label: string) => `pytake-test:${label}:${randomBytes(4).toString('hex')}:`;

/** A plain connection for a test to look at (and poke) Redis with. */
export const testConnection = (name = 'pytake-test') => connectRedis(redisUrl, { name, logger: testLogger });

/** Deletes this prefix's keys, and only them. */
export async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}

/** Drops the server side of the connection named `name` (CLIENT KILL), as a network failure would. */
export async function killConnection(admin: Redis, name: string): Promise<void> {
  const clients = (await admin.client('LIST')) as string;
  const line = clients.split('\n').find((entry) => entry.includes(` name=${name} `));
  const id = line && /\bid=(\d+)/.exec(line)?.[1];
  if (!id) throw new Error(`no Redis connection named ${name}`);
  await admin.call('CLIENT', 'KILL', 'ID', id);
}

/** A counter's value in a registry (summed over the label values matching `labels`). */
export async function metricValue(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  return values
    .filter((value) =>
      Object.entries(labels).every(([label, wanted]) => String(value.labels[label]) === wanted),
    )
    .reduce((sum, value) => sum + value.value, 0);
}

/** Polls `check` until it holds (or throws after `timeoutMs`): waits on a condition, not a fixed time. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms: ${check}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
