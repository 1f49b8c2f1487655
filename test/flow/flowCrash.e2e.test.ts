import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { conversationIdFor } from '../../src/conversation/conversationActor.ts';
import { requester } from '../support/app.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { bodyOf, type FakeGraphApi, startFakeGraphApi } from '../support/fakeGraphApi.ts';
import { textMessage, webhookBody } from '../support/metaWebhook.ts';
import { type Server, startServer } from '../support/serverProcess.ts';
import { orgWithChannel, postWebhook, typesOf, waitForEvents } from '../support/whatsapp.ts';

const secret = 'flow-crash-secret';

/**
 * The process dies (SIGKILL) while a flow's API call is in flight: nothing of its outcome is
 * recorded. After the restart the flow worker makes the call again (at least once) and the run goes
 * on exactly once: one turn, one bot message.
 */
describe('a server killed while a flow waits for its API call', { timeout: 120_000 }, () => {
  let db: TestDatabase;
  let graph: FakeGraphApi;
  const calls: string[] = [];
  const held: ServerResponse[] = [];
  const crm = createServer((req, res) => {
    calls.push(req.url ?? '');
    // The first call never gets an answer before the crash; the ones after it do.
    if (calls.length === 1) held.push(res);
    else res.writeHead(200, { 'content-type': 'application/json' }).end('{"score": 42}');
  });
  const dataDir = mkdtempSync(join(tmpdir(), 'pytake-flow-crash-'));
  const env = () => ({
    DATABASE_URL: db.url,
    DATA_DIR: dataDir,
    META_APP_SECRET: secret,
    META_GRAPH_URL: graph.url,
    FLOW_API_ALLOWED_HOSTS: `127.0.0.1:${(crm.address() as AddressInfo).port}`,
  });
  before(async () => {
    db = await createTestDatabase('flow_crash');
    graph = await startFakeGraphApi();
    await new Promise<void>((resolve) => crm.listen(0, '127.0.0.1', resolve));
  });
  after(async () => {
    crm.closeAllConnections();
    await new Promise((resolve) => crm.close(resolve));
    await graph?.close();
    await db?.drop();
  });

  it('calls again after the restart and records the outcome once', async () => {
    let server: Server = await startServer(env());
    const http = () => ({ request: requester(`http://127.0.0.1:${server.port}`) });
    const org = await orgWithChannel(http(), 'flowcrash');
    const api = async (method: string, path: string, body?: unknown) => {
      const answer = await http().request(method, `/api/v1${path}`, { token: org.accessToken, body });
      assert.ok(answer.status < 300, JSON.stringify(answer.body));
      return answer.body;
    };
    const { id: flowId } = await api('POST', '/flows', {
      name: 'Score',
      definition: {
        start: 'score',
        nodes: [
          {
            id: 'score',
            type: 'api_call',
            request: { method: 'GET', url: `http://127.0.0.1:${(crm.address() as AddressInfo).port}/score` },
            map: { score: '/score' },
            next: 'tell',
            onError: 'sorry',
          },
          { id: 'tell', type: 'text', text: 'Your score is {{score}}.' },
          { id: 'sorry', type: 'text', text: 'Sorry: {{api.error}}' },
        ],
      },
    });
    await api('POST', `/flows/${flowId}/publish`);
    await api('POST', '/chatbots', {
      name: 'Scorer',
      channelId: org.channelId,
      flowId,
      triggers: [{ type: 'default' }],
    });

    const waId = '15550700001';
    const stream = `conversation-${conversationIdFor(org.organizationId, org.channelId, waId)}`;
    const hello = webhookBody({
      phoneNumberId: org.phoneNumberId,
      messages: [textMessage(waId, 'wamid.crash-hi', 'hi')],
    });
    assert.equal((await postWebhook(http(), hello, secret)).status, 200);
    for (const deadline = Date.now() + 15_000; calls.length === 0; ) {
      assert.ok(Date.now() < deadline, 'the flow worker never called');
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    // The conversation is not blocked by the call in flight: the customer's next message is taken.
    const more = webhookBody({
      phoneNumberId: org.phoneNumberId,
      messages: [textMessage(waId, 'wamid.crash-more', 'still there?')],
    });
    assert.equal((await postWebhook(http(), more, secret)).status, 200);
    server.child.kill('SIGKILL');
    await server.exited;
    for (const response of held) response.destroy();

    server = await startServer(env());
    try {
      const events = await waitForEvents(db.url, stream, (all) => typesOf(all).includes('FlowEnded'));
      assert.equal(calls.length, 2, 'called again after the restart, once');
      const advanced = events.filter((event) => event.type === 'FlowAdvanced');
      assert.deepEqual(
        advanced.map((event) => event.data.turn),
        [1, 2],
      );
      assert.deepEqual(advanced[1]?.data.set, { 'api.status': 200, 'api.error': null, score: 42 });
      assert.equal(events.find((event) => event.type === 'FlowEnded')?.data.reason, 'completed');
      await graph.waitForRequests(1);
      assert.deepEqual(
        graph.requests.map(bodyOf).map((body) => (body.text as { body: string }).body),
        ['Your score is 42.'],
      );
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });
});
