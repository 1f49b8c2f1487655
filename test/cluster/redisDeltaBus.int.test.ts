import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { createRedisDeltaBus, type RedisDeltaBus } from '../../src/cluster/redisDeltaBus.ts';
import type { ConversationDelta } from '../../src/realtime/delta.ts';
import { testLogger } from '../support/database.ts';
import {
  deleteKeys,
  eventually,
  killConnection,
  metricValue,
  redisUnavailable,
  redisUrl,
  testConnection,
  testPrefix,
} from '../support/redis.ts';

const skip = await redisUnavailable();

const delta = (position: number, conversationId = 'c1'): ConversationDelta => ({
  organizationId: 'org-1',
  conversationId,
  position: String(position),
  previous: position === 1 ? null : String(position - 1),
  event: { type: 'MessageReceived', data: { text: `m${position}` }, occurredAt: new Date(0).toISOString() },
  inbox: null,
});

type Node = {
  id: string;
  bus: RedisDeltaBus;
  registry: Registry;
  received: ConversationDelta[];
  losses: number;
};

describe('Redis delta bus', { skip, timeout: 60_000 }, () => {
  const prefix = testPrefix('bus');
  const nodes: Node[] = [];
  let admin: Redis;

  const node = async (): Promise<Node> => {
    const id = randomUUID();
    const registry = new Registry();
    const bus = await createRedisDeltaBus(redisUrl, {
      prefix,
      nodeId: id,
      logger: testLogger,
      metricsRegistry: registry,
    });
    const created: Node = { id, bus, registry, received: [], losses: 0 };
    bus.subscribe((deltas) => created.received.push(...deltas));
    bus.onPossibleLoss(() => {
      created.losses += 1;
    });
    nodes.push(created);
    return created;
  };

  before(async () => {
    admin = await testConnection();
  });
  after(async () => {
    await Promise.all(nodes.map((each) => each.bus.close()));
    await deleteKeys(admin, prefix);
    admin.disconnect();
  });

  it("delivers every node's batches to every node in publish order, a node's own once", async () => {
    const [a, b] = [await node(), await node()];
    for (let n = 1; n <= 200; n += 2) a.bus.publish([delta(n), delta(n + 1)]);
    a.bus.publish([]);
    await eventually(() => a.received.length >= 200 && b.received.length >= 200);
    const expected = Array.from({ length: 200 }, (_, n) => String(n + 1));
    assert.deepEqual(
      a.received.map((each) => each.position),
      expected,
    );
    assert.deepEqual(
      b.received.map((each) => each.position),
      expected,
    );
    assert.deepEqual(b.received[0], delta(1));
    assert.equal(await metricValue(a.registry, 'redis_deltas_published_total'), 200);
    assert.equal(await metricValue(b.registry, 'redis_deltas_received_total'), 200);
    // A later batch shows nothing more was on its way: a's own deltas came once.
    a.bus.publish([delta(201)]);
    await eventually(() => a.received.length === 201 && b.received.length === 201);
    await Promise.all(nodes.map((each) => each.bus.close()));
    nodes.length = 0;
  });

  it('ignores, logs and counts a message it cannot read, and goes on', async () => {
    const a = await node();
    for (const garbage of ['not json', '{"x":1}', '[1,2]', '[{"position":"1"}]', 'null']) {
      await admin.publish(`${prefix}deltas`, garbage);
    }
    a.bus.publish([delta(1)]);
    await eventually(() => a.received.length === 1);
    assert.equal(await metricValue(a.registry, 'redis_bus_errors_total', { kind: 'parse' }), 5);
    assert.equal(a.losses, 0);
    await a.bus.close();
    nodes.length = 0;
  });

  it('tells its listeners deltas may be lost when the subscriber reconnects, then delivers again', async () => {
    const a = await node();
    const b = await node();
    await killConnection(admin, `${prefix}${b.id}:deltas-sub`);
    await eventually(() => b.losses === 1);
    assert.equal(a.losses, 0);
    a.bus.publish([delta(1)]);
    await eventually(() => b.received.length === 1 && a.received.length === 1);
    await Promise.all(nodes.map((each) => each.bus.close()));
    nodes.length = 0;
  });

  it('never throws when a publish fails, and tells every node once Redis takes messages again', async () => {
    const a = await node();
    const b = await node();
    const publisher = (a.bus as unknown as { publisher: Redis }).publisher;
    // The connection drops (and comes back on its own): publishes meanwhile fail.
    publisher.disconnect(true);
    assert.doesNotThrow(() => a.bus.publish([delta(1)]));
    await eventually(() => a.losses === 1 && b.losses === 1);
    assert.equal(await metricValue(a.registry, 'redis_bus_errors_total', { kind: 'publish' }), 1);
    a.bus.publish([delta(2)]);
    await eventually(() => b.received.length === 1);
    assert.equal(b.received[0]?.position, '2');
    assert.equal(a.losses, 1);
  });
});
