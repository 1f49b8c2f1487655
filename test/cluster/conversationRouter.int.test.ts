import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { ActorSystem } from '../../src/actors/actorSystem.ts';
import { ConversationRouter } from '../../src/cluster/conversationRouter.ts';
import { conversationBehaviour } from '../../src/conversation/conversationActor.ts';
import type { ConversationCommand } from '../../src/conversation/conversationCommands.ts';
import type { ConversationState } from '../../src/conversation/conversationState.ts';
import { AppError } from '../../src/errors/catalogue.ts';
import { deterministicId } from '../../src/eventsourcing/deterministicId.ts';
import type { InboundMessage } from '../../src/whatsapp/normaliseMessage.ts';
import { openTestEventStore, testLogger } from '../support/database.ts';
import {
  deleteKeys,
  eventually,
  metricValue,
  redisUnavailable,
  testConnection,
  testPrefix,
} from '../support/redis.ts';

const skip = await redisUnavailable();

const organizationId = deterministicId('cluster/org');
const channelId = deterministicId('cluster/channel');
const context = { organizationId, actor: 'meta-webhook' };

const text = (n: number): InboundMessage => ({
  waMessageId: `wamid.cluster-${n}`,
  from: '15550100000',
  sentAt: new Date(Date.UTC(2026, 10, 25, 12, 0, 0, n)).toISOString(),
  content: { type: 'text', text: `message ${n}` },
});
const webhook = (conversationId: string, ...messages: InboundMessage[]): ConversationCommand => ({
  type: 'ReceiveWebhook',
  conversationId,
  channelId,
  contact: { waId: '15550100000', name: 'Ana' },
  messages,
  statuses: [],
});
const resolve: ConversationCommand = { type: 'Resolve', visibility: { all: true }, by: 'agent' };

type Node = {
  id: string;
  actors: ActorSystem<ConversationCommand, ConversationState>;
  router: ConversationRouter;
  redis: Redis;
  subscriber: Redis;
  registry: Registry;
};

type NodeOptions = {
  leaseMs?: number;
  idleMs?: number;
  mailboxLimit?: number;
  ackTimeoutMs?: number;
  resultTimeoutMs?: number;
};

describe('conversation routing across nodes', { skip, timeout: 120_000 }, () => {
  const prefix = testPrefix('router');
  let opened: Awaited<ReturnType<typeof openTestEventStore>>;
  let admin: Redis;
  const nodes: Node[] = [];

  const node = async (options: NodeOptions = {}): Promise<Node> => {
    const id = randomUUID();
    const registry = new Registry();
    const actors = new ActorSystem<ConversationCommand, ConversationState>(
      opened.store,
      conversationBehaviour(),
      {
        mailboxLimit: options.mailboxLimit ?? 1000,
        idleMs: options.idleMs ?? 60_000,
        maxConflictRetries: 50,
        metricsRegistry: registry,
      },
    );
    const redis = await testConnection(`${prefix}${id}:actors`);
    const subscriber = await testConnection(`${prefix}${id}:actors-sub`);
    const router = new ConversationRouter(redis, subscriber, {
      local: actors,
      nodeId: id,
      prefix,
      leaseMs: options.leaseMs ?? 10_000,
      logger: testLogger,
      metricsRegistry: registry,
      ackTimeoutMs: options.ackTimeoutMs ?? 5000,
      resultTimeoutMs: options.resultTimeoutMs ?? 60_000,
      livenessCheckMs: 100,
    });
    await router.start();
    const created = { id, actors, router, redis, subscriber, registry };
    nodes.push(created);
    return created;
  };

  const leaseOf = (conversationId: string) => admin.get(`${prefix}lease:conversation:${conversationId}`);
  const events = (conversationId: string) => opened.store.readStream(`conversation-${conversationId}`);

  before(async () => {
    opened = await openTestEventStore('cluster_router');
    admin = await testConnection();
  });
  after(async () => {
    await Promise.all(nodes.map((each) => each.router.close()));
    await deleteKeys(admin, prefix);
    admin.disconnect();
    await opened?.close();
  });

  it('runs a conversation on the node holding its lease, in the order its commands were sent', async () => {
    const [a, b] = [await node(), await node()];
    const conversationId = randomUUID();
    const first = await a.router.send(conversationId, webhook(conversationId, text(0)), context);
    assert.equal(first.events, 2);
    assert.equal(await leaseOf(conversationId), a.id);

    const results = await Promise.all(
      Array.from({ length: 20 }, (_, n) =>
        (n % 2 === 0 ? b : a).router.send(conversationId, webhook(conversationId, text(n + 1)), context),
      ),
    );
    assert.ok(results.every((result) => typeof result.position === 'bigint' && result.events === 1));
    assert.equal(await metricValue(b.registry, 'actor_commands_forwarded_total'), 10);
    assert.equal(await metricValue(a.registry, 'actor_commands_forwarded_total'), 0);
    assert.equal(b.actors.size, 0, 'no actor on the node that forwards');
    assert.equal(await metricValue(a.registry, 'actor_conflicts_total'), 0);

    const received = (await events(conversationId))
      .filter((event) => event.type === 'MessageReceived')
      .map((event) => (event.data as { waMessageId: string }).waMessageId);
    assert.equal(received.length, 21);
    // b's commands reach a in the order b sent them.
    const fromB = received.filter((id) => Number(id.split('-')[1]) % 2 === 1);
    assert.deepEqual(
      fromB,
      Array.from({ length: 10 }, (_, n) => `wamid.cluster-${2 * n + 1}`),
    );
    // A forwarded answer is the owner's TurnResult, bigints included.
    const again = await b.router.send(conversationId, resolve, context);
    assert.equal(again.events, 1);
    assert.equal(again.revision, BigInt((await events(conversationId)).length - 1));
  });

  it('answers a forwarded refusal with the same AppError: code, message, field errors and headers', async () => {
    const a = await node({ mailboxLimit: 1 });
    const b = await node();
    const missing = randomUUID();
    await assert.rejects(a.router.send(missing, resolve, context), AppError);
    const refusal = (turn: Promise<unknown>) =>
      turn.then(
        () => assert.fail('expected a refusal'),
        (error: unknown) => error,
      );
    const local = await refusal(a.router.send(missing, resolve, context));
    const forwarded = await refusal(b.router.send(missing, resolve, context));
    assert.ok(local instanceof AppError);
    assert.ok(forwarded instanceof AppError);
    assert.equal(forwarded.code, local.code);
    assert.equal(forwarded.status, local.status);
    assert.equal(forwarded.message, local.message);
    assert.equal(await metricValue(b.registry, 'actor_commands_forwarded_total'), 1);

    // A full mailbox on the owner: a retryable 503 with its Retry-After, as if it were local.
    const busy = randomUUID();
    await a.router.send(busy, webhook(busy, text(100)), context);
    const outcomes = await Promise.allSettled(
      Array.from({ length: 10 }, (_, n) => b.router.send(busy, webhook(busy, text(101 + n)), context)),
    );
    const refused = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason] : []));
    assert.ok(refused.length > 0);
    for (const error of refused) {
      assert.ok(error instanceof AppError);
      assert.equal(error.code, 'actor.mailbox_full');
      assert.equal(error.status, 503);
      assert.deepEqual(error.headers, { 'retry-after': '1' });
    }
  });

  it('takes over at once from an owner whose Redis connections are gone', async () => {
    const a = await node();
    const b = await node();
    const conversationId = randomUUID();
    await a.router.send(conversationId, webhook(conversationId, text(200)), context);
    assert.equal(await leaseOf(conversationId), a.id);
    // a dies without a word: its connections drop, its lease stays.
    a.subscriber.disconnect();
    a.redis.disconnect();

    const started = Date.now();
    const result = await b.router.send(conversationId, webhook(conversationId, text(201)), context);
    assert.ok(Date.now() - started < 2000, 'well before the lease would expire');
    assert.equal(result.events, 1);
    assert.equal(await leaseOf(conversationId), b.id);
    assert.equal(await metricValue(b.registry, 'actor_lease_takeovers_total', { reason: 'no_receiver' }), 1);
    assert.equal(b.actors.size, 1);
    // The next command runs on b without asking Redis.
    await b.router.send(conversationId, webhook(conversationId, text(202)), context);
    assert.equal(await metricValue(b.registry, 'actor_commands_forwarded_total'), 1);
  });

  it('takes over from an owner that does not acknowledge within the timeout (hung)', async () => {
    const b = await node({ ackTimeoutMs: 300 });
    const conversationId = randomUUID();
    // A hung node: subscribed (so PUBLISH reaches it) but never answering.
    const hung = await testConnection(`${prefix}hung`);
    const heard: string[] = [];
    hung.on('message', (_channel: string, message: string) => heard.push(message));
    await hung.subscribe(`${prefix}node:hung-node:commands`);
    await admin.set(`${prefix}lease:conversation:${conversationId}`, 'hung-node', 'PX', 60_000);
    try {
      const started = Date.now();
      const result = await b.router.send(conversationId, webhook(conversationId, text(300)), context);
      assert.ok(Date.now() - started >= 300);
      assert.equal(result.events, 2);
      assert.equal(heard.length, 1);
      assert.equal(await leaseOf(conversationId), b.id);
      assert.equal(await metricValue(b.registry, 'actor_lease_takeovers_total', { reason: 'no_answer' }), 1);
    } finally {
      hung.disconnect();
    }
  });

  /** A stand-in owner that acknowledges every command it gets and never answers. */
  const acknowledgingOwner = async (nodeId: string) => {
    const owner = await testConnection(`${prefix}${nodeId}`);
    const publisher = await testConnection(`${prefix}${nodeId}-pub`);
    owner.on('message', (_channel: string, message: string) => {
      const { id, from } = JSON.parse(message) as { id: string; from: string };
      void publisher.publish(`${prefix}node:${from}:replies`, JSON.stringify({ id, type: 'accepted' }));
    });
    await owner.subscribe(`${prefix}node:${nodeId}:commands`);
    return {
      die: () => owner.disconnect(),
      close() {
        owner.disconnect();
        publisher.disconnect();
      },
    };
  };

  it('takes over from an owner that accepted a command and then died', async () => {
    const b = await node();
    const conversationId = randomUUID();
    const owner = await acknowledgingOwner('dying-node');
    await admin.set(`${prefix}lease:conversation:${conversationId}`, 'dying-node', 'PX', 60_000);
    try {
      const sent = b.router.send(conversationId, webhook(conversationId, text(350)), context);
      await eventually(async () => (await metricValue(b.registry, 'actor_commands_forwarded_total')) === 1);
      owner.die();
      const result = await sent;
      assert.equal(result.events, 2);
      assert.equal(await leaseOf(conversationId), b.id);
      assert.equal(await metricValue(b.registry, 'actor_lease_takeovers_total', { reason: 'gone' }), 1);
    } finally {
      owner.close();
    }
  });

  it('answers a retryable 503 when an owner that accepted a command never answers', async () => {
    const b = await node({ resultTimeoutMs: 300 });
    const conversationId = randomUUID();
    const owner = await acknowledgingOwner('silent-node');
    await admin.set(`${prefix}lease:conversation:${conversationId}`, 'silent-node', 'PX', 60_000);
    try {
      const error = await b.router
        .send(conversationId, webhook(conversationId, text(360)), context)
        .catch((caught: unknown) => caught);
      assert.ok(error instanceof AppError);
      assert.equal(error.code, 'service.unavailable');
      assert.deepEqual(error.headers, { 'retry-after': '1' });
      assert.equal(await leaseOf(conversationId), 'silent-node', 'a living owner keeps its lease');
      assert.equal(b.actors.size, 0);
    } finally {
      owner.close();
    }
  });

  it('drops a forwarded command that arrives after its sender gave up on it', async () => {
    const a = await node();
    const conversationId = randomUUID();
    await a.router.send(conversationId, webhook(conversationId, text(400)), context);
    const listener = await testConnection(`${prefix}listener`);
    const replies: { id: string; type: string }[] = [];
    listener.on('message', (_channel: string, message: string) => replies.push(JSON.parse(message)));
    await listener.subscribe(`${prefix}node:late-node:replies`);
    const request = (id: string, n: number, expiresAt: number) =>
      JSON.stringify({
        id,
        from: 'late-node',
        key: conversationId,
        command: webhook(conversationId, text(n)),
        context,
        expiresAt,
      });
    try {
      await admin.publish(`${prefix}node:${a.id}:commands`, request('late', 401, Date.now() - 1));
      await admin.publish(`${prefix}node:${a.id}:commands`, request('on-time', 402, Date.now() + 5000));
      await eventually(() => replies.some((reply) => reply.id === 'on-time' && reply.type === 'result'));
      assert.deepEqual(
        replies.map((reply) => `${reply.id} ${reply.type}`),
        ['on-time accepted', 'on-time result'],
      );
      const received = (await events(conversationId)).filter((event) => event.type === 'MessageReceived');
      assert.deepEqual(
        received.map((event) => (event.data as { waMessageId: string }).waMessageId),
        ['wamid.cluster-400', 'wamid.cluster-402'],
      );
    } finally {
      listener.disconnect();
    }
  });

  it('renews its leases, drops one found with another node, and releases on passivation and shutdown', async () => {
    const a = await node({ leaseMs: 600, idleMs: 60_000 });
    const kept = randomUUID();
    const stolen = randomUUID();
    await a.router.send(kept, webhook(kept, text(500)), context);
    await a.router.send(stolen, webhook(stolen, text(501)), context);
    assert.equal(await metricValue(a.registry, 'actor_leases_held'), 2);

    // Three lease times later, renewals have kept both.
    const until = Date.now() + 1800;
    await eventually(() => Date.now() > until, 3000);
    assert.equal(await leaseOf(kept), a.id);
    assert.ok(a.router.leases.holds(kept));
    assert.ok((await admin.pttl(`${prefix}lease:conversation:${kept}`)) > 0);

    // Another node took one over meanwhile: the next renewal drops it here.
    await admin.set(`${prefix}lease:conversation:${stolen}`, 'other-node', 'PX', 60_000);
    await eventually(() => !a.router.leases.holds(stolen), 2000);
    assert.equal(await leaseOf(stolen), 'other-node');
    assert.equal(await metricValue(a.registry, 'actor_leases_held'), 1);

    await a.router.close();
    assert.equal(await leaseOf(kept), null, 'released on shutdown');
    assert.equal(await leaseOf(stolen), 'other-node', "another node's lease left alone");
    await admin.del(`${prefix}lease:conversation:${stolen}`);

    const b = await node({ idleMs: 100 });
    const idle = randomUUID();
    await b.router.send(idle, webhook(idle, text(502)), context);
    assert.equal(await leaseOf(idle), b.id);
    await eventually(async () => (await leaseOf(idle)) === null, 3000);
    assert.equal(b.actors.size, 0);
    assert.equal(b.router.leases.holds(idle), false);
  });

  it('runs commands locally when Redis cannot be asked', async () => {
    const a = await node();
    const conversationId = randomUUID();
    a.redis.disconnect();
    const result = await a.router.send(conversationId, webhook(conversationId, text(600)), context);
    assert.equal(result.events, 2);
    assert.equal(await metricValue(a.registry, 'actor_commands_local_fallback_total'), 1);
  });
});
