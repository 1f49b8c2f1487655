import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { conversationIdFor } from '../../src/conversation/conversationActor.ts';
import { requester } from '../support/app.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { bodyOf, type FakeGraphApi, startFakeGraphApi } from '../support/fakeGraphApi.ts';
import { textMessage, webhookBody } from '../support/metaWebhook.ts';
import { deleteKeys, redisUnavailable, redisUrl, testConnection, testPrefix } from '../support/redis.ts';
import { type Server, startServer, stop } from '../support/serverProcess.ts';
import { orgWithChannel, postWebhook, typesOf, waitForEvents } from '../support/whatsapp.ts';

const skip = await redisUnavailable();
const secret = 'chatbot-two-nodes-secret';

/**
 * Two server processes on one Postgres and one Redis: customers greet one node and answer the other,
 * and the flow's API call is made by whichever node holds the workers' lock. Each conversation's bot
 * runs once, on the node holding the conversation, and says each thing once.
 */
describe('chatbots on two nodes sharing Redis', { skip, timeout: 180_000 }, () => {
  const prefix = testPrefix('chatbot-two-nodes');
  let db: TestDatabase;
  let admin: Redis;
  let graph: FakeGraphApi;
  const crm = createServer((req, res) => {
    const name = new URL(req.url ?? '/', 'http://crm').searchParams.get('name') ?? '';
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ greeting: `Olá ${name}` }));
  });
  const servers: Server[] = [];

  before(async () => {
    db = await createTestDatabase('chatbot_two_nodes');
    admin = await testConnection();
    graph = await startFakeGraphApi();
    await new Promise<void>((resolve) => crm.listen(0, '127.0.0.1', resolve));
    const env = {
      DATABASE_URL: db.url,
      DATA_DIR: mkdtempSync(join(tmpdir(), 'pytake-chatbot-cluster-')),
      META_APP_SECRET: secret,
      META_GRAPH_URL: graph.url,
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: prefix,
      FLOW_API_ALLOWED_HOSTS: `127.0.0.1:${(crm.address() as AddressInfo).port}`,
    };
    servers.push(await startServer(env), await startServer(env));
  });
  after(async () => {
    await Promise.all(servers.map((server) => (server.child.exitCode === null ? stop(server) : undefined)));
    crm.closeAllConnections();
    await new Promise((resolve) => crm.close(resolve));
    await graph?.close();
    await deleteKeys(admin, prefix);
    admin.disconnect();
    await db?.drop();
  });

  it('runs each conversation once, whichever node its messages reach', async () => {
    const [a, b] = servers.map((server) => ({ request: requester(`http://127.0.0.1:${server.port}`) }));
    assert.ok(a && b);
    const org = await orgWithChannel(a, 'cluster-bot');
    const api = async (method: string, path: string, body?: unknown) => {
      const answer = await a.request(method, `/api/v1${path}`, { token: org.accessToken, body });
      assert.ok(answer.status < 300, JSON.stringify(answer.body));
      return answer.body;
    };
    const { id: flowId } = await api('POST', '/flows', {
      name: 'Greeter',
      definition: {
        start: 'ask',
        nodes: [
          {
            id: 'ask',
            type: 'question',
            text: 'Your name?',
            variable: 'name',
            input: { kind: 'text' },
            next: 'greet',
          },
          {
            id: 'greet',
            type: 'api_call',
            request: {
              method: 'GET',
              url: `http://127.0.0.1:${(crm.address() as AddressInfo).port}/greet?name={{name}}`,
            },
            map: { greeting: '/greeting' },
            next: 'say',
            onError: 'say',
          },
          { id: 'say', type: 'text', text: '{{greeting}}!' },
        ],
      },
    });
    await api('POST', `/flows/${flowId}/publish`);
    await api('POST', '/chatbots', {
      name: 'Greeter',
      channelId: org.channelId,
      flowId,
      triggers: [{ type: 'default' }],
    });

    const customers = Array.from({ length: 20 }, (_, i) => `1555090${String(i).padStart(4, '0')}`);
    const send = async (node: typeof a, waId: string, id: string, text: string, at: number) => {
      const body = webhookBody({
        phoneNumberId: org.phoneNumberId,
        messages: [textMessage(waId, id, text, at)],
      });
      assert.equal((await postWebhook(node, body, secret)).status, 200);
    };
    await Promise.all(
      customers.map((waId, i) => send(i % 2 === 0 ? a : b, waId, `wamid.hi-${waId}`, 'hi', 1_800_000_000)),
    );
    await graph.waitForRequests(customers.length);
    await Promise.all(
      customers.map((waId, i) =>
        send(i % 2 === 0 ? b : a, waId, `wamid.name-${waId}`, `N${i}`, 1_800_000_010),
      ),
    );
    for (const [i, waId] of customers.entries()) {
      const stream = `conversation-${conversationIdFor(org.organizationId, org.channelId, waId)}`;
      const events = await waitForEvents(db.url, stream, (all) => typesOf(all).includes('FlowEnded'));
      const types = typesOf(events);
      assert.equal(types.filter((type) => type === 'FlowRunStarted').length, 1, waId);
      assert.equal(types.filter((type) => type === 'MessageReceived').length, 2, waId);
      assert.deepEqual(
        events.filter((event) => event.type === 'FlowAdvanced').map((event) => event.data.turn),
        [1, 2, 3],
        waId,
      );
      assert.equal(events.find((event) => event.type === 'FlowEnded')?.data.reason, 'completed', waId);
      const said = () =>
        graph.requests
          .map(bodyOf)
          .filter((body) => body.to === waId)
          .map((body) => (body.text as { body: string }).body);
      for (const deadline = Date.now() + 15_000; said().length < 2; ) {
        assert.ok(Date.now() < deadline, `${waId}: ${JSON.stringify(said())}`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      assert.deepEqual(said(), ['Your name?', `Olá N${i}!`]);
    }
  });
});
