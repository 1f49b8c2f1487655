import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import WebSocket from 'ws';
import { conversationIdFor } from '../../src/conversation/conversationActor.ts';
import { requester } from '../support/app.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { textMessage, webhookBody } from '../support/metaWebhook.ts';
import {
  deleteKeys,
  eventually,
  redisUnavailable,
  redisUrl,
  testConnection,
  testPrefix,
} from '../support/redis.ts';
import { type Server, startServer, stop } from '../support/serverProcess.ts';
import { conversationEvents, orgWithChannel, postWebhook, type TestChannel } from '../support/whatsapp.ts';

const skip = await redisUnavailable();
const secret = 'cluster-two-nodes-secret';

type Frame = { op: string; topic?: string; position?: string; event?: { type: string; data: unknown } };

/** An agent console on `port`: every frame it received, and a way to wait for one. */
async function consoleOn(port: number, accessToken: string) {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/ws`, ['pytake.v1', `bearer.${accessToken}`]);
  const frames: Frame[] = [];
  socket.on('message', (data) => frames.push(JSON.parse(String(data)) as Frame));
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  return {
    frames,
    send: (frame: Record<string, unknown>) => socket.send(JSON.stringify(frame)),
    async waitFor(match: (frame: Frame) => boolean, timeoutMs = 10_000): Promise<Frame> {
      let found: Frame | undefined;
      await eventually(() => {
        found = frames.find(match);
        return found !== undefined;
      }, timeoutMs).catch(() => {
        throw new Error(`no such frame; received: ${JSON.stringify(frames)}`);
      });
      return found as Frame;
    },
    close: () => socket.close(),
  };
}

const message = (channel: TestChannel, waId: string, waMessageId: string, n: number) =>
  webhookBody({
    phoneNumberId: channel.phoneNumberId,
    messages: [textMessage(waId, waMessageId, `message ${n}`, 1_800_000_000 + n)],
  });

/** Two server processes on one Postgres and one Redis, as a deployment behind a load balancer. */
describe('two nodes sharing Redis', { skip, timeout: 180_000 }, () => {
  const prefix = testPrefix('two-nodes');
  let db: TestDatabase;
  let admin: Redis;
  let env: Record<string, string>;
  const servers: Server[] = [];
  const start = async () => {
    const server = await startServer(env);
    servers.push(server);
    return { server, request: requester(`http://127.0.0.1:${server.port}`) };
  };

  before(async () => {
    db = await createTestDatabase('cluster_two_nodes');
    admin = await testConnection();
    env = {
      DATABASE_URL: db.url,
      // One DATA_DIR: both nodes use the same generated keys, as a deployment shares its secrets.
      DATA_DIR: mkdtempSync(join(tmpdir(), 'pytake-cluster-')),
      META_APP_SECRET: secret,
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: prefix,
    };
  });
  after(async () => {
    await Promise.all(servers.map((server) => (server.child.exitCode === null ? stop(server) : undefined)));
    await deleteKeys(admin, prefix);
    admin.disconnect();
    await db?.drop();
  });

  it('shows a webhook delivered to one node on an agent console connected to the other', async () => {
    const [a, b] = [await start(), await start()];
    const channel = await orgWithChannel(a, 'cluster-ws');
    const agent = await consoleOn(b.server.port, channel.accessToken);
    try {
      agent.send({ op: 'subscribe', topic: 'inbox' });
      await agent.waitFor((frame) => frame.op === 'subscribed' && frame.topic === 'inbox');

      const waId = '15550900001';
      const conversationId = conversationIdFor(channel.organizationId, channel.channelId, waId);
      assert.equal((await postWebhook(a, message(channel, waId, 'wamid.ws-1', 1), secret)).status, 200);
      // The inbox hears of it with the conversation's inbox item.
      await agent.waitFor(
        (frame) =>
          frame.op === 'delta' &&
          frame.topic === 'inbox' &&
          frame.event?.type === 'MessageReceived' &&
          (frame.event.data as { id?: string }).id === conversationId,
      );

      const topic = `conversation:${conversationId}`;
      agent.send({ op: 'subscribe', topic });
      await agent.waitFor((frame) => frame.op === 'subscribed' && frame.topic === topic);
      assert.equal((await postWebhook(a, message(channel, waId, 'wamid.ws-2', 2), secret)).status, 200);
      const delta = await agent.waitFor(
        (frame) =>
          frame.op === 'delta' &&
          frame.topic === topic &&
          frame.event?.type === 'MessageReceived' &&
          JSON.stringify(frame.event.data).includes('wamid.ws-2'),
      );
      assert.match(delta.position ?? '', /^\d+$/);

      // An agent acting on b: the command runs on a, which owns the conversation, and b answers as usual.
      const resolved = await b.request('POST', `/api/v1/conversations/${conversationId}/resolve`, {
        token: channel.accessToken,
        body: {},
      });
      assert.equal(resolved.status, 200, JSON.stringify(resolved.body));
      assert.match(resolved.body.position, /^\d+$/);
      const metrics = (await b.request('GET', '/metrics')).body as string;
      assert.match(metrics, /^actor_commands_forwarded_total 1$/m);
      await agent.waitFor(
        (frame) =>
          frame.op === 'delta' && frame.topic === topic && frame.event?.type === 'ConversationResolved',
      );
    } finally {
      agent.close();
      await Promise.all(servers.splice(0).map((server) => stop(server)));
    }
  });

  it('loses nothing when a node is killed with webhooks in flight, and the other takes its conversations over', async () => {
    const [a, b] = [await start(), await start()];
    const channel = await orgWithChannel(b, 'cluster-kill');
    const customers = Array.from({ length: 8 }, (_, n) => `1555091${String(n).padStart(4, '0')}`);
    // a owns these conversations: their first messages ran there.
    for (const [n, waId] of customers.entries()) {
      assert.equal(
        (await postWebhook(a, message(channel, waId, `wamid.kill-first-${n}`, n), secret)).status,
        200,
      );
    }
    const leases = await Promise.all(
      customers.map((waId) =>
        admin.get(
          `${prefix}lease:conversation:${conversationIdFor(channel.organizationId, channel.channelId, waId)}`,
        ),
      ),
    );
    const aNode = leases[0];
    assert.ok(aNode && leases.every((owner) => owner === aNode), 'a holds every lease');

    // Meta delivers 240 messages to a; a is killed while they are being answered.
    const bodies = Array.from({ length: 240 }, (_, n) => {
      const waId = customers[n % customers.length] as string;
      return { waMessageId: `wamid.kill-${n}`, body: message(channel, waId, `wamid.kill-${n}`, 100 + n) };
    });
    let answered = 0;
    const deliveries = bodies.map(({ body }) =>
      postWebhook(a, body, secret).then(
        (answer) => {
          // Killed from here, not from a poll: by the next poll every webhook may have been answered.
          if (answer.status === 200 && ++answered === 20) a.server.child.kill('SIGKILL');
          return answer.status;
        },
        () => 0,
      ),
    );
    const statuses = await Promise.all(deliveries);
    await a.server.exited;
    const unacknowledged = bodies.filter((_, n) => statuses[n] !== 200);
    assert.ok(unacknowledged.length > 0, 'some webhooks were still in flight when a died');

    // Meta redelivers what was not acknowledged; the load balancer now sends it to b.
    const redelivered = await Promise.all(unacknowledged.map(({ body }) => postWebhook(b, body, secret)));
    assert.ok(redelivered.every((answer) => answer.status === 200));
    // And the customers write again: every conversation of a's now runs on b.
    for (const [n, waId] of customers.entries()) {
      assert.equal(
        (await postWebhook(b, message(channel, waId, `wamid.kill-last-${n}`, 1000 + n), secret)).status,
        200,
      );
    }

    const streams = new Set(
      customers.map(
        (waId) => `conversation-${conversationIdFor(channel.organizationId, channel.channelId, waId)}`,
      ),
    );
    const received = (await conversationEvents(db.url))
      .filter((event) => streams.has(event.stream) && event.type === 'MessageReceived')
      .map((event) => event.data.waMessageId as string);
    const expected = [
      ...customers.map((_, n) => `wamid.kill-first-${n}`),
      ...bodies.map(({ waMessageId }) => waMessageId),
      ...customers.map((_, n) => `wamid.kill-last-${n}`),
    ];
    assert.equal(received.length, expected.length, 'every message exactly once');
    assert.deepEqual(new Set(received), new Set(expected));

    const metrics = (await b.request('GET', '/metrics')).body as string;
    const takeovers = [...metrics.matchAll(/^actor_lease_takeovers_total\{[^}]*\} (\d+)/gm)].reduce(
      (sum, match) => sum + Number(match[1]),
      0,
    );
    assert.equal(
      takeovers,
      customers.length,
      `takeovers in b's /metrics:\n${metrics.match(/^actor_lease.*$/gm)}`,
    );
    for (const waId of customers) {
      const key = `${prefix}lease:conversation:${conversationIdFor(channel.organizationId, channel.channelId, waId)}`;
      assert.notEqual(await admin.get(key), aNode);
    }

    // A graceful stop hands every lease back.
    assert.equal(await stop(b.server), 0);
    const [, left] = await admin.scan('0', 'MATCH', `${prefix}lease:*`, 'COUNT', 1000);
    assert.deepEqual(left, []);
  });
});
